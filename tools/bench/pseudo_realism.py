#!/usr/bin/env python3
# PPA / DPA realism against the real defects of a test set (a benchmark tool, not a CI test):
# per 8-connected region, its area (fraction of S*S) and its local contrast (grey |mean inside -
# mean of a 6-pixel ring around it|); prints the quartiles as Markdown table rows.
#   sernet pseudo --data D.h5 --kind ppa --count 200 --out DIR_PPA --set p_anomaly=1
#   sernet pseudo --data D.h5 --kind dpa --count 200 --out DIR_DPA --set p_anomaly=1
#   /usr/bin/python3 tools/bench/pseudo_realism.py D.h5 CATEGORY DIR_PPA DIR_DPA
# Needs python3-h5py, python3-scipy and Pillow.
import h5py, numpy as np, os, sys
from PIL import Image
from scipy import ndimage
def stats(img, mask):
    out = []
    lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
    g = img.astype(np.float32).mean(-1) / 255 if img.ndim == 3 else img / 255.0
    for r in range(1, n + 1):
        reg = lab == r
        ring = ndimage.binary_dilation(reg, iterations=6) & ~mask
        if ring.sum() == 0: continue
        out.append((reg.mean(), abs(g[reg].mean() - g[ring].mean())))
    return out
def q(v): v = np.array(v); return "%.4f / %.4f / %.4f" % tuple(np.quantile(v, [0.25, 0.5, 0.75]))
data, cat = sys.argv[1], sys.argv[2]
d = h5py.File(data, 'r')[cat]
real = []
for i in range(d['test/images'].shape[0]):
    m = d['test/masks'][i] > 0
    if m.any(): real += stats(d['test/images'][i], m)
rows = [("real defects", real)]
for k in sys.argv[3:]:
    v = []
    for f in sorted(os.listdir(k)):
        a = np.asarray(Image.open(os.path.join(k, f)).convert('RGB'))
        s = a.shape[0]; gap = (a.shape[1] - 3 * s) // 2
        mask = a[:, s + gap:2 * s + gap].mean(-1) > 127; ia = a[:, 2 * s + 2 * gap:]
        if mask.any(): v += stats(ia, mask)
    rows.append((os.path.basename(k), v))
for name, v in rows:
    a = [x[0] for x in v]; c = [x[1] for x in v]
    print("| %s | %d | %s | %s |" % (name, len(v), q(a), q(c)))
