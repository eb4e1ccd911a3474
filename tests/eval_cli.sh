#!/usr/bin/env bash
# sernet eval from the command line: the fixture of mpi_eval_cmd (synthetic dataset, S = 32, and
# a results file with known maps) evaluated at 1, 2 and 3 ranks gives the same table and JSON;
# the JSON is valid and its metrics equal scikit-learn on the dumped scores (image AUROC, per-type
# image AUROC, pixel AUROC and AP overall and per type, the best image F1; the pixel F1 within its
# bound of the exact optimum); /metrics is in the results file, the original datasets intact;
# report.md, the SVG curves and valid PNG panels (5 tiles of 32) exist; bad inputs fail with exit 1 (2 for usage);
# and end to end: a tiny trained model, sernet infer, sernet eval on its results file.
# Skips (77) without /usr/bin/python3 + sklearn.
set -u
py=/usr/bin/python3
bin=${SERNET_BIN:-./sernet}
fix=${SERNET_BUILD_DIR:-$PWD}/mpi_eval_cmd
if ! $py -c "import sklearn, numpy" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no sklearn/numpy (Debian python3-sklearn)"; exit 77
fi
command -v mpiexec >/dev/null || { echo "skipped: no mpiexec"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

"$fix" --fixture "$tmp" >"$tmp/fix.log" 2>&1 || { cat "$tmp/fix.log"; echo "0 passed, 1 failed"; exit 1; }

for np in 1 2 3; do
  mkdir "$tmp/r$np"; cp "$tmp/results.h5" "$tmp/r$np/results.h5"
  (cd "$tmp/r$np" && mpiexec -n $np --oversubscribe "$bin" eval --results results.h5 --data ../data.h5 \
     --worst 2 >out.txt 2>err.txt); rc=$?
  [ $rc = 0 ] && ok || { bad "eval at $np ranks: exit $rc"; cat "$tmp/r$np/err.txt"; }
done
for np in 2 3; do
  cmp -s "$tmp/r1/out.txt" "$tmp/r$np/out.txt" && ok || { bad "table at $np ranks differs"; diff "$tmp/r1/out.txt" "$tmp/r$np/out.txt"; }
done
grep -q "image AUROC" "$tmp/r1/out.txt" && grep -q "results_metrics.json" "$tmp/r1/out.txt" &&
  grep -q "results_report/report.md" "$tmp/r1/out.txt" && ok || bad "table or the output paths not printed"
$py -m json.tool "$tmp/r1/results_metrics.json" >/dev/null && ok || bad "JSON not valid"

# JSON: rank-count invariant and equal to scikit-learn
$py - "$tmp" <<'PY' && ok || bad "JSON metrics (see above)"
import sys, json, numpy as np
from sklearn.metrics import roc_auc_score, average_precision_score, precision_recall_curve
d = sys.argv[1]
js = [json.load(open("%s/r%d/results_metrics.json" % (d, n))) for n in (1, 2, 3)]
bad = []
def close(a, b, tol):
    if a is None or b is None: return a is None and b is None
    return abs(a - b) <= tol
def walk(a, b, path):
    if isinstance(a, dict):
        if set(a) != set(b): bad.append("keys differ at " + path); return
        for k in a: walk(a[k], b[k], path + "." + k)
    elif isinstance(a, list):
        if len(a) != len(b): bad.append("lengths differ at " + path); return
        for i, (x, y) in enumerate(zip(a, b)): walk(x, y, "%s[%d]" % (path, i))
    elif isinstance(a, float) or isinstance(b, float):
        if not close(a, b, 1e-12): bad.append("%s: %r vs %r" % (path, a, b))
    elif a != b: bad.append("%s: %r vs %r" % (path, a, b))
for j in js[1:]: walk(js[0], j, "")
j = js[0]
im = np.genfromtxt(d + "/images.csv", delimiter=",", names=True)
px = np.genfromtxt(d + "/pixels.csv", delimiter=",", names=True)
s, y, t = im["score"], im["label"].astype(int), im["type"].astype(int)
def f1max(yy, ss):
    p, r, thr = precision_recall_curve(yy, ss)
    f = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0)
    k = int(np.argmax(f[:-1]))
    return f[k], thr[k]
want = {"image_auroc": roc_auc_score(y, s),
        "pixel_auroc": roc_auc_score(px["label"], px["score"]),
        "pixel_ap": average_precision_score(px["label"], px["score"])}
f, th = f1max(y, s)
want["image_f1"] = f
for k, v in want.items():
    if not close(j[k], v, 1e-9): bad.append("%s = %r, sklearn %r" % (k, j[k], v))
