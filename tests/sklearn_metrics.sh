#!/usr/bin/env bash
# The C metrics against scikit-learn (roc_auc_score, average_precision_score, the F1 maximum
# over precision_recall_curve) and against a NumPy/SciPy transcription of the MVTec AD AUPRO
# procedure, on random data with many ties. Skips (77) without /usr/bin/python3 + sklearn.
set -u
py=/usr/bin/python3
drv=${SERNET_BUILD_DIR:-$PWD}/test_metrics
if ! $py -c "import sklearn, scipy, numpy" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no sklearn/scipy/numpy (Debian python3-sklearn)"; exit 77
fi
[ -x "$drv" ] || { echo "missing driver $drv"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

for seed in 1 2 3 4 5 6; do
  $py - "$tmp/labels.txt" "$tmp/want.txt" "$seed" <<'PY'
import sys, numpy as np
from sklearn.metrics import roc_auc_score, average_precision_score, precision_recall_curve
out, want, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(seed)
n = int(rng.integers(50, 5000))
levels = [3, 10, 100, 100000][seed % 4]
y = (rng.random(n) < rng.uniform(0.02, 0.6)).astype(int)
if y.sum() == 0: y[0] = 1
if y.sum() == n: y[0] = 0
s = np.floor((rng.random(n) + 0.35 * y * rng.random(n)) * levels) / levels
s = s.astype(np.float32)   # the C side sees float32
np.savetxt(out, np.column_stack([s.astype(np.float64), y]), fmt=["%.9g", "%d"])
s64 = s.astype(np.float64)
p, r, t = precision_recall_curve(y, s64)
with np.errstate(invalid="ignore", divide="ignore"):
    f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0)
with open(want, "w") as f:
    f.write("auroc %.17g\nap %.17g\nf1 %.17g\n" % (roc_auc_score(y, s64), average_precision_score(y, s64), f1.max()))
PY
  got=$("$drv" --labels "$tmp/labels.txt") || { echo "FAIL seed $seed: driver failed"; fail=$((fail+1)); continue; }
  for key in auroc ap f1; do
    g=$(awk -v k=$key '$1==k{print $2}' <<<"$got"); w=$(awk -v k=$key '$1==k{print $2}' "$tmp/want.txt")
    if awk -v g="$g" -v w="$w" 'BEGIN{d=g-w; if(d<0)d=-d; exit !(d<=1e-9)}'; then
      pass=$((pass+1))
    else
      echo "FAIL seed $seed $key: C $g sklearn $w"; fail=$((fail+1))
    fi
  done
done

for seed in 11 12 13 14; do
  for fpr in 0.3 0.05 1.0; do
  $py - "$tmp/px.txt" "$tmp/want.txt" "$seed" "$fpr" <<'PY'
import sys, numpy as np
from scipy.ndimage import label
out, want, seed, max_fpr = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rng = np.random.default_rng(seed)
n, h, w = int(rng.integers(2, 6)), int(rng.integers(8, 40)), int(rng.integers(8, 40))
masks = np.zeros((n, h, w), np.uint8)
for i in range(1, n):
    for _ in range(int(rng.integers(1, 4))):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, 5)
        yy, xx = np.mgrid[0:h, 0:w]
        masks[i][((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (rng.random((h, w)) < 0.85)] = 1
levels = [5, 20, 1000, 7][seed % 4]
maps = (np.floor((rng.random((n, h, w)) + 0.4 * masks) * levels) / levels).astype(np.float32)
with open(out, "w") as f:
    f.write("%d %d %d\n" % (n, h, w))
    for v, m in zip(maps.ravel(), masks.ravel()):
        f.write("%.9g %d\n" % (float(v), m))
# The MVTec AD procedure: per-pixel FPR increments over all defect-free pixels, per-pixel PRO
# increments 1/(regions * region size), descending sort, cumulative sums, one point per
# distinct score, trapezoid up to max_fpr with the interpolated end point, divided by max_fpr.
structure = np.ones((3, 3), dtype=int)
ok = masks == 0
fp_inc = np.zeros(maps.shape, np.float64); fp_inc[ok] = 1.0 / ok.sum()
pro_inc = np.zeros(maps.shape, np.float64)
regions = 0
labs = []
for i in range(n):
    lab, k = label(masks[i], structure=structure); labs.append((lab, k)); regions += k
for i in range(n):
    lab, k = labs[i]
    for c in range(1, k + 1):
        sel = lab == c
        pro_inc[i][sel] = 1.0 / (regions * sel.sum())
order = np.argsort(maps.ravel(), kind="mergesort")[::-1]
sc = maps.ravel()[order]
fpr = np.cumsum(fp_inc.ravel()[order]); pro = np.cumsum(pro_inc.ravel()[order])
keep = np.append(np.diff(sc) != 0, True)
fpr = np.clip(np.concatenate([[0.0], fpr[keep]]), 0, 1); pro = np.clip(np.concatenate([[0.0], pro[keep]]), 0, 1)
area = 0.0
for j in range(1, len(fpr)):
    x0, x1, y0, y1 = fpr[j - 1], fpr[j], pro[j - 1], pro[j]
    if x1 <= max_fpr:
        area += 0.5 * (x1 - x0) * (y0 + y1)
    else:
        if x0 < max_fpr:
            yi = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
            area += 0.5 * (max_fpr - x0) * (y0 + yi)
        break
with open(want, "w") as f:
    f.write("aupro %.17g\n" % (area / max_fpr))
PY
    got=$("$drv" --aupro "$tmp/px.txt" "$fpr") || { echo "FAIL aupro seed $seed: driver failed"; fail=$((fail+1)); continue; }
    g=$(awk '$1=="aupro"{print $2}' <<<"$got"); w=$(awk '$1=="aupro"{print $2}' "$tmp/want.txt")
    if awk -v g="$g" -v w="$w" 'BEGIN{d=g-w; if(d<0)d=-d; exit !(d<=1e-9)}'; then
      pass=$((pass+1))
    else
      echo "FAIL aupro seed $seed max_fpr $fpr: C $g python $w"; fail=$((fail+1))
    fi
  done
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
