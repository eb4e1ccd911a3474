#!/usr/bin/env python3
"""Why two anomaly maps rank the test images differently: image score against defect size.

    tools/bench/score_anatomy.py DATA.h5 RESULTS_A.h5 RESULTS_B.h5 [CATEGORY]

Needs h5py, numpy and sklearn (/usr/bin/python3 on Debian 12). RESULTS_A and RESULTS_B are two
`sernet infer` runs of the same model on the same test split with different map keys (e.g.
`jobs/compare_maps.sh`'s method.h5 and scales1_box11.h5). Prints, for each:

- the good test images' scores (median, 90th percentile, largest): what a defect must beat;
- per defect type (the folder a test image came from): its image AUROC against the good images,
  the median score divided by the good images' 95th percentile (how far above the good images a
  typical defect of that type sits), the fraction whose map maximum lies within 3 pixels of
  the ground-truth mask, the median mask area in pixels, and the median number of pixels the
  reconstruction changed visibly (mean over channels of |I - R| > 0.03, from RESULTS_A's
  reconstructions: what the map actually sees of a defect).

The image score is the maximum of a box-smoothed map, so a defect whose visible change is
smaller than the box is divided by the box's area, while the good images' largest values are
not reduced as much: the ratio column shows which map suits which defect size.
"""
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit(__doc__)
    data = h5py.File(argv[1], "r")
    cat = argv[4] if len(argv) == 5 else next(iter(data.keys()))
    if cat + "/test" not in data:
        sys.exit("%s: no group %s/test" % (argv[1], cat))
    test = data[cat + "/test"]
    labels = test["labels"][:]
    names = [n.decode() if isinstance(n, bytes) else n for n in test["names"][:]]
    kinds = np.array([n.split("/")[-2] if "/" in n else "?" for n in names])
    masks = test["masks"]
    images = test["images"]
    good = labels == 0
    runs = []
    for path in argv[2:4]:
        res = h5py.File(path, "r")
        scores = res["scores"][:]
        if scores.shape[0] != labels.shape[0]:
            sys.exit("%s: %d scores, the test split of %s has %d images"
                     % (path, scores.shape[0], argv[1], labels.shape[0]))
        runs.append((path, scores, res["maps"], res["reconstructions"]))
    for path, s, _, _ in runs:
        g = s[good]
        print("%s: good images' score median %.4f, p90 %.4f, largest %.4f"
              % (path, np.median(g), np.percentile(g, 90), g.max()))
    print("%-12s %4s %8s %8s %9s %9s %7s %7s %9s %9s" % ("type", "n", "AUROC A", "AUROC B",
                                                         "ratio A", "ratio B", "at A", "at B",
                                                         "area px", "changed"))
    for kind in sorted(set(kinds) - {"good"}):
        sel = kinds == kind
        y = np.r_[np.zeros(good.sum()), np.ones(sel.sum())]
        row = []
        for _, s, _, _ in runs:
            row.append(roc_auc_score(y, np.r_[s[good], s[sel]]))
        for _, s, _, _ in runs:
            row.append(np.median(s[sel]) / np.percentile(s[good], 95))
        areas = []
        changed = []
        near = [[], []]
        for i in np.where(sel)[0]:
            ys, xs = np.nonzero(masks[i] > 0)
            areas.append(len(ys))
            diff = np.abs(images[i].astype(np.float32) - runs[0][3][i].astype(np.float32)) / 255
            changed.append(int(((diff.mean(-1) if diff.ndim == 3 else diff) > 0.03).sum()))
            for k, (_, _, maps, _) in enumerate(runs):
                m = maps[i]
                j = np.unravel_index(np.argmax(m), m.shape)
                d = np.sqrt(((ys - j[0]) ** 2 + (xs - j[1]) ** 2).min()) if len(ys) else np.inf
                near[k].append(d <= 3)
        row += [np.mean(near[0]), np.mean(near[1]), np.median(areas), np.median(changed)]
        print("%-12s %4d %8.3f %8.3f %9.2f %9.2f %7.2f %7.2f %9d %9d" % (kind, sel.sum(), *row))
    print("(ratio: median score of the type / the good images' 95th percentile; at: map maximum"
          " within 3 px of the mask; changed: pixels with |I - R| > 0.03)")


if __name__ == "__main__":
    main(sys.argv)