# sklearn's threshold list is the distinct scores; the F1 tie rule (highest threshold) may pick
# another of equal F1, so check the reported threshold's own F1
thr = j["image_threshold"]
tp = ((s >= thr) & (y == 1)).sum(); fp = ((s >= thr) & (y == 0)).sum()
if not close(2 * tp / (tp + fp + y.sum()), f, 1e-9): bad.append("image threshold %r has F1 %r, best %r" % (thr, 2 * tp / (tp + fp + y.sum()), f))
pf, _ = f1max(px["label"], px["score"])
if not (j["pixel_f1"] <= pf + 1e-12 and pf <= j["pixel_f1"] + j["pixel_f1_bound"] + 1e-12):
    bad.append("pixel F1 %r (bound %r), exact %r" % (j["pixel_f1"], j["pixel_f1_bound"], pf))
img_type = t[px["image"].astype(int)]
for ty in j["types"]:
    i = ty["id"]
    if i == 0:
        if ty["image_auroc"] is not None or ty["pixel_auroc"] is not None: bad.append("good type not n/a")
        continue
    sel = (t == 0) | (t == i)
    v = roc_auc_score((t[sel] == i).astype(int), s[sel])
    if not close(ty["image_auroc"], v, 1e-9): bad.append("type %s image AUROC %r, sklearn %r" % (ty["name"], ty["image_auroc"], v))
    ps = (img_type == 0) | (img_type == i)
    v = roc_auc_score(px["label"][ps], px["score"][ps])
    if not close(ty["pixel_auroc"], v, 1e-9): bad.append("type %s pixel AUROC %r, sklearn %r" % (ty["name"], ty["pixel_auroc"], v))
    if ty["images"] != int((t == i).sum()): bad.append("type %s count" % ty["name"])
if len(j["worst_false_positives"]) != 2 or len(j["worst_false_negatives"]) != 2: bad.append("worst lists")
goods = sorted(s[y == 0], reverse=True)[:2]
if [w["score"] for w in j["worst_false_positives"]] != [float(np.float32(g)) for g in goods]:
    if not all(close(w["score"], g, 1e-7) for w, g in zip(j["worst_false_positives"], goods)): bad.append("false positives are not the highest good scores")
for b in bad: print(b)
sys.exit(1 if bad else 0)
PY

# the image AUROC's bootstrap interval: with eval_bootstrap=4000 (2 ranks) it is the metric's own
# (tests/test_metrics --labels: 4000 resamples, 95 %, seed 0) on the scores and labels in index
# order; every defect type has one, the good type none; in /metrics; eval_bootstrap=0 turns it off
drv=${SERNET_BUILD_DIR:-$PWD}/test_metrics
mpiexec -n 2 --oversubscribe "$bin" eval --results "$tmp/results.h5" --data "$tmp/data.h5" --set eval_bootstrap=4000 \
  --json "$tmp/ci.json" --report "$tmp/ci_report" --no-write-results >"$tmp/ci.txt" 2>&1 || { bad "eval eval_bootstrap=4000"; cat "$tmp/ci.txt"; }
$py -c "
import numpy as np, sys
im = np.genfromtxt(sys.argv[1], delimiter=',', names=True)
np.savetxt(sys.argv[2], np.column_stack([im['score'], im['label']]), fmt=['%.9g', '%d'])" "$tmp/images.csv" "$tmp/labels.txt" &&
  "$drv" --labels "$tmp/labels.txt" >"$tmp/drv.txt" || bad "the metric's driver on images.csv"
$py - "$tmp/ci.json" "$tmp/drv.txt" "$tmp/r1/results_metrics.json" <<'PY' && ok || bad "image AUROC interval (see above)"
import json, sys
j = json.load(open(sys.argv[1]))
d = dict(l.split() for l in open(sys.argv[2]))
r1 = json.load(open(sys.argv[3]))
bad = []
lo, hi = j["image_auroc_ci"]
if abs(lo - float(d["ci_lo"])) > 1e-12 or abs(hi - float(d["ci_hi"])) > 1e-12:
    bad.append("interval %r, the metric's own [%s, %s]" % (j["image_auroc_ci"], d["ci_lo"], d["ci_hi"]))
if (j["ci_level"], j["ci_resamples"], r1["ci_level"], r1["ci_resamples"]) != (0.95, 4000, 0.95, 1000):
    bad.append("level / resamples %r %r" % ((j["ci_level"], j["ci_resamples"]), (r1["ci_level"], r1["ci_resamples"])))
for ty in r1["types"]:
    ci = ty["image_auroc_ci"]
    if ty["id"] == 0 and ci is not None: bad.append("the good type has an interval")
    if ty["id"] > 0 and not (ci and 0 <= ci[0] <= ty["image_auroc"] <= ci[1] <= 1):
        bad.append("type %s: interval %r around %r" % (ty["name"], ci, ty["image_auroc"]))
