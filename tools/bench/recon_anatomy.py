#!/usr/bin/env python3
"""Where the anomaly map and the reconstruction go wrong, from one inference's results file.

    tools/bench/recon_anatomy.py RESULTS.h5 DATA.h5 CATEGORY

Needs h5py, numpy and scipy (/usr/bin/python3 on Debian 12). Reads the maps and reconstructions
that `sernet infer` stores (docs/formats.md) and the dataset's images and masks, and prints:

- strong edges (Sobel magnitude of the grey input > 0.5, a fraction of the pixels) per split:
  train, good test and defective test images. A structure that only defective images show (a
  frame, a fixture) is novel to the model, and the ground truth may leave it out;
- the good test images: how many have their map maximum within 12 pixels of a strong edge
  (Sobel > 0.3 of the image's own largest), the reconstruction error |I - R| near those edges
  (<= 3 px) and far from them (> 12 px), and the median and largest map maximum, which is what a
  defective image has to beat;
- per defect type: how much of each defect the reconstruction net removed (the contrast of the
  region against a 6-pixel ring around it, in the input and in the reconstruction; a net that
  copies its input leaves it unchanged), and the map maximum inside each defect against the
  map maximum more than 10 pixels away from it;
- the profile across the defects' edges: in bands of signed distance to the nearest edge of a
  ground-truth region (negative inside), the median reconstruction error |I - R| and the median
  map, against the good images' 99th percentile of the map; and where the false positives lie at
  the thresholds where 1 % and 3 % of the normal pixels score above them (the low-FPR end of
  AUPRO): the share in good images and within 10 px of a defect, and the defect regions' mean
  overlap at those thresholds by area (under 441 px, i.e. smaller than the 21x21 box, 441-8000,
  over 8000). A reconstruction error that drops at the edge while the map does not is the map's
  smoothing (the 21x21 box and the coarse MSGMS scales), which spreads each defect's response
  outward.
"""
import sys

import h5py
import numpy as np
from scipy import ndimage


def sobel(g):
    return np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    res, data, cat = sys.argv[1:]
    with h5py.File(res, "r") as r, h5py.File(data, "r") as d:
        maps = r["maps"][:]
        rec = r["reconstructions"][:].astype(np.float32) / 255  # uint8, round(255 x)
        test = d[cat + "/test/images"][:].astype(np.float32) / 255
        train = d[cat + "/train/images"][:].astype(np.float32) / 255
        masks = d[cat + "/test/masks"][:] > 0
        kind = d[cat + "/test/defect"][:]
        names = [t.decode() if isinstance(t, bytes) else str(t) for t in d[cat + "/test/defect_types"][:]]
    grey, rgrey = test.mean(-1), rec.mean(-1)
    good = [i for i in range(len(test)) if not masks[i].any()]
    bad = [i for i in range(len(test)) if masks[i].any()]

    def edge_frac(imgs):
        return np.array([(sobel(g) > 0.5).mean() for g in imgs])

    print("%s: strong-edge pixels (Sobel > 0.5), mean (largest) per image:" % cat)
    for label, imgs in (("train", train.mean(-1)), ("good test", grey[good]), ("defective test", grey[bad])):
        f = edge_frac(imgs) if len(imgs) else np.zeros(1)
        print("  %-15s %4d images  %.4f (%.4f)" % (label, len(imgs), f.mean(), f.max()))

    near, err_e, err_f = 0, [], []
    for i in good:
        s = sobel(grey[i])
        dist = ndimage.distance_transform_edt(~(s > 0.3 * max(s.max(), 1e-12)))
        y, x = np.unravel_index(np.argmax(maps[i]), maps[i].shape)
        near += dist[y, x] <= 12
        err = np.abs(test[i] - rec[i]).mean(-1)
        err_e.append(err[dist <= 3].mean())
        err_f.append(err[dist > 12].mean() if (dist > 12).any() else np.nan)
    gmax = np.array([maps[i].max() for i in good])
    if good:
        print("good test images: map maximum within 12 px of a strong edge in %d of %d; |I - R| near "
              "edges %.4f, far from them %.4f; map maximum median %.4f, largest %.4f"
              % (near, len(good), np.mean(err_e), np.nanmean(err_f), np.median(gmax), gmax.max()))
    print("%-12s %6s %12s %12s %14s %14s %s" % ("defect type", "images", "contrast I", "contrast R",
                                                 "max inside", "max away", "images above every good max"))
    for t in sorted(set(int(kind[i]) for i in bad)):
        ids = [i for i in bad if kind[i] == t]
        ci, cr, mi, mo = [], [], [], []
        for i in ids:
            m = masks[i]
            ring = ndimage.binary_dilation(m, iterations=6) & ~m
            ci.append(abs(grey[i][m].mean() - grey[i][ring].mean()))
            cr.append(abs(rgrey[i][m].mean() - grey[i][ring].mean()))
            mi.append(maps[i][m].max())
            away = ~ndimage.binary_dilation(m, iterations=10)
            mo.append(maps[i][away].max() if away.any() else np.nan)
        above = sum(maps[i].max() > gmax.max() for i in ids) if good else 0  # the image score
        print("%-12s %6d %12.3f %12.3f %14.4f %14.4f %d" % (names[t] if t < len(names) else t, len(ids),
              np.mean(ci), np.mean(cr), np.median(mi), np.nanmedian(mo), above))

    if bad:
        edge_profile(maps, np.abs(test - rec).mean(-1), masks, good, bad)


