#!/usr/bin/env python3
# Usage: image_score.py RESULTS.h5 DATA.h5 CATEGORY (needs python3-h5py and scikit-learn)
# image-score ablation on a finished results file: image AUROC with the score = max(map) (METHOD.md)
# against the mean of the top q of the map's pixels
import sys, h5py, numpy as np
from sklearn.metrics import roc_auc_score
res, data, cat = sys.argv[1:4]
r = h5py.File(res, 'r'); d = h5py.File(data, 'r')
lab = (d['/%s/test/labels' % cat][:] != 0).astype(int)
maps = r['/maps'][:].reshape(len(lab), -1)
out = ["max %.3f (stored %.3f)" % (roc_auc_score(lab, maps.max(1)), roc_auc_score(lab, r['/scores'][:]))]
for q in (0.001, 0.01, 0.05):
    k = max(1, int(q * maps.shape[1]))
    s = np.sort(maps, 1)[:, -k:].mean(1)
    out.append("top %g%% mean %.3f" % (q * 100, roc_auc_score(lab, s)))
print(res, "; ".join(out))