for b in bad: print(b)
sys.exit(1 if bad else 0)
PY
grep -q "image AUROC .*95% interval [0-9.]*-[0-9.]* (bootstrap, 4000 resamples)" "$tmp/ci.txt" &&
  grep -q "| image AUROC | .* | 95% interval" "$tmp/ci_report/report.md" && ok || bad "interval not in the table or report.md"
h5dump -a /metrics/image_auroc_ci_low "$tmp/r2/results.h5" 2>/dev/null | grep -q DATA &&
  h5ls "$tmp/r2/results.h5/metrics" 2>/dev/null | grep -q type_image_auroc_ci_high && ok || bad "/metrics interval missing"
"$bin" eval --results "$tmp/results.h5" --data "$tmp/data.h5" --set eval_bootstrap=0 --json "$tmp/noci.json" \
  --report "$tmp/noci_report" --no-write-results >"$tmp/noci.txt" 2>&1 && ! grep -q "interval [0-9]" "$tmp/noci.txt" &&
  $py -c "import json, sys; j = json.load(open(sys.argv[1])); sys.exit(j['image_auroc_ci'] is not None)" "$tmp/noci.json" &&
  ok || bad "eval_bootstrap=0 still gives an interval"

# /metrics in the results file; the inference datasets still there
h5dump -a /metrics/pixel_threshold "$tmp/r2/results.h5" 2>/dev/null | grep -q "DATA" && ok || bad "/metrics pixel_threshold missing"
h5ls "$tmp/r2/results.h5/metrics" 2>/dev/null | grep -q type_pixel_auroc && ok || bad "/metrics/type_pixel_auroc missing"
h5ls "$tmp/r2/results.h5" 2>/dev/null | grep -q "^maps" && ok || bad "/maps lost by the rewrite"
ls "$tmp/r2"/*.tmp* >/dev/null 2>&1 && bad "temporary files left" || ok

# report folder: markdown, SVG, PNG panels (signature, IHDR of 5 tiles of 32)
r="$tmp/r3/results_report"
[ -s "$r/report.md" ] && grep -q "roc_pixel.svg" "$r/report.md" && grep -q "fn_2.png" "$r/report.md" && ok || bad "report.md"
for f in roc_image roc_pixel pro; do
  $py -c "import sys, xml.etree.ElementTree as E; assert E.parse(sys.argv[1]).getroot().tag.endswith('svg')" "$r/$f.svg" 2>/dev/null && ok || bad "$f.svg"
done
for f in fp_1 fp_2 fn_1 fn_2; do
  $py -c "
import sys, struct
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n' and b[12:16] == b'IHDR'
w, h = struct.unpack('>II', b[16:24]); assert h > 32 and w >= 5 * 32
" "$r/$f.png" 2>/dev/null && ok || bad "$f.png not a valid panel"
done
[ -e "$r/fp_3.png" ] && bad "more panels than --worst" || ok

# --json / --report / --no-write-results
cp "$tmp/results.h5" "$tmp/keep.h5"
"$bin" eval --results "$tmp/keep.h5" --data "$tmp/data.h5" --json "$tmp/m.json" --report "$tmp/rep" \
  --no-write-results --worst 0 >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 0 ] && [ -s "$tmp/m.json" ] && grep -q "None listed (--worst 0)" "$tmp/rep/report.md" &&
  [ ! -e "$tmp/rep/fp_1.png" ] && cmp -s "$tmp/keep.h5" "$tmp/results.h5" && ok ||
  { bad "--json/--report/--no-write-results (exit $rc)"; cat "$tmp/err"; }

# bad inputs
"$bin" synth --out "$tmp/d64.h5" --size 64 >/dev/null 2>&1
expect_fail() { # expect_fail WHAT CODE PATTERN ARGS...  (2 ranks when NP=2 is set)
  local what=$1 code=$2 pat=$3; shift 3
  if [ "${NP:-1}" = 2 ]; then mpiexec -n 2 --oversubscribe "$bin" eval "$@" >/dev/null 2>"$tmp/err"
  else "$bin" eval "$@" >/dev/null 2>"$tmp/err"; fi; local rc=$?
  [ $rc = "$code" ] && grep -q -- "$pat" "$tmp/err" && ok || { bad "$what: exit $rc"; cat "$tmp/err"; }
}
expect_fail "missing results file" 1 "nothere.h5: cannot open" --results "$tmp/nothere.h5" --data "$tmp/data.h5"
NP=2 expect_fail "incomplete results file (2 ranks)" 1 "incomplete.h5: incomplete results file" --results "$tmp/incomplete.h5" --data "$tmp/data.h5"
NP=2 expect_fail "dataset of another size (2 ranks)" 1 "does not match dataset" --results "$tmp/results.h5" --data "$tmp/d64.h5"
expect_fail "dataset is a results file" 1 "results.h5" --results "$tmp/results.h5" --data "$tmp/results.h5"
echo "not hdf5" >"$tmp/text.h5"
expect_fail "results file not HDF5" 1 "text.h5: not an HDF5 file" --results "$tmp/text.h5" --data "$tmp/data.h5"
expect_fail "no --data" 2 "required" --results "$tmp/results.h5"
cmp -s "$tmp/keep.h5" "$tmp/results.h5" && ok || bad "a failed eval modified the results file"

# end to end on a real results file: a tiny model (as tests/infer_cli.sh), sernet infer, eval
e=$tmp/e2e; mkdir "$e"
"$bin" synth --out "$e/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$e/err" &&
"$bin" train --data "$e/syn.h5" --category weave --quiet --set image_size=32 --set seg_width=4 \
  --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 \
  --set calib_samples=16 --set seed=3 --set threads=1 --stage all --out "$e/m.h5" >/dev/null 2>"$e/err" &&
"$bin" infer --model "$e/m.h5" --data "$e/syn.h5" --category weave --set threads=1 --out "$e/r.h5" \
  >/dev/null 2>"$e/err" &&
mpiexec -n 2 --oversubscribe "$bin" eval --results "$e/r.h5" --data "$e/syn.h5" --worst 1 >"$e/out" 2>"$e/err" &&
  $py -m json.tool "$e/r_metrics.json" >/dev/null && [ -s "$e/r_report/fn_1.png" ] &&
  h5dump -a /metrics/pixel_threshold "$e/r.h5" 2>/dev/null | grep -q DATA && h5ls "$e/r.h5" | grep -q "^seg_masks" &&
  ok || { bad "end to end: train, infer, eval"; cat "$e/err"; }

# --store-thresholds: eval's F1-optimal thresholds into the model; score's verdicts then pick
# exactly the images at or above eval's image threshold
cp "$e/m.h5" "$e/m0.h5"
mpiexec -n 2 --oversubscribe "$bin" eval --results "$e/r.h5" --data "$e/syn.h5" --no-write-results \
  --store-thresholds >"$e/st.out" 2>"$e/err" && grep -q "thresholds: $e/m.h5: image" "$e/st.out" &&
  [ ! -e "$e/m.h5.tmp" ] && ok || { bad "eval --store-thresholds"; cat "$e/err"; }
t_eval=$($py -c "import json,sys; print('%.17g' % json.load(open(sys.argv[1]))['image_threshold'])" "$e/r_metrics.json")
t_img=$(h5dump -a /thresholds/image -m %.17g "$e/m.h5" | awk '/\(0\)/{print $2}')
h5dump -a /thresholds/source "$e/m.h5" | grep -q "eval F1-optimal on $e/syn.h5" &&
  $py -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(not (a < b and b - a < 1e-12 * b))" "$t_img" "$t_eval" && ok ||
  bad "stored image threshold $t_img is not just below eval's $t_eval"
h5dump -a /thresholds/pixel "$e/m.h5" | grep -q DATA && ok || bad "no pixel threshold stored"
"$bin" eval --results "$e/r.h5" --data "$e/syn.h5" --no-write-results --store-thresholds --model "$e/m_other.h5" \
  >/dev/null 2>"$e/err"; [ $? = 1 ] && grep -q "m_other.h5" "$e/err" && ok || bad "--store-thresholds into a missing model: exit 1 naming it"
"$bin" train --data "$e/syn.h5" --category weave --quiet --set image_size=32 --set seg_width=4 \
  --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 \
  --set calib_samples=16 --set seed=4 --set threads=1 --stage all --out "$e/m4.h5" >/dev/null 2>&1
cp "$e/m4.h5" "$e/m4_keep.h5"
"$bin" eval --results "$e/r.h5" --data "$e/syn.h5" --no-write-results --store-thresholds --model "$e/m4.h5" \
  >/dev/null 2>"$e/err"; [ $? = 1 ] && grep -q "fingerprint" "$e/err" && cmp -s "$e/m4.h5" "$e/m4_keep.h5" && ok ||
  bad "--store-thresholds into another model: refused (fingerprint), file unchanged"
"$bin" eval --baseline sobel --data "$e/syn.h5" --category weave --store-thresholds >/dev/null 2>&1; [ $? = 2 ] && ok ||
  bad "--store-thresholds with a baseline: usage error"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