BANDS = ((-np.inf, -10), (-10, -5), (-5, 0), (0, 3), (3, 6), (6, 10), (10, 15), (15, 25), (25, np.inf))


def edge_profile(maps, err, masks, good, bad):
    sd = {i: ndimage.distance_transform_edt(~masks[i]) - ndimage.distance_transform_edt(masks[i]) for i in bad}
    p99 = np.quantile(maps[good], 0.99) if good else np.nan
    print("across the defects' edges (signed distance, px, negative inside): median |I - R|, median map;"
          " good images' map 99th percentile %.4f" % p99)
    for lo, hi in BANDS:
        sel = {i: (sd[i] > lo) & (sd[i] <= hi) for i in bad}
        e = np.concatenate([err[i][sel[i]] for i in bad])
        a = np.concatenate([maps[i][sel[i]] for i in bad])
        if e.size:
            print("  (%4g, %4g] %9d px  |I - R| %.4f  map %.4f%s" % (lo, hi, e.size, np.median(e), np.median(a),
                  "  above the good p99" if np.median(a) > p99 else ""))
    normal = maps[~masks]
    regions = defect_regions(masks, bad)
    for fpr in (0.01, 0.03):
        thr = np.quantile(normal, 1 - fpr)
        n_good = sum(int((maps[i] > thr).sum()) for i in good)
        n_near = sum(int(((maps[i] > thr) & ~masks[i] & (sd[i] <= 10)).sum()) for i in bad)
        n = max(int((normal > thr).sum()), 1)
        print("false positives at %g %% FPR (map > %.4f): %.3f in good images, %.3f within 10 px of a defect"
              % (100 * fpr, thr, n_good / n, n_near / n))
        print("  mean overlap of the defect regions there, by area: %s" % ", ".join(
            "%s px %.3f (%d)" % (label, np.mean(o), len(o)) if o else "%s px - (0)" % label
            for label, o in region_overlaps(maps, regions, thr)))


def defect_regions(masks, ids):
    """(image, region mask) for every 8-connected ground-truth region, as eval labels them."""
    out = []
    for i in ids:
        lab, n = ndimage.label(masks[i], structure=np.ones((3, 3)))
        out += [(i, lab == k) for k in range(1, n + 1)]
    return out


def region_overlaps(maps, regions, thr):
    # AUPRO averages this overlap over the regions
    sizes = (("under 441", 0, 441), ("441-8000", 441, 8000), ("over 8000", 8000, np.inf))
    out = [[] for _ in sizes]
    for i, reg in regions:
        a = reg.sum()
        for j, (_, lo, hi) in enumerate(sizes):
            if lo <= a < hi:
                out[j].append((maps[i][reg] > thr).mean())
    return [(label, o) for (label, _, _), o in zip(sizes, out)]


if __name__ == "__main__":
    main()
