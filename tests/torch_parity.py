#!/usr/bin/python3
"""Compare a `sernet dump-engine` directory with the PyTorch reference (tools/torch_ref.py).

  /usr/bin/python3 tests/torch_parity.py --dir DIR [--verbose]

Rebuilds the network from DIR/meta.txt, loads the initial parameters and BatchNorm statistics
by name through DIR/manifest.txt, repeats the dumped training steps (train-mode forward, loss,
backward, Adam) with torch and compares outputs, losses, every gradient tensor, the final
parameters and statistics, and the inference-mode output. Prints a table and exits 1 on any
mismatch (2 on a malformed dump).
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

# ---------------------------------------------------------------------------------------------
# Method. The engine and torch both compute in float32 but sum in different orders, so they
# differ by rounding noise. Adam turns that noise into real divergence: its first step moves
# every parameter by about lr * sign(gradient), so an element whose gradient is near zero (all
# the BN-fed conv biases, whose exact gradient is 0, and a few others) moves by +-lr in a
# direction chosen by rounding, and two independent trajectories drift apart (measured: output
# differences growing from 1e-7 to 1e-4 and gradient differences up to 10% by step 3).
# Therefore torch follows the ENGINE's trajectory: before each step it holds the parameters the
# engine had (torch's Adam applied to the engine's dumped gradients, starting from params0), and
# the forward output, loss and gradients of that step are compared at identical parameters.
# Adam itself is checked by params_final (same gradients in, so only rounding differs), the
# running statistics by buffers_final, and the inference forward on the engine's final state.
#
# Tolerances. Measured noise floor: 25 dumps computed by torch in float64 from the same float32
# initial state (tests/torch_fake_dump.py --dtype float64; seg width 8 units 1/2, rec width 8
# units 1 and width 4 units 2; 4-7 seeds each), compared with torch float32. Largest metric seen,
# in the units printed as rel_err below: outputs 1.6e-6, losses 6.7e-5 (float32 SSIM: the
# E[x^2] - E[x]^2 variance terms cancel), gradient tensors 1.5e-4, out.bias 2.3e-4, BN-fed
# conv-bias gradients 7.3e-6, final parameters 9.2e-5 (1 ulp of BN gammas ~1), running
# statistics 2e-6 (after kink_fit, below). Dumps of the C engine (main at 8070c9b: seg w8 u2,
# rec w8 u1, rec w4 u2) stay within the same figures. Every tolerance below sits 7-50x above
# that and below the effect of each bug injected through torch_fake_dump.py --mutate (all 12
# kinds are rejected for the rec net; the seg net at 64x64 cannot see the biased/unbiased
# running-variance swap, whose effect there is below float32 noise).
# ---------------------------------------------------------------------------------------------

# Network outputs (sigmoid, in (0,1)): elementwise |c - t| <= OUT_ATOL + OUT_RTOL * |t|.
# rel_err printed: max |c - t| / (OUT_ATOL/OUT_RTOL + |t|), ok when <= OUT_RTOL.
OUT_RTOL = 2e-5
OUT_ATOL = 2e-6

# Scalar losses (loss, mse, ssim): |c - t| <= LOSS_RTOL * max(|t|, 0.1). Forward bugs show in
# the outputs first; loss bugs (window, padding, constants) move the loss by > 1e-3.
LOSS_RTOL = 5e-4

# Gradients, per tensor: max |gc - gt| / max(max |gt|, GRAD_FLOOR * gmax) <= GRAD_TOL, where gmax
# is the largest |gradient| of the network: relative to each tensor's own scale because values
# span orders of magnitude between tensors, and to the maximum rather than elementwise because
# single elements near zero are pure rounding noise. A 1% error in one tensor gives 1e-2. The
# conv biases that feed a BatchNorm have an exact gradient of zero (BN removes any per-channel
# constant), so both sides hold rounding noise: for them only max |gc - gt| / gmax <=
# GRAD_ZERO_TOL.
GRAD_TOL = 2e-3
GRAD_FLOOR = 1e-2
GRAD_ZERO_TOL = 1e-4
# out.bias is a plain sum over all output pixels of dL/dz (z = pre-sigmoid) with heavy
# cancellation: its rounding noise scales with sum |dL/dz| (measured <= 2.3e-6 of it), not with
# its value, so its scale is at least OUT_BIAS_L1 * sum |dL/dz|.
OUT_BIAS_L1 = 1e-2

# Parameters after the Adam steps (same gradients on both sides): |pc - pt| <= PARAM_TOL * lr *
# steps + 1e-6 * |pt|. Bias correction, beta1/beta2 or eps errors change updates by >= 10% of lr.
PARAM_TOL = 1e-3

# Kinks. A ReLU input or a max-pool runner-up within rounding noise of the decision boundary
# can fall either way in the engine: the forward is continuous there, but the gradient then
# routes one pixel's contribution differently (measured: a single ReLU input of 8e-8 in D1 changed
# D1.0.conv.weight's gradient by 3e-3 of its maximum; against the C engine about one flip per
# two steps at width 8, changing every upstream tensor by 2-6e-3). The comparer flags every ReLU
# input with |x| < AMBIG_TAU and every max-pool window whose two largest inputs differ by less
# than AMBIG_TAU (activations after BN are O(1); measured float32 noise on them <= 1e-5). Only
# when a step's gradients mismatch while its forward output matches, kink_fit() finds which
# flagged elements the engine took the other way (one extra backward pass each, above AMBIG_MAX
# the rest as one group) and the gradients are compared, at the same tolerances, with the torch
# gradient that takes those elements the other way too.
AMBIG_TAU = 5e-5
AMBIG_MAX = 32

# BatchNorm running statistics: |c - t| <= BUF_ATOL + BUF_RTOL * |t| (batch statistics of
# identical activations agree to ~1e-6 relative).
BUF_RTOL = 1e-4
BUF_ATOL = 1e-6


# Constants of METHOD.md that the dump must declare; torch uses these, never the dumped values,
# so a wrong constant in the engine cannot make the test pass.
EXPECTED_META = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "bn_eps": 1e-5, "bn_momentum": 0.1}


class DumpError(Exception):
    pass


def read_meta(d):
    path = os.path.join(d, "meta.txt")
    meta = {}
    try:
        with open(path) as f:
            for ln, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise DumpError("%s:%d: expected 'key value', got %r" % (path, ln, line))
                meta[parts[0]] = parts[1]
    except OSError as e:
        raise DumpError("cannot read %s: %s" % (path, e))
    need = ["net", "width", "units", "size", "batch", "steps", "lr"] + list(EXPECTED_META)
    missing = [k for k in need if k not in meta]
    if missing:
        raise DumpError("%s lacks keys: %s" % (path, ", ".join(missing)))
    m = {"net": meta["net"]}
    try:
        for k in ("width", "units", "size", "batch", "steps"):
            m[k] = int(meta[k])
        for k in ["lr"] + list(EXPECTED_META):
            m[k] = float(meta[k])
    except ValueError as e:
        raise DumpError("%s: bad number: %s" % (path, e))
    if m["net"] not in ("seg", "rec"):
        raise DumpError("%s: net = %r, expected seg or rec" % (path, m["net"]))
    for k, v in EXPECTED_META.items():
        if not math.isclose(m[k], v, rel_tol=1e-6):
            raise DumpError("%s: %s = %r, METHOD.md fixes %r" % (path, k, m[k], v))
    if not (m["lr"] > 0 and m["steps"] >= 1):
        raise DumpError("%s: need lr > 0 and steps >= 1" % path)
    return m


def read_manifest(d, torch_ref, meta):
    """Check the manifest against the canonical lists; return (param offsets, buffer offsets)."""
    path = os.path.join(d, "manifest.txt")
    got = {"param": [], "buffer": []}
    try:
        with open(path) as f:
            for ln, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if parts[0] not in got or len(parts) < 4:
                    raise DumpError("%s:%d: expected 'param|buffer NAME OFFSET D0 ...', got %r"
                                    % (path, ln, line.rstrip()))
                try:
                    got[parts[0]].append((parts[1], int(parts[2]), tuple(map(int, parts[3:]))))
                except ValueError:
                    raise DumpError("%s:%d: bad integer in %r" % (path, ln, line.rstrip()))
    except OSError as e:
        raise DumpError("cannot read %s: %s" % (path, e))
    net, w, u = meta["net"], meta["width"], meta["units"]
    result = {}
    for kind, spec in (("param", torch_ref.param_spec(net, w, u)),
                       ("buffer", torch_ref.buffer_spec(net, w, u))):
        entries = got[kind]
        gn = {n: (o, s) for n, o, s in entries}
        for name, shape in spec:
            if name not in gn:
                raise DumpError("%s: torch %s %s %s missing from the dump"
                                % (path, kind, name, list(shape)))
            if gn[name][1] != tuple(shape):
                raise DumpError("%s: %s %s has shape %s in the dump, torch has %s"
                                % (path, kind, name, list(gn[name][1]), list(shape)))
        extra = [n for n, _o, _s in entries if n not in dict(spec)]
        if extra:
            raise DumpError("%s: %ss unknown to torch: %s" % (path, kind, ", ".join(extra)))
        if [n for n, _o, _s in entries] != [n for n, _s in spec]:
            raise DumpError("%s: %ss not in canonical order" % (path, kind))
        off = 0
        for name, o, s in entries:
            if o != off:
                raise DumpError("%s: %s %s at offset %d, expected %d (canonical, contiguous)"
                                % (path, kind, name, o, off))
            off += int(np.prod(s))
        result[kind] = (entries, off)
    return result


def load_bin(d, name, count, shape=None):
    path = os.path.join(d, name)
    try:
        a = np.fromfile(path, dtype="<f4")
    except OSError as e:
        raise DumpError("cannot read %s: %s" % (path, e))
    if a.size != count:
        raise DumpError("%s holds %d floats, expected %d" % (path, a.size, count))
    if not np.all(np.isfinite(a)):
        raise DumpError("%s holds non-finite values" % path)
    return a.reshape(shape) if shape is not None else a


def load_txt3(d, name):
    path = os.path.join(d, name)
    try:
        with open(path) as f:
            v = [float(t) for t in f.read().split()]
    except (OSError, ValueError) as e:
        raise DumpError("cannot read three numbers from %s: %s" % (path, e))
    if len(v) != 3:
        raise DumpError("%s holds %d numbers, expected 3 (loss mse ssim)" % (path, len(v)))
    return np.array(v, dtype=np.float64)


class Kinks:
    """Registry of the ambiguous ReLU / max-pool elements of the current forward pass."""
    layers = []      # per instrumented call in forward order: flat indices of flagged elements
    flip = {}        # layer id -> flat indices whose backward choice is inverted

    @classmethod
    def reset(cls):
        cls.layers, cls.flip = [], {}

    @classmethod
    def flagged(cls):
        return [(lid, int(i)) for lid, idx in enumerate(cls.layers) for i in idx]


def _kink_functions(torch):
    class ReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.lid = len(Kinks.layers)
            Kinks.layers.append(torch.nonzero(x.reshape(-1).abs() < AMBIG_TAU).reshape(-1))
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            mask = (x > 0).to(g.dtype).reshape(-1)
            idx = Kinks.flip.get(ctx.lid)
            if idx is not None:
                mask[idx] = 1 - mask[idx]
            return g * mask.reshape(g.shape)

    class MaxPool(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            B, C, H, W = x.shape
            win = x.reshape(B, C, H // 2, 2, W // 2, 2).permute(0, 1, 2, 4, 3, 5)
            vals, idx = win.reshape(B, C, H // 2, W // 2, 4).topk(2, dim=-1)
            gap = vals[..., 0] - vals[..., 1]
            ctx.lid = len(Kinks.layers)
            amb = (gap < AMBIG_TAU) & (vals[..., 0] > 0)
            Kinks.layers.append(torch.nonzero(amb.reshape(-1)).reshape(-1))
            ctx.save_for_backward(idx)
            ctx.shape = x.shape
            return vals[..., 0].contiguous()

        @staticmethod
        def backward(ctx, g):
            idx, = ctx.saved_tensors
            B, C, H, W = ctx.shape
            sel = idx[..., 0].clone().reshape(-1)
            f = Kinks.flip.get(ctx.lid)
            if f is not None:
                sel[f] = idx[..., 1].reshape(-1)[f]
            gw = torch.zeros(B, C, H // 2, W // 2, 4, dtype=g.dtype)
            gw.scatter_(-1, sel.reshape(B, C, H // 2, W // 2, 1), g.unsqueeze(-1))
            gw = gw.reshape(B, C, H // 2, W // 2, 2, 2).permute(0, 1, 2, 4, 3, 5)
            return gw.reshape(B, C, H, W)

    return ReLU.apply, MaxPool.apply


def kink_fit(torch_ref, model, L, g_nat, gc, entries):
    """Explain a gradient mismatch by flagged kink elements that the engine resolved the other
    way. One extra backward pass per flagged element gives its gradient change D_i; the subset S
    (D_i weighted by 1/scale of each tensor) that best fits gc - g_nat is found by least squares,
    rounding to {0,1} and greedy single toggles. Returns (the torch gradient with the elements
    of S flipped together, |S|, number flagged). The result is compared at the full tolerance,
    so a real error is not absorbed unless it equals a sum of single-pixel kink effects."""
    flagged = Kinks.flagged()
    groups = [[f] for f in flagged[:AMBIG_MAX - 1]]
    if len(flagged) >= AMBIG_MAX:
        groups.append(flagged[AMBIG_MAX - 1:])
    cols = []
    for grp in groups:
        Kinks.flip = {}
        for lid, i in grp:
            Kinks.flip.setdefault(lid, []).append(i)
        model.zero_grad()
        L.backward(retain_graph=True)
        cols.append(torch_ref.get_grads(model).astype(np.float64) - g_nat)
    Kinks.flip = {}
    D = np.stack(cols, axis=1)
    gmax = max(float(np.max(np.abs(g_nat))), 1e-30)
    w = np.concatenate([np.full(t.size, 1.0 / max(float(np.max(np.abs(t))), GRAD_FLOOR * gmax))
                        for _n, t in split(g_nat, entries)])
    Dw, rw = D * w[:, None], (gc.astype(np.float64) - g_nat) * w
    coef = np.linalg.lstsq(Dw, rw, rcond=None)[0]
    pick = np.clip(np.rint(coef), 0, 1)

    def cost(p):
        return float(np.sum((rw - Dw @ p) ** 2))

    best = cost(pick)
    for _sweep in range(3):
        improved = False
        for i in range(len(pick)):
            pick[i] = 1 - pick[i]
            c = cost(pick)
            if c < best:
                best, improved = c, True
            else:
                pick[i] = 1 - pick[i]
        if not improved:
            break
    if not pick.any():
        return g_nat, 0, len(flagged)
    # The torch gradient with all chosen elements flipped together (exact, including the
    # interaction of flips that lie on one back-propagation path).
    Kinks.flip = {}
    for grp, p in zip(groups, pick):
        if p:
            for lid, i in grp:
                Kinks.flip.setdefault(lid, []).append(i)
    model.zero_grad()
    L.backward(retain_graph=True)
    Kinks.flip = {}
    return (torch_ref.get_grads(model).astype(np.float64), int(sum(len(g) for g, p in
                                                                  zip(groups, pick) if p)),
            len(flagged))


class Table:
    def __init__(self, verbose):
        self.rows, self.failed, self.verbose = [], 0, verbose

    def add(self, item, max_abs, metric, tol, ok):
        if not ok:
            self.failed += 1
        self.rows.append((item, max_abs, metric, tol, ok))

    def print(self):
        print("%-44s %12s %12s %10s  %s" % ("item", "max_abs_err", "rel_err", "tolerance", "ok"))
        for item, ma, me, tol, ok in self.rows:
            print("%-44s %12.3e %12.3e %10.1e  %s" % (item, ma, me, tol, "ok" if ok else "FAIL"))


def cmp_out(tab, item, c, t):
    c, t = c.astype(np.float64), t.astype(np.float64)
    d = np.abs(c - t)
    metric = float(np.max(d / (OUT_ATOL / OUT_RTOL + np.abs(t))))
    tab.add(item, float(d.max()), metric, OUT_RTOL, metric <= OUT_RTOL)
    return metric <= OUT_RTOL


def cmp_loss(tab, item, c, t):
    d = np.abs(c - t)
    metric = float(np.max(d / np.maximum(np.abs(t), 0.1)))
    tab.add(item + " (loss mse ssim)", float(d.max()), metric, LOSS_RTOL, metric <= LOSS_RTOL)


def split(vec, entries):
    return [(n, vec[o:o + int(np.prod(s))]) for n, o, s in entries]


def is_bn_fed_bias(name):
    return name.endswith(".conv.bias")


def report_tensors(tab, prefix, rows):
    """rows: [(name, max_abs, metric, tol)]. Failing tensors (all of them with --verbose) get
    their own row; the passing ones are summarised by the worst (largest metric / tol)."""
    shown = 0
    for name, d, metric, tol in rows:
        ok = metric <= tol
        if tab.verbose or not ok:
            tab.add("%s %s" % (prefix, name), d, metric, tol, ok)
            shown += 1
    passing = [r for r in rows if r[2] <= r[3]]
    if passing and not tab.verbose:
        name, d, metric, tol = max(passing, key=lambda r: r[2] / r[3])
        tab.rows.append(("%s worst ok: %s" % (prefix, name), d, metric, tol, True))


def grad_rows(gc, gt, entries, out_l1):
    """out_l1[c]: sum of |dL/dz| over the output convolution's channel c (z = pre-sigmoid)."""
    gmax = max(float(np.max(np.abs(gt))), 1e-30)
    rows = []
    for (name, c), (_n, t) in zip(split(gc, entries), split(gt, entries)):
        diff = np.abs(c.astype(np.float64) - t)
        if is_bn_fed_bias(name):
            scale, tol = gmax, GRAD_ZERO_TOL
        else:
            scale, tol = max(float(np.max(np.abs(t))), GRAD_FLOOR * gmax), GRAD_TOL
        if name == "out.bias":
            scale = np.maximum(scale, OUT_BIAS_L1 * out_l1)
        rows.append((name, float(diff.max()), float(np.max(diff / scale)), tol))
    return rows


