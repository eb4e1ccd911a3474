#!/usr/bin/env bash
# Quality benchmark (not a CI test): the whole pipeline (ingest -> train both stages -> infer ->
# eval) at image size S on the synthetic set (weave, flange) and on the shared real data
# (../shared/data/glass/glass, ../shared/data/mpdd/metal_plate), then one table of image AUROC,
# pixel AUROC and AUPRO with the training budget used, next to two training-free baselines
# (sernet eval --baseline sobel / fixed) computed by the same eval code. The image AUROC comes
# with eval's 95 % bootstrap interval over the test images: a target inside it is not missed by
# more than the test set can tell.
#
#   tools/bench/bench_quality.sh [OUTDIR]        (default /tmp/sernet-quality)
#   (jobs/bench_quality.sh runs this script)
#
# Environment: SIZE (256), RANKS (2), STEPS_SEG and STEPS_REC (2000 each, the budget at which
# docs/quality.md quotes the targets; about 2 h 20 min for the four sets on 2 cores): training steps
# per stage, turned into whole epochs per dataset from its number of training images (global batch 8);
# or MINUTES: a training-time budget per category instead, turned into the same number of steps
# for both stages from a timed probe run of each stage on this machine with these settings
# (written to OUTDIR/<category>/budget.txt; ingest, calibration, inference and eval come on top);
# SEG_WIDTH/REC_WIDTH (16/16), LR (5e-4), CATEGORIES (weave flange glass metal_plate),
# STAGES (ingest,train,infer,eval), EXTRA_SETS (more "--set key=value" words for every stage, e.g.
# for an ablation, tools/bench/bench_ablation.sh; the synthetic sets are drawn with them too, so
# "--set seed=1" there also draws another weave or flange set), TRAIN_SETS (words for training,
# inference and eval only: "--set seed=1" there retrains on the same data), SYNTH_TEST_COPIES (4:
# the synthetic test splits are 4 copies of the layout, 240 weave and 264 flange images, for an
# image AUROC precise to about +-0.015 near 0.97; the first copy is the 1-copy split of runs
# before 2026-12-07, so 1 reproduces them).
# Re-running continues interrupted training and inference.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-/tmp/sernet-quality}
SIZE=${SIZE:-256} RANKS=${RANKS:-2} STEPS_SEG=${STEPS_SEG:-2000} STEPS_REC=${STEPS_REC:-2000}
SEG_WIDTH=${SEG_WIDTH:-16} REC_WIDTH=${REC_WIDTH:-16} LR=${LR:-5e-4}
CATEGORIES=${CATEGORIES:-weave flange glass metal_plate} STAGES=${STAGES:-ingest,train,infer,eval}
SYNTH_TEST_COPIES=${SYNTH_TEST_COPIES:-4}
shared=${SERNET_SHARED_DIR:-$here/../shared}
bin=${SERNET_BIN:-$here/build/sernet}
export SERNET_BIN=$bin
mkdir -p "$out"
sets=(--set image_size="$SIZE" --set seg_width="$SEG_WIDTH" --set rec_width="$REC_WIDTH" --set lr="$LR"
      --set checkpoint_every=50)
# shellcheck disable=SC2206
[ -z "${EXTRA_SETS:-}" ] || sets+=($EXTRA_SETS)
train_sets=()
# shellcheck disable=SC2206
[ -z "${TRAIN_SETS:-}" ] || train_sets=($TRAIN_SETS)

source_of() {
  case $1 in
    weave|flange) echo "--synth --category $1 --test-copies $SYNTH_TEST_COPIES" ;;
    glass) echo "--root $shared/data/glass --category glass" ;;
    metal_plate) echo "--root $shared/data/mpdd --category metal_plate" ;;
    *) echo "bench_quality: unknown category $1" >&2; exit 2 ;;
  esac
}
n_train() { h5ls -r "$1" | awk -v c="/$2/train/images" '$1==c{gsub(/[{},]/," "); print $3; exit}'; }

# MINUTES: seconds per training step of each stage, from a short run of both stages (at least 12
# steps each, with these settings, ranks and data) that reports its own step times; prints
# "<seg s/step> <rec s/step>".
probe_step_seconds() { # dir category steps-per-epoch
  local pe=$(( (12 + $3 - 1) / $3 ))
  rm -f "$1/probe.h5"
  "$here/jobs/run.sh" -n "$RANKS" train --stage all --config "$here/configs/default.ini" "${sets[@]}" \
    "${train_sets[@]}" --set epochs_seg="$pe" --set epochs_rec="$pe" --set calib_samples=16 --set checkpoint_every=0 \
    --data "$1/data.h5" --category "$2" --out "$1/probe.h5" >"$1/probe.log" 2>&1 \
    || { echo "bench_quality: the timing probe failed, see $1/probe.log" >&2; return 1; }
  awk '/^train (seg|rec): [0-9]+ steps in /{t[$2]=$6/$3} END{if(!t["seg:"]||!t["rec:"]) exit 1; print t["seg:"], t["rec:"]}' "$1/probe.log" \
    || { echo "bench_quality: no step times in $1/probe.log" >&2; return 1; }
  rm -f "$1/probe.h5" "$1/probe_loss.svg"
}

