#!/usr/bin/env bash
# The anomaly map (fast kernel and reference) against an independent PyTorch formulation of
# METHOD.md §6 in float64: grouped conv2d Prewitt/3 with padding 1, avg_pool2d(2) between
# scales, F.interpolate(bilinear, align_corners=False), avg_pool2d(box, stride 1, padding
# box//2, count_include_pad=True) as the box mean divided by box²; msgms_erode (not METHOD.md) as
# 1 - max_pool2d(GMS, k, stride 1, padding k//2) on scales >= 1. Skips (77) without torch.
set -u
py=/usr/bin/python3
drv=${SERNET_BUILD_DIR:-$PWD}/test_anomaly_map
if ! $py -c "import torch" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no torch (Debian python3-torch)"; exit 77
fi
[ -x "$drv" ] || { echo "missing driver $drv"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
$py - "$drv" "$tmp" <<'PY'
import subprocess, sys, numpy as np, torch
import torch.nn.functional as F
drv, tmp = sys.argv[1], sys.argv[2]
torch.set_default_dtype(torch.float64)

def lab_ab(x):
    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).clamp(min=0) ** 2.4)
    M = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                      [0.019334, 0.119193, 0.950227]])
    xyz = torch.einsum("ij,jhw->ihw", M, lin) / torch.tensor([0.95047, 1.0, 1.08883]).view(3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp(min=1e-30) ** (1.0 / 3.0), 7.787 * xyz + 4.0 / 29.0)
    return 500 * (f[0] - f[1]), 200 * (f[1] - f[2])

def anomaly_map(I, R, scales, box, c, erode):
    S = I.shape[-1]
    aI, bI = lab_ab(I); aR, bR = lab_ab(R)
    dc = ((aI - aR) ** 2 + (bI - bR) ** 2)[None, None]
    kx = torch.tensor([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3
    k = torch.stack([kx, kx.t()])[:, None].repeat(3, 1, 1, 1)  # [6,1,3,3]: per channel gx, gy
    def mag(x):
        g = F.conv2d(x, k, padding=1, groups=3)
        return torch.sqrt(g[:, 0::2] ** 2 + g[:, 1::2] ** 2 + 1e-12)
    x, y = I[None], R[None]
    total = torch.zeros(1, 3, S, S)
    for s in range(scales):
        if s > 0:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        m1, m2 = mag(x), mag(y)
        gms = (2 * m1 * m2 + 0.0026) / (m1 ** 2 + m2 ** 2 + 0.0026)
        if s > 0 and erode > 1:  # max_pool2d pads with -inf: the maximum over in-bounds pixels
            gms = F.max_pool2d(gms, erode, stride=1, padding=erode // 2)
        total = total + F.interpolate(gms, size=(S, S), mode="bilinear", align_corners=False)
    g = (1 - total / scales).mean(dim=1, keepdim=True)
    boxf = lambda t: F.avg_pool2d(t, box, stride=1, padding=box // 2, count_include_pad=True)
    return (boxf(g) + c * boxf(dc))[0, 0]

passed = failed = 0
rng = np.random.default_rng(7)
for S, scales, box, c, erode in [(64, 4, 21, 0.001, 1), (48, 3, 7, 0.05, 1), (32, 1, 1, 1.0, 1), (40, 2, 41, 0.001, 1),
                                 (64, 4, 21, 0.001, 3), (48, 3, 7, 0.05, 5)]:
    yy, xx = np.mgrid[0:S, 0:S]
    I = np.stack([0.5 + 0.3 * np.sin(0.21 * xx + 0.17 * yy + ch) + 0.05 * rng.random((S, S)) for ch in range(3)])
    R = I.copy()
    R[:, S // 4:S // 2, S // 3:S // 2 + 3] += 0.3 * rng.random((3, S // 4, S // 2 + 3 - S // 3))
    R = np.clip(R + 0.02 * (rng.random(R.shape) - 0.5), 0, 1)
    I, R = I.astype(np.float32), R.astype(np.float32)
    np.concatenate([I.ravel(), R.ravel()]).tofile(tmp + "/in.bin")
    subprocess.run([drv, "--driver", tmp + "/in.bin", tmp + "/out.bin", str(S), str(scales), str(box), str(c), str(erode)], check=True)
    out = np.fromfile(tmp + "/out.bin", dtype=np.float32).reshape(2, S, S)
    want = anomaly_map(torch.from_numpy(I.astype(np.float64)), torch.from_numpy(R.astype(np.float64)), scales, box, c, erode).numpy()
    for name, got in (("fast", out[0]), ("reference", out[1])):
        # float32 CIELAB: a, b (|a| up to ~100) carry ~1e-5 absolute rounding, so (Δa)² has an
        # absolute error of ~1e-5 * |Δa|, scaled by c in the map
        err = np.abs(got - want) / (1e-6 + 1e-4 * np.abs(want) + 1e-3 * c)
        score_ok = abs(got.max() - want.max()) <= 1e-4 * abs(want.max()) + 1e-6
        if err.max() <= 1 and score_ok:
            passed += 1
        else:
            failed += 1
            print("FAIL S=%d scales=%d box=%d c=%g erode=%d %s: worst ratio %.3g, score %.7g vs %.7g"
                  % (S, scales, box, c, erode, name, err.max(), got.max(), want.max()))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
