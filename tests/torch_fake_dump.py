#!/usr/bin/python3
"""Write a dump directory in the format of `sernet dump-engine`, computed by PyTorch itself.

Used to validate tests/torch_parity.py without the C engine:
  * --dtype float64 computes everything in double precision (starting from the same float32
    initial state) and stores float32: a correct implementation with different rounding, so the
    comparer must accept it and its errors show the float32 noise floor;
  * --mutate KIND injects one deliberate bug, which the comparer must reject.
Not a test by itself; tests/torch_parity.sh runs it for a self-check of the comparer.
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch_ref  # noqa: E402

MUTATIONS = {
    "none": "no bug",
    "grad1pct": "one gradient tensor (E2.0.conv.weight at step 1) scaled by 1.01",
    "concat": "skip concatenation in the order [skip, upsampled]",
    "upsample_nearest": "nearest-neighbour up-sampling instead of bilinear",
    "upsample_corners": "bilinear up-sampling with align_corners=True",
    "ssim_pad0": "SSIM map without zero padding (valid region only)",
    "ssim_sigma": "SSIM Gaussian sigma 1.0 instead of 1.5",
    "bn_unbiased": "BatchNorm normalises with the unbiased batch variance",
    "bn_runvar_biased": "BatchNorm running_var updated with the biased variance",
    "bn_eps": "BatchNorm eps 1e-3 instead of 1e-5",
    "adam_nobc": "Adam without bias correction",
    "eval_batchstats": "inference forward uses batch statistics",
    "out_bias_grad": "out.bias gradient at step 2 multiplied by 1.05",
}


class State:
    bn_mode = "ok"    # ok | unbiased | runvar_biased
    bn_eps = torch_ref.BN_EPS
    eval_batchstats = False


def bn_forward(self, x):
    """Plain BatchNorm2d with switchable bugs (replaces nn.BatchNorm2d.forward)."""
    eps = State.bn_eps
    if self.training or State.eval_batchstats:
        n = x.numel() // x.shape[1]
        mean = x.mean(dim=(0, 2, 3))
        var_b = ((x - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3))
        var_u = var_b * n / (n - 1)
        var_norm = var_u if State.bn_mode == "unbiased" else var_b
        if self.training:
            var_run = var_b if State.bn_mode == "runvar_biased" else var_u
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var_run.detach())
    else:
        mean, var_norm = self.running_mean, self.running_var
    xh = (x - mean[None, :, None, None]) / torch.sqrt(var_norm[None, :, None, None] + eps)
    return xh * self.weight[None, :, None, None] + self.bias[None, :, None, None]


def ssim_variant(P, G, pad, sigma):
    C = P.shape[1]
    r = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(r * r) / (2.0 * sigma ** 2))
    w2 = torch.outer(g, g)
    win = (w2 / w2.sum()).to(P.dtype).expand(C, 1, 11, 11).contiguous()

    def filt(t):
        return F.conv2d(t, win, padding=pad, groups=C)

    mu_p, mu_g = filt(P), filt(G)
    s_pp = filt(P * P) - mu_p * mu_p
    s_gg = filt(G * G) - mu_g * mu_g
    s_pg = filt(P * G) - mu_p * mu_g
    c1, c2 = torch_ref.SSIM_C1, torch_ref.SSIM_C2
    return (((2 * mu_p * mu_g + c1) * (2 * s_pg + c2))
            / ((mu_p ** 2 + mu_g ** 2 + c1) * (s_pp + s_gg + c2))).mean()


def apply_mutation(kind):
    if kind not in MUTATIONS:
        raise SystemExit("unknown mutation %r (choose from %s)" % (kind, ", ".join(MUTATIONS)))
    if kind == "concat":
        torch_ref.concat = lambda up, skip: torch.cat([skip, up], dim=1)
    elif kind == "upsample_nearest":
        torch_ref.upsample = lambda x: F.interpolate(x, scale_factor=2, mode="nearest")
    elif kind == "upsample_corners":
        torch_ref.upsample = lambda x: F.interpolate(x, scale_factor=2, mode="bilinear",
                                                     align_corners=True)
    elif kind == "ssim_pad0":
        torch_ref.ssim = lambda P, G: ssim_variant(P, G, 0, 1.5)
    elif kind == "ssim_sigma":
        torch_ref.ssim = lambda P, G: ssim_variant(P, G, 5, 1.0)
    elif kind == "bn_unbiased":
        State.bn_mode = "unbiased"
    elif kind == "bn_runvar_biased":
        State.bn_mode = "runvar_biased"
    elif kind == "bn_eps":
        State.bn_eps = 1e-3
    elif kind == "eval_batchstats":
        State.eval_batchstats = True
    # The plain BN also runs for kind "none", so the accepted dump is not torch's own kernel.
    nn.BatchNorm2d.forward = bn_forward


class PlainAdam:
    """Adam written out (optionally without bias correction)."""

    def __init__(self, params, lr, bias_correction=True):
        self.params = list(params)
        self.lr, self.bc = lr, bias_correction
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        b1, b2 = torch_ref.ADAM_BETAS
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(b1).add_((1 - b1) * p.grad)
            v.mul_(b2).add_((1 - b2) * p.grad * p.grad)
            if self.bc:
                mh, vh = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
            else:
                mh, vh = m, v
            p.sub_(self.lr * mh / (torch.sqrt(vh) + torch_ref.ADAM_EPS))


def write(path, arr):
    np.asarray(arr, dtype="<f4").tofile(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", choices=torch_ref.NETS, required=True)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--units", type=int, default=1)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ap.add_argument("--mutate", default="none", help=", ".join(MUTATIONS))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(2)
    apply_mutation(a.mutate)
    dt = torch.float64 if a.dtype == "float64" else torch.float32
    os.makedirs(a.out, exist_ok=True)
    d = a.out

    model = torch_ref.build(a.net, a.width, a.units, seed=a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1000)
    S, B, ct = a.size, a.batch, torch_ref.out_channels(a.net)
    x = torch.rand(B, 3, S, S, generator=gen)
    if a.net == "seg":
        target = (torch.rand(B, 1, S // 8, S // 8, generator=gen) > 0.6).float()
        target = F.interpolate(target, scale_factor=8, mode="nearest")
    else:
        target = torch.rand(B, ct, S, S, generator=gen)

    with open(os.path.join(d, "manifest.txt"), "w") as f:
        off = 0
        for name, shape in torch_ref.param_spec(a.net, a.width, a.units):
            f.write("param %s %d %s\n" % (name, off, " ".join(map(str, shape))))
            off += int(np.prod(shape))
        off = 0
        for name, shape in torch_ref.buffer_spec(a.net, a.width, a.units):
            f.write("buffer %s %d %s\n" % (name, off, " ".join(map(str, shape))))
            off += int(np.prod(shape))
    with open(os.path.join(d, "meta.txt"), "w") as f:
        for k, v in [("net", a.net), ("width", a.width), ("units", a.units), ("size", S),
                     ("batch", B), ("steps", a.steps), ("lr", repr(a.lr)),
                     ("beta1", torch_ref.ADAM_BETAS[0]), ("beta2", torch_ref.ADAM_BETAS[1]),
                     ("eps", torch_ref.ADAM_EPS), ("bn_eps", torch_ref.BN_EPS),
                     ("bn_momentum", torch_ref.BN_MOMENTUM)]:
            f.write("%s %s\n" % (k, v))
    write(os.path.join(d, "x.bin"), x.numpy())
    write(os.path.join(d, "target.bin"), target.numpy())
    write(os.path.join(d, "params0.bin"), torch_ref.get_params(model))
    write(os.path.join(d, "buffers0.bin"), torch_ref.get_buffers(model))

    model = model.to(dt)
    x, target = x.to(dt), target.to(dt)
    names = [n for n, _ in torch_ref.param_spec(a.net, a.width, a.units)]
    params = [p for _n, p in model.named_parameters()]
    opt = PlainAdam(params, a.lr, bias_correction=(a.mutate != "adam_nobc"))
    model.train()
    for k in range(1, a.steps + 1):
        opt.zero_grad()
        out = model(x)
        L, mse, s = torch_ref.loss(out, target)
        L.backward()
        if a.mutate == "grad1pct" and k == 1:
            params[names.index("E2.0.conv.weight")].grad.mul_(1.01)
        if a.mutate == "out_bias_grad" and k == 2:
            params[names.index("out.bias")].grad.mul_(1.05)
        write(os.path.join(d, "out_%d.bin" % k), out.detach().numpy())
        with open(os.path.join(d, "loss_%d.txt" % k), "w") as f:
            f.write("%.9g %.9g %.9g\n" % (L.item(), mse.item(), s.item()))
        write(os.path.join(d, "grads_%d.bin" % k), torch_ref.get_grads(model))
        opt.step()
    write(os.path.join(d, "params_final.bin"), torch_ref.get_params(model))
    write(os.path.join(d, "buffers_final.bin"), torch_ref.get_buffers(model))
    model.eval()
    with torch.no_grad():
        out = model(x)
        L, mse, s = torch_ref.loss(out, target)
    write(os.path.join(d, "eval_out.bin"), out.numpy())
    with open(os.path.join(d, "eval_loss.txt"), "w") as f:
        f.write("%.9g %.9g %.9g\n" % (L.item(), mse.item(), s.item()))


if __name__ == "__main__":
    main()
