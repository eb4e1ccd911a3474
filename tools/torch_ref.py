"""PyTorch reference of the SeRNet networks, loss and optimiser (METHOD.md sections 1-2).

Used by the parity test (tests/torch_parity.py) and the side-by-side benchmark
(tools/bench/torch_bench.py). Run with Debian's python3-torch 1.13 (/usr/bin/python3).

Canonical parameter order (shared with the C engine's flat parameter buffer): for each block B
in order (seg: E1 E2 E3 D2 D1; rec: E1..E5 D4 D3 D2 D1), for each unit u:
    B.u.conv.weight [Cout,Cin,3,3], B.u.conv.bias [Cout], B.u.bn.weight [Cout], B.u.bn.bias [Cout]
then out.weight, out.bias. Buffers: B.u.bn.running_mean, B.u.bn.running_var in the same
block/unit order (num_batches_tracked is not part of the state: momentum is fixed).
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-5
BN_MOMENTUM = 0.1
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2

NETS = ("seg", "rec")


def block_specs(net, width):
    """[(block name, cin, cout, resolution divisor)] in canonical order."""
    w = width
    if net == "seg":
        return [("E1", 3, w, 1), ("E2", w, 2 * w, 2), ("E3", 2 * w, 4 * w, 4),
                ("D2", 4 * w + 2 * w, 2 * w, 2), ("D1", 2 * w + w, w, 1)]
    if net == "rec":
        return [("E1", 3, w, 1), ("E2", w, 2 * w, 2), ("E3", 2 * w, 4 * w, 4),
                ("E4", 4 * w, 8 * w, 8), ("E5", 8 * w, 8 * w, 16),
                ("D4", 8 * w + 8 * w, 8 * w, 8), ("D3", 8 * w + 4 * w, 4 * w, 4),
                ("D2", 4 * w + 2 * w, 2 * w, 2), ("D1", 2 * w + w, w, 1)]
    raise ValueError("net must be 'seg' or 'rec', got %r" % (net,))


def out_channels(net):
    return 1 if net == "seg" else 3


def size_divisor(net):
    """The input size must be a multiple of this (number of pools is log2 of it)."""
    return 4 if net == "seg" else 16


def conv_list(net, width, units_per_block):
    """[(cin, cout, resolution divisor)] of every 3x3 convolution, in forward order."""
    convs = []
    for _name, cin, cout, div in block_specs(net, width):
        for u in range(units_per_block):
            convs.append((cin if u == 0 else cout, cout, div))
    convs.append((width, out_channels(net), 1))
    return convs


def param_spec(net, width, units_per_block):
    """[(name, shape)] of all parameters in canonical order."""
    spec = []
    for name, cin, cout, _div in block_specs(net, width):
        for u in range(units_per_block):
            ci = cin if u == 0 else cout
            p = "%s.%d." % (name, u)
            spec += [(p + "conv.weight", (cout, ci, 3, 3)), (p + "conv.bias", (cout,)),
                     (p + "bn.weight", (cout,)), (p + "bn.bias", (cout,))]
    co = out_channels(net)
    spec += [("out.weight", (co, width, 3, 3)), ("out.bias", (co,))]
    return spec


def buffer_spec(net, width, units_per_block):
    """[(name, shape)] of the BatchNorm running statistics in canonical order."""
    spec = []
    for name, _cin, cout, _div in block_specs(net, width):
        for u in range(units_per_block):
            p = "%s.%d.bn." % (name, u)
            spec += [(p + "running_mean", (cout,)), (p + "running_var", (cout,))]
    return spec


def conv_flops(net, width, units_per_block, size):
    """Analytic convolution FLOPs per image (multiply and add count as 2).

    forward: sum over convs of 2*Cout*Cin*9*H*W.
    train:   3x forward (forward, input gradient, weight gradient) minus the first
             convolution's input gradient, which is never needed.
    Other layers (BN, ReLU, pooling, up-sampling, loss) are not counted.
    """
    convs = conv_list(net, width, units_per_block)
    per = [2.0 * cout * cin * 9 * (size // div) ** 2 for cin, cout, div in convs]
    fwd = sum(per)
    return {"forward": fwd, "train": 3.0 * fwd - per[0]}


# Layer helpers at module level (the parity test swaps relu/maxpool for instrumented versions
# with the same values and gradients).
def upsample(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def concat(up, skip):
    return torch.cat([up, skip], dim=1)


def relu(x):
    return F.relu(x)


def maxpool(x):
    return F.max_pool2d(x, 2, 2)


class Unit(nn.Module):
    """3x3 conv (zero padding 1, bias) -> BatchNorm2d -> ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM, affine=True)

    def forward(self, x):
        return relu(self.bn(self.conv(x)))


def make_block(cin, cout, units_per_block):
    return nn.Sequential(*[Unit(cin if u == 0 else cout, cout) for u in range(units_per_block)])