def cmp_params(tab, pc, pt, entries, lr, steps):
    rows = []
    for (name, c), (_n, t) in zip(split(pc, entries), split(pt, entries)):
        d = np.abs(c.astype(np.float64) - t)
        metric = float(np.max(d / (lr * steps + 1e-6 / PARAM_TOL * np.abs(t))))
        rows.append((name, float(d.max()), metric, PARAM_TOL))
    report_tensors(tab, "params_final", rows)


def cmp_buffers(tab, bc, bt, entries):
    rows = []
    for (name, c), (_n, t) in zip(split(bc, entries), split(bt, entries)):
        d = np.abs(c.astype(np.float64) - t)
        rows.append((name, float(d.max()), float(np.max(d / (BUF_ATOL / BUF_RTOL + np.abs(t)))),
                     BUF_RTOL))
    report_tensors(tab, "buffers_final", rows)


def run(d, verbose, threads, use_kinks=True):
    import torch
    torch.set_num_threads(threads)
    import torch_ref

    meta = read_meta(d)
    net, w, u, S, B, steps, lr = (meta[k] for k in
                                  ("net", "width", "units", "size", "batch", "steps", "lr"))
    if S % torch_ref.size_divisor(net):
        raise DumpError("size %d not divisible by %d for the %s net"
                        % (S, torch_ref.size_divisor(net), net))
    man = read_manifest(d, torch_ref, meta)
    pentries, np_ = man["param"]
    bentries, nb = man["buffer"]
    ct = torch_ref.out_channels(net)
    x = load_bin(d, "x.bin", B * 3 * S * S, (B, 3, S, S))
    target = load_bin(d, "target.bin", B * ct * S * S, (B, ct, S, S))
    params0 = load_bin(d, "params0.bin", np_)
    buffers0 = load_bin(d, "buffers0.bin", nb)

    torch_ref.relu, torch_ref.maxpool = _kink_functions(torch)
    model = torch_ref.build(net, w, u)
    torch_ref.set_params(model, params0)
    torch_ref.set_buffers(model, buffers0)
    opt = torch_ref.adam(model, lr)
    xt, tt = torch.from_numpy(x.copy()), torch.from_numpy(target.copy())
    tab = Table(verbose)
    print("dump %s: %s net, width %d, units %d, size %d, batch %d, %d steps, lr %g; "
          "%d parameters, %d buffer floats" % (d, net, w, u, S, B, steps, lr, np_, nb))

    model.train()
    for k in range(1, steps + 1):
        opt.zero_grad()
        Kinks.reset()
        out = model(xt)
        L, mse, s = torch_ref.loss(out, tt)
        out.retain_grad()
        L.backward(retain_graph=True)
        gt = torch_ref.get_grads(model)
        out_ok = cmp_out(tab, "out_%d" % k, load_bin(d, "out_%d.bin" % k, out.numel(),
                                                      tuple(out.shape)), out.detach().numpy())
        cmp_loss(tab, "loss_%d" % k, load_txt3(d, "loss_%d.txt" % k),
                 np.array([L.item(), mse.item(), s.item()]))
        gc = load_bin(d, "grads_%d.bin" % k, np_)
        dz = out.grad * out.detach() * (1 - out.detach())
        out_l1 = dz.abs().sum(dim=(0, 2, 3)).double().numpy()
        rows = grad_rows(gc, gt, pentries, out_l1)
        nk = len(Kinks.flagged())
        if out_ok and nk and use_kinks and any(r[2] > r[3] for r in rows):
            # Only now pay for the extra backward passes.
            gfit, nflip, nk = kink_fit(torch_ref, model, L, gt, gc, pentries)
            print("step %d: gradient mismatch; %d of the %d ReLU/max-pool elements within %g "
                  "of a kink taken the other way in the torch reference" % (k, nflip, nk,
                                                                             AMBIG_TAU))
            rows = grad_rows(gc, gfit, pentries, out_l1)
        report_tensors(tab, "grads_%d" % k, rows)
        # Follow the engine's trajectory: Adam step with the engine's gradients.
        torch_ref.set_grads(model, gc)
        opt.step()

    pc = load_bin(d, "params_final.bin", np_)
    bc = load_bin(d, "buffers_final.bin", nb)
    cmp_params(tab, pc, torch_ref.get_params(model), pentries, lr, steps)
    cmp_buffers(tab, bc, torch_ref.get_buffers(model), bentries)

    # Inference mode on the engine's own final state (checked above to match torch's).
    torch_ref.set_params(model, pc)
    torch_ref.set_buffers(model, bc)
    model.eval()
    with torch.no_grad():
        out = model(xt)
        L, mse, s = torch_ref.loss(out, tt)
    cmp_out(tab, "eval_out", load_bin(d, "eval_out.bin", out.numel(), tuple(out.shape)),
            out.numpy())
    cmp_loss(tab, "eval_loss", load_txt3(d, "eval_loss.txt"),
             np.array([L.item(), mse.item(), s.item()]))
    tab.print()
    print("%s: %d mismatching items" % ("FAIL" if tab.failed else "PASS", tab.failed))
    return 1 if tab.failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="dump directory written by sernet dump-engine")
    ap.add_argument("--verbose", action="store_true", help="one row per tensor")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-kink-allowance", action="store_true",
                    help="diagnostics: no tolerance for ReLU/max-pool elements at a kink")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    try:
        return run(a.dir, a.verbose, a.threads, not a.no_kink_allowance)
    except DumpError as e:
        print("torch_parity: malformed dump: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
