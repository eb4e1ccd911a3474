#!/usr/bin/env bash
# The C metrics against scikit-learn (roc_auc_score, average_precision_score, the F1 maximum
# over precision_recall_curve) and against a NumPy/SciPy transcription of the MVTec AD AUPRO
# procedure, on random data with many ties; the bootstrap interval of the AUROC against a NumPy
# bootstrap (within Monte Carlo error). Skips (77) without /usr/bin/python3 + sklearn.
set -u
py=/usr/bin/python3
drv=${SERNET_BUILD_DIR:-$PWD}/test_metrics
if ! $py -c "import sklearn, scipy, numpy" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no sklearn/scipy/numpy (Debian python3-sklearn)"; exit 77
fi
[ -x "$drv" ] || { echo "missing driver $drv"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

# One Python run writes every data set (labels_<seed>.txt, px_<seed>.txt) and the expected
# values (want.txt: "<case> <key> <value>").
$py - "$tmp" <<'PY' || { echo "python data generation failed"; echo "0 passed, 1 failed"; exit 1; }
import sys, numpy as np
from sklearn.metrics import roc_auc_score, average_precision_score, precision_recall_curve
from scipy.ndimage import label
d = sys.argv[1]
want = open(d + "/want.txt", "w")

def bootstrap_interval(y, s, B, level, rng):
    """Stratified bootstrap of roc_auc_score: each resample's AUROC from the draw counts, summed
    per tie group in ascending score order (checked against roc_auc_score on explicit resamples)."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    order = np.argsort(s, kind="mergesort")
    first = np.flatnonzero(np.r_[True, np.diff(s[order]) != 0])
    vals = []
    for chunk in range(0, B, 500):
        b = min(500, B - chunk)
        draws = np.concatenate([rng.choice(pos, (b, len(pos))), rng.choice(neg, (b, len(neg)))], 1)
        cnt = np.bincount((draws + len(s) * np.arange(b)[:, None]).ravel(), minlength=b * len(s))
        cnt = cnt.reshape(b, len(s)).astype(np.float64)
        c = cnt[:, order]
        wp = np.add.reduceat(c * y[order], first, axis=1)
        wn = np.add.reduceat(c * (1 - y[order]), first, axis=1)
        below = np.cumsum(wn, 1) - wn
        v = (wp * (below + 0.5 * wn)).sum(1) / (len(pos) * len(neg))
        if chunk == 0:
            for k in range(3):
                assert abs(v[k] - roc_auc_score(y[draws[k]], s[draws[k]])) < 1e-12
        vals.append(v)
    return np.quantile(np.concatenate(vals), [(1 - level) / 2, (1 + level) / 2])

for seed in range(1, 9):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 5000))
    levels = [3, 10, 100, 100000][seed % 4]
    y = (rng.random(n) < rng.uniform(0.02, 0.6)).astype(int)
    if y.sum() == 0: y[0] = 1
    if y.sum() == n: y[0] = 0
    s = (np.floor((rng.random(n) + 0.35 * y * rng.random(n)) * levels) / levels).astype(np.float32)
    np.savetxt("%s/labels_%d.txt" % (d, seed), np.column_stack([s.astype(np.float64), y]), fmt=["%.9g", "%d"])
    s64 = s.astype(np.float64)   # the C side reads the same float32 values
    p, r, _ = precision_recall_curve(y, s64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0)
    want.write("labels_%d auroc %.17g\n" % (seed, roc_auc_score(y, s64)))
    want.write("labels_%d ap %.17g\n" % (seed, average_precision_score(y, s64)))
    want.write("labels_%d f1 %.17g\n" % (seed, f1.max()))
    # the percentile-bootstrap interval of the AUROC, stratified (positives and negatives each
    # resampled to their own count), 4000 resamples in NumPy; the C side draws its own 4000, so
    # the ends agree within Monte Carlo error: 5 % of the width
    lo, hi = bootstrap_interval(y, s64, 4000, 0.95, np.random.default_rng(100 + seed))
    tol = 0.05 * (hi - lo) + 1e-4
    want.write("labels_%d ci_lo %.17g %.3g\n" % (seed, lo, tol))
    want.write("labels_%d ci_hi %.17g %.3g\n" % (seed, hi, tol))

# The MVTec AD procedure, transcribed: per-pixel FPR increments 1/(defect-free pixels), PRO
# increments 1/(regions * region size) (8-connected regions), descending stable sort,
# cumulative sums, one point per distinct score, clip to [0,1], trapezoid up to max_fpr with
# the interpolated end point, divided by max_fpr.
def mvtec_aupro(maps, masks, max_fpr):
    ok = masks == 0
    fp_inc = np.where(ok, 1.0 / ok.sum(), 0.0)
    pro_inc = np.zeros(maps.shape)
    labs = [label(m, structure=np.ones((3, 3), int)) for m in masks]
    regions = sum(k for _, k in labs)
    for i, (lab, k) in enumerate(labs):
        sizes = np.bincount(lab.ravel(), minlength=k + 1)
        pro_inc[i] = np.where(lab > 0, 1.0 / (regions * np.maximum(sizes[lab], 1)), 0.0)
    order = np.argsort(maps.ravel(), kind="mergesort")[::-1]
    sc = maps.ravel()[order]
    fpr = np.cumsum(fp_inc.ravel()[order]); pro = np.cumsum(pro_inc.ravel()[order])
    keep = np.append(np.diff(sc) != 0, True)
    fpr = np.clip(np.concatenate([[0.0], fpr[keep]]), 0, 1)
    pro = np.clip(np.concatenate([[0.0], pro[keep]]), 0, 1)
    area = 0.0
    for j in range(1, len(fpr)):
        x0, x1, y0, y1 = fpr[j - 1], fpr[j], pro[j - 1], pro[j]
        if x1 <= max_fpr:
            area += 0.5 * (x1 - x0) * (y0 + y1)
        else:
            if x0 < max_fpr:
                area += 0.5 * (max_fpr - x0) * (y0 + y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0))
            break
    return area / max_fpr

for seed in range(11, 17):
    rng = np.random.default_rng(seed)
    n, h, w = int(rng.integers(2, 6)), int(rng.integers(8, 40)), int(rng.integers(8, 40))
    masks = np.zeros((n, h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(1, n):
        for _ in range(int(rng.integers(1, 4))):
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, 5)
            masks[i][((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (rng.random((h, w)) < 0.85)] = 1
    levels = [5, 20, 1000, 7][seed % 4]
    maps = (np.floor((rng.random((n, h, w)) + 0.4 * masks) * levels) / levels).astype(np.float32)
    with open("%s/px_%d.txt" % (d, seed), "w") as f:
        f.write("%d %d %d\n" % (n, h, w))
        np.savetxt(f, np.column_stack([maps.ravel().astype(np.float64), masks.ravel()]), fmt=["%.9g", "%d"])
    for max_fpr in (0.3, 0.05, 1.0):
        want.write("px_%d aupro@%g %.17g\n" % (seed, max_fpr, mvtec_aupro(maps, masks, max_fpr)))
want.close()
PY

close() { awk -v g="$1" -v w="$2" -v t="${3:-1e-9}" 'BEGIN{d=g-w; if(d<0)d=-d; exit !(g!="" && d<=t)}'; }
while read -r case key w tol; do
  if [[ $case == labels_* ]]; then
    # one driver run per data set (it computes every key, the interval's 4000 resamples too)
    [ -s "$tmp/$case.out" ] || "$drv" --labels "$tmp/$case.txt" >"$tmp/$case.out" ||
      { echo "FAIL $case: driver failed"; fail=$((fail+1)); rm -f "$tmp/$case.out"; continue; }
    got=$(cat "$tmp/$case.out")
    g=$(awk -v k="$key" '$1==k{print $2}' <<<"$got")
  else
    fpr=${key#aupro@}
    got=$("$drv" --aupro "$tmp/$case.txt" "$fpr") || { echo "FAIL $case: driver failed"; fail=$((fail+1)); continue; }
    g=$(awk '$1=="aupro"{print $2}' <<<"$got")
  fi
  if close "$g" "$w" "$tol"; then
    pass=$((pass+1))
  else
    echo "FAIL $case $key: C $g reference $w"; fail=$((fail+1))
  fi
done <"$tmp/want.txt"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
