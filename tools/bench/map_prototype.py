#!/usr/bin/env python3
"""Prototype other smoothings of the anomaly map from one inference's results file, in numpy.

    tools/bench/map_prototype.py RESULTS.h5 DATA.h5 CATEGORY [EPS ...]

Needs h5py, numpy, scipy and scikit-learn (/usr/bin/python3 on Debian 12). Recomputes METHOD.md's
map (§6: CIELAB colour term, MSGMS over 4 scales, 21x21 box with zero padding, c = 0.001) from the
test images and the stored reconstructions (uint8, so within about 0.005 of the stored maps,
which it prints), then the same raw differences smoothed by a geometric mean over the box,
exp(box(log(D + eps))) - eps, for each EPS (default 1e-3 1e-2). For each map it prints image
AUROC (max of the map), pixel AUROC and an AUPRO up to 30 % FPR on 61 FPR points (within about
0.002 of sernet eval's exact curve). A smoothing worth building into sernet must beat the first
row on several sets; this script is where to try one first (docs/quality.md, "What limits AUPRO").
"""
import sys

import h5py
import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from recon_anatomy import defect_regions  # same folder

PREWITT = np.array([[1, 0, -1]] * 3, np.float64) / 3


def lab_ab(x):
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                  [0.019334, 0.119193, 0.950227]])
    xyz = lin @ m.T / np.array([0.95047, 1, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 4 / 29)
    return 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])


def gms(a, b):
    def mag(z):
        gx = ndimage.correlate(z, PREWITT, mode="constant")
        gy = ndimage.correlate(z, PREWITT.T, mode="constant")
        return np.sqrt(gx * gx + gy * gy + 1e-12)
    m1, m2 = mag(a), mag(b)
    return (2 * m1 * m2 + 0.0026) / (m1 * m1 + m2 * m2 + 0.0026)


def raw_differences(img, rec, scales=4):
    """The unsmoothed structure and colour differences of METHOD.md §6 (before F21)."""
    s = img.shape[0]
    dg = np.zeros((s, s))
    for c in range(3):
        a, b, acc = img[..., c], rec[..., c], np.zeros((s, s))
        for _ in range(scales):
            g = gms(a, b)
            acc += ndimage.zoom(g, s / g.shape[0], order=1, mode="nearest", grid_mode=True)
            a = a.reshape(a.shape[0] // 2, 2, -1, 2).mean((1, 3))
            b = b.reshape(b.shape[0] // 2, 2, -1, 2).mean((1, 3))
        dg += 1 - acc / scales
    a1, b1 = lab_ab(img)
    a2, b2 = lab_ab(rec)
    return dg / 3, (a1 - a2) ** 2 + (b1 - b2) ** 2


def box(x):
    return ndimage.uniform_filter(x, 21, mode="constant")


def aupro(maps, masks, max_fpr=0.3, points=61):
    neg = maps[~masks]
    thr = np.quantile(neg, 1 - np.linspace(0, max_fpr, points))
    regions = defect_regions(masks, range(len(maps)))
    pro = [np.mean([(maps[i][m] >= t).mean() for i, m in regions]) for t in thr]
    fpr = [(neg >= t).mean() for t in thr]
    return np.trapz(pro, fpr) / max_fpr


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    res, data, cat = sys.argv[1:4]
    eps_list = [float(e) for e in sys.argv[4:]] or [1e-3, 1e-2]
    with h5py.File(res, "r") as r, h5py.File(data, "r") as d:
        img = d[cat + "/test/images"][:].astype(np.float64) / 255
        rec = r["reconstructions"][:].astype(np.float64) / 255  # uint8, round(255 x)
        masks = d[cat + "/test/masks"][:] > 0
        labels = d[cat + "/test/labels"][:]
        stored = r["maps"][:]
    raws = [raw_differences(img[i], rec[i]) for i in range(len(img))]
    variants = [("METHOD.md (arithmetic box)", None)] + [("geometric box, eps %g" % e, e) for e in eps_list]
    print("%-30s %12s %12s %8s" % ("map", "image AUROC", "pixel AUROC", "AUPRO"))
    for name, eps in variants:
        if eps is None:
            maps = np.stack([box(dg) + 0.001 * box(dc) for dg, dc in raws])
        else:  # the colour term is about 1000x the structure term, hence its eps
            maps = np.stack([np.exp(box(np.log(dg + eps))) - eps
                             + 0.001 * (np.exp(box(np.log(dc + 1000 * eps))) - 1000 * eps) for dg, dc in raws])
        scores = maps.reshape(len(maps), -1).max(1)
        image = roc_auc_score(labels, scores) if 0 < labels.sum() < len(labels) else float("nan")
        pixel, pro = ((roc_auc_score(masks.ravel(), maps.ravel()), aupro(maps, masks))
                      if masks.any() else (float("nan"), float("nan")))
        print("%-30s %12.3f %12.3f %8.3f" % (name, image, pixel, pro))
        if eps is None:
            print("  largest difference from the stored maps: %.4f" % np.abs(maps - stored).max())


if __name__ == "__main__":
    main()