class UNet(nn.Module):
    """The segmentation ('seg') or reconstruction ('rec') U-Net of METHOD.md section 1."""

    def __init__(self, net, width, units_per_block):
        super().__init__()
        if units_per_block < 1 or width < 1:
            raise ValueError("width and units_per_block must be >= 1")
        self.net, self.width, self.units = net, width, units_per_block
        specs = block_specs(net, width)
        # Registration order = canonical parameter order.
        for name, cin, cout, _div in specs:
            self.add_module(name, make_block(cin, cout, units_per_block))
        self.out = nn.Conv2d(width, out_channels(net), 3, padding=1, bias=True)
        self.encoders = [s[0] for s in specs if s[0][0] == "E"]
        self.decoders = [s[0] for s in specs if s[0][0] == "D"]

    def forward(self, x):
        div = size_divisor(self.net)
        if x.shape[-1] % div or x.shape[-2] % div:
            raise ValueError("%s net: image size %s not divisible by %d"
                             % (self.net, tuple(x.shape[-2:]), div))
        skips = []
        h = x
        for i, name in enumerate(self.encoders):
            if i > 0:
                h = maxpool(h)
            h = getattr(self, name)(h)
            skips.append(h)
        # Decoder D_k concatenates with encoder E_k (D4 with E4, ..., D1 with E1).
        for name in self.decoders:
            k = int(name[1:])
            h = getattr(self, name)(concat(upsample(h), skips[k - 1]))
        return torch.sigmoid(self.out(h))


def init_draem(model, generator):
    """DRAEM initialisation: conv weights N(0, 0.02^2), conv bias U(+-1/sqrt(fan_in)),
    BN gamma N(1, 0.02^2), beta 0; running mean 0, running var 1."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.normal_(0.0, 0.02, generator=generator)
                bound = 1.0 / math.sqrt(m.weight.shape[1] * 9)
                m.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.02, generator=generator)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.num_batches_tracked.zero_()
    return model


def build(net, width, units_per_block, seed=None):
    """The reference nn.Module; DRAEM-initialised from a torch.Generator when seed is given."""
    model = UNet(net, width, units_per_block)
    check_names(model)
    if seed is not None:
        init_draem(model, torch.Generator().manual_seed(int(seed)))
    return model


def check_names(model):
    """Assert the module's parameters/buffers are exactly the canonical list (names, shapes)."""
    got = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    want = param_spec(model.net, model.width, model.units)
    if got != want:
        raise AssertionError("parameter list differs from canonical order:\n%s\n%s" % (got, want))
    got = [(n, tuple(b.shape)) for n, b in model.named_buffers()
           if not n.endswith("num_batches_tracked")]
    want = buffer_spec(model.net, model.width, model.units)
    if got != want:
        raise AssertionError("buffer list differs from canonical order:\n%s\n%s" % (got, want))


def _params(model):
    return [p for _n, p in model.named_parameters()]


def _buffers(model):
    return [b for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")]


def _flat(tensors):
    return np.concatenate([t.detach().cpu().reshape(-1).to(torch.float32).numpy()
                           for t in tensors]).astype(np.float32)


def _set_flat(tensors, vec):
    vec = np.asarray(vec, dtype=np.float32).reshape(-1)
    total = sum(t.numel() for t in tensors)
    if vec.size != total:
        raise ValueError("flat vector has %d floats, the model needs %d" % (vec.size, total))
    off = 0
    with torch.no_grad():
        for t in tensors:
            n = t.numel()
            t.copy_(torch.from_numpy(vec[off:off + n].copy()).reshape(t.shape).to(t.dtype))
            off += n


def get_params(model):
    """All parameters as one flat float32 numpy vector, canonical order."""
    return _flat(_params(model))


def set_params(model, vec):
    _set_flat(_params(model), vec)


def get_grads(model):
    """All parameter gradients as one flat float32 vector (zeros where .grad is None)."""
    return _flat([p.grad if p.grad is not None else torch.zeros_like(p) for p in _params(model)])


def set_grads(model, vec):
    """Set every parameter's .grad from one flat float32 vector in canonical order."""
    params = _params(model)
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    _set_flat([p.grad for p in params], vec)


def get_buffers(model):
    """All BatchNorm running statistics as one flat float32 vector, canonical order."""
    return _flat(_buffers(model))


def set_buffers(model, vec):
    _set_flat(_buffers(model), vec)


def gaussian_window(dtype=torch.float32):
    """11x11 Gaussian (sigma 1.5) normalised to sum 1."""
    r = torch.arange(SSIM_WINDOW, dtype=torch.float64) - SSIM_WINDOW // 2
    g = torch.exp(-(r * r) / (2.0 * SSIM_SIGMA ** 2))
    w2 = torch.outer(g, g)
    return (w2 / w2.sum()).to(dtype)


def ssim(P, G):
    """Mean SSIM over batch, channels and pixels: per-channel Gaussian filtering with zero
    padding 5 (full-size map), sigma terms as E[xy] - E[x]E[y]."""
    C = P.shape[1]
    win = gaussian_window(P.dtype).to(P.device)
    win = win.expand(C, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()
    pad = SSIM_WINDOW // 2

    def filt(t):
        return F.conv2d(t, win, padding=pad, groups=C)

    mu_p, mu_g = filt(P), filt(G)
    s_pp = filt(P * P) - mu_p * mu_p
    s_gg = filt(G * G) - mu_g * mu_g
    s_pg = filt(P * G) - mu_p * mu_g
    num = (2 * mu_p * mu_g + SSIM_C1) * (2 * s_pg + SSIM_C2)
    den = (mu_p * mu_p + mu_g * mu_g + SSIM_C1) * (s_pp + s_gg + SSIM_C2)
    return (num / den).mean()


def loss(P, G):
    """L = MSE(P, G) + (1 - SSIM(P, G)). Returns (loss, mse, ssim) as 0-d tensors."""
    mse = F.mse_loss(P, G, reduction="mean")
    s = ssim(P, G)
    return mse + (1.0 - s), mse, s


def adam(model, lr):
    return torch.optim.Adam(model.parameters(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                            weight_decay=0.0)