for c in $CATEGORIES; do
  dir=$out/$c
  # shellcheck disable=SC2046
  if [[ $STAGES == *ingest* ]]; then
    "$here/jobs/pipeline.sh" --out "$dir" $(source_of "$c") -n "$RANKS" --config "$here/configs/default.ini" \
      "${sets[@]}" --stages ingest >"$dir.log" 2>&1 || mkdir -p "$dir"
  fi
  n=$(n_train "$dir/data.h5" "$c")
  per=$(( n / 8 )); [ $per -ge 1 ] || per=1
  if [ -n "${MINUTES:-}" ] && [ -f "$dir/probe.txt" ]; then  # a re-run resumes with the same steps
    STEPS_SEG=$(sed -n 's/.* = \([0-9]*\) steps per stage$/\1/p' "$dir/probe.txt"); STEPS_REC=$STEPS_SEG
  elif [ -n "${MINUTES:-}" ]; then
    t=$(probe_step_seconds "$dir" "$c" "$per") || continue
    STEPS_SEG=$(awk -v m="$MINUTES" -v t="$t" 'BEGIN{split(t,a," "); s=int(m*60/(a[1]+a[2])); print s<1?1:s}')
    STEPS_REC=$STEPS_SEG
    echo "$c: probe $t s per seg / rec step at $RANKS rank(s): $MINUTES min of training = $STEPS_SEG steps per stage" >"$dir/probe.txt"
  fi
  es=$(( (STEPS_SEG + per - 1) / per )); er=$(( (STEPS_REC + per - 1) / per ))
  { echo "$c: $n training images, $per steps per epoch: epochs_seg $es, epochs_rec $er"
    echo "steps $((es * per)) $((er * per))"; cat "$dir/probe.txt" 2>/dev/null || true; } | tee "$dir/budget.txt"
  rest=$(echo "$STAGES" | tr ',' '\n' | grep -v '^ingest$' | paste -sd, -)
  [ -n "$rest" ] || continue
  start=$(date +%s)
  # shellcheck disable=SC2046
  "$here/jobs/pipeline.sh" --out "$dir" $(source_of "$c") -n "$RANKS" --config "$here/configs/default.ini" \
    "${sets[@]}" "${train_sets[@]}" --set epochs_seg="$es" --set epochs_rec="$er" --stages "$rest" --resume >>"$dir.log" 2>&1 \
    || { echo "$c: pipeline failed, see $dir.log" >&2; continue; }
  echo "$c: stages $rest took $(( $(date +%s) - start )) s" | tee -a "$dir/budget.txt"
done

# The two training-free baselines, by the same eval code (sernet eval --baseline): a SeRNet
# figure is evidence only where it clearly beats both.
for c in $CATEGORIES; do
  dir=$out/$c
  [ -f "$dir/results.h5" ] || continue
  "$here/jobs/run.sh" -n "$RANKS" eval --baseline sobel --results "$dir/results.h5" --data "$dir/data.h5" \
    --json "$dir/baseline_sobel.json" >>"$dir.log" 2>&1 || echo "$c: sobel baseline failed, see $dir.log" >&2
  "$here/jobs/run.sh" -n "$RANKS" eval --baseline fixed --results "$dir/results.h5" --data "$dir/data.h5" \
    --json "$dir/baseline_fixed.json" >>"$dir.log" 2>&1 || echo "$c: fixed baseline failed, see $dir.log" >&2
done

echo
echo "| category | train images | S | steps seg / rec | image AUROC [95 % interval] | pixel AUROC | AUPRO | repaired test images | Sobel baseline image / pixel / AUPRO | fixed-map baseline image / pixel / AUPRO |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for c in $CATEGORIES; do
  dir=$out/$c
  j=$dir/results_metrics.json
  [ -f "$j" ] || { echo "| $c | (no metrics: see $dir.log) |"; continue; }
  /usr/bin/python3 - "$j" "$dir" "$c" "$SIZE" <<'PY'
import json, sys, subprocess
j, d, c, size = sys.argv[1:]
m = json.load(open(j))
o = m.get("overall", m)
def f(k, o=o):
    v = o.get(k)
    return "n/a" if v is None else "%.3f" % v
def image(o=o):
    """the image AUROC with eval's bootstrap interval over the test images (docs/evaluation.md)"""
    ci = o.get("image_auroc_ci")
    return f("image_auroc", o) + (" [%.3f, %.3f]" % tuple(ci) if ci else "")
def base(kind):
    try:
        b = json.load(open("%s/baseline_%s.json" % (d, kind)))
    except OSError:
        return "n/a"
    b = b.get("overall", b)
    return " / ".join(f(k, b) for k in ("image_auroc", "pixel_auroc", "aupro"))
lines = open(d + "/budget.txt").read().splitlines()
ntr = lines[0].split()[1]
# the steps the run made (whole epochs); budget.txt of older runs has no "steps" line
st = [l.split()[1:3] for l in lines if l.startswith("steps ")]
ss, sr = st[0] if st else ("?", "?")
rep = subprocess.run(["h5dump", "-a", "/repaired_images", d + "/results.h5"], capture_output=True, text=True).stdout
rep = [l.split()[-1] for l in rep.splitlines() if "(0)" in l]
print("| %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |" % (c, ntr, size, ss, sr, image(), f("pixel_auroc"), f("aupro"), rep[0] if rep else "?", base("sobel"), base("fixed")))
PY
done
