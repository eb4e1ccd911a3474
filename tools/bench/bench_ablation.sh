#!/usr/bin/env bash
# One-factor ablation of detection quality (a benchmark, not a CI test): each variant changes one
# setting against the reference of tools/bench/bench_quality.sh (S 256, width 16/16, lr 5e-4, the given
# steps per stage) on one category. Factors that shape training retrain the whole pipeline;
# factors that act only at inference (repair threshold, anomaly-map keys) re-run infer + eval on
# the reference variant's model (same nets, so the row differs from the reference by that factor
# alone). One row per variant is appended to OUTDIR/ablation.md as soon as it finishes, so an
# interrupted run keeps its figures; a variant already in the table is skipped.
#
#   tools/bench/bench_ablation.sh [OUTDIR]       (default /tmp/sernet-ablation)
#
# Environment: CATEGORY (metal_plate), STEPS_SEG / STEPS_REC (250 / 250), RANKS (2),
# VARIANTS (names from the list below, default all, in that order), SERNET_BIN.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-/tmp/sernet-ablation}
CATEGORY=${CATEGORY:-metal_plate} STEPS_SEG=${STEPS_SEG:-250} STEPS_REC=${STEPS_REC:-250}
export RANKS=${RANKS:-2}
bin=${SERNET_BIN:-$here/build/sernet}
export SERNET_BIN=$bin
mkdir -p "$out"

# name | kind (train: retrain; infer: reference model) | environment for bench_quality.sh |
# --set words | what changes (paper value where it applies)
variants=(
  "reference|train||| S 256, width 16/16, lr 5e-4 (METHOD.md 1e-4), two milestones x0.2, tau auto, box 21"
  "seed_1|train||--set seed=1| the reference with another seed: the run-to-run spread that any other row must exceed"
  "no_repair|infer||--set repair_threshold=1| repair never fires (tau 1): the reconstruction net alone"
  "tau_0.5|infer||--set repair_threshold=0.5| tau fixed at 0.5 instead of calibrated"
  "box_11|infer||--set box_size=11| anomaly-map box 11 (METHOD.md 21)"
  "box_41|infer||--set box_size=41| anomaly-map box 41 (METHOD.md 21)"
  "color_0|infer||--set color_weight=0| no colour term (METHOD.md c = 0.001)"
  "color_0.01|infer||--set color_weight=0.01| colour term x10 (METHOD.md c = 0.001)"
  "msgms_1|infer||--set msgms_scales=1| one gradient scale (METHOD.md 4)"
  "color_0.1|infer||--set color_weight=0.1| colour term x100 (METHOD.md c = 0.001)"
  "msgms_2|infer||--set msgms_scales=2| two gradient scales (METHOD.md 4)"
  "msgms_1_color_0.01|infer||--set msgms_scales=1 --set color_weight=0.01| one gradient scale and colour x10 together"
  "msgms_1_box_11|infer||--set msgms_scales=1 --set box_size=11| one gradient scale and box 11 together"
  "register_rigid|infer||--set repair_register=rigid| repair pastes the similar image rotated, scaled and shifted onto the test image (METHOD.md: as found)"
  "size_128|train|SIZE=128|| S 128 instead of 256"
  "lr_1e-4|train|LR=1e-4|| lr 1e-4 (METHOD.md's value)"
  "rec_width_32|train|REC_WIDTH=32|| rec width 32 (METHOD.md: 64)"
  "lr_const|train||--set lr_decay=1| constant lr (no milestones)"
  "beta_max_0.5|train||--set beta_max=0.5| PPA blend beta ~ U[0, 0.5] (METHOD.md 0.8): the source image weighs at least 0.5, so no faint pseudo-anomalies"
  "seg_width_32|train|SEG_WIDTH=32|| seg width 32 (METHOD.md's value)"
  "lr_seg_1e-4|train||--set lr_seg=1e-4| segmentation stage at lr 1e-4, reconstruction at the reference's 5e-4 (METHOD.md: one rate, 1e-4, for both)"
  "lr_seg_1e-4_seed_1|train||--set lr_seg=1e-4 --set seed=1| lr_seg_1e-4 with seed 1: its own spread, against seed_1"
  "dpa_faint|train||--set dpa_strength_min=0.2| DPA strength s ~ U[0.2, 1] scales alpha and gamma - 1 (METHOD.md: full strength, abs(alpha) >= 0.1)"
)
want=${VARIANTS:-$(printf '%s\n' "${variants[@]}" | cut -d'|' -f1 | paste -sd' ')}
table=$out/ablation.md
[ -f "$table" ] || {
  echo "| variant | change | steps seg / rec | image AUROC | pixel AUROC | AUPRO | tau | calib recall | seg pixel AUROC (fresh PPA) | repaired test images | wall s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$table"

# one table row from a finished variant directory: metrics JSON, the calibration line of the
# training log, the results file's repaired-image count
row() { # name what dir log wall
  local cal tau rec sauc
  cal=$(grep -h 'train calib: tau' "$4" 2>/dev/null | tail -1 || true)
  tau=${TAU_FIXED:-$(sed -n 's/.*tau \([0-9.]*\).*/\1/p' <<<"$cal")}
  rec=$(sed -n 's/.*recall \([0-9.]*\).*/\1/p' <<<"$cal")
  sauc=$(sed -n 's/.*pixel AUROC \([0-9.]*\).*/\1/p' <<<"$cal")
  /usr/bin/python3 - "$@" "$STEPS_SEG / $STEPS_REC" "${tau:-?}" "${rec:-?}" "${sauc:-n/a}" <<'PY'
import json, subprocess, sys
name, what, d, log, wall, steps, tau, rec, sauc = sys.argv[1:]
try:
    o = json.load(open(d + "/results_metrics.json"))
    o = o.get("overall", o)
    f = lambda k: "n/a" if o.get(k) is None else "%.3f" % o[k]
    img, pix, pro = f("image_auroc"), f("pixel_auroc"), f("aupro")
    if o.get("image_auroc_ci"):  # eval's 95 % bootstrap interval over the test images
        img += " [%.3f, %.3f]" % tuple(o["image_auroc_ci"])
except (OSError, ValueError):
    img = pix = pro = "(failed: see %s)" % log
rep = subprocess.run(["h5dump", "-a", "/repaired_images", d + "/results.h5"], capture_output=True, text=True).stdout
rep = [l.split()[-1] for l in rep.splitlines() if "(0)" in l]
print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (name, what.strip(), steps, img, pix, pro, tau, rec, sauc, rep[0] if rep else "?", wall))
PY
}

for v in "${variants[@]}"; do
  IFS='|' read -r name kind envs sets what <<<"$v"
  [[ " $want " == *" $name "* ]] || continue
  if grep -q "^| $name |" "$table"; then echo "$name: already in $table"; continue; fi
  dir=$out/$name
  start=$(date +%s)
  if [ "$kind" = train ]; then
    # shellcheck disable=SC2086
    env $envs CATEGORIES="$CATEGORY" STEPS_SEG="$STEPS_SEG" STEPS_REC="$STEPS_REC" EXTRA_SETS="$sets" \
      bash "$here/tools/bench/bench_quality.sh" "$dir" >"$dir.table" 2>&1 || true
    log=$dir/$CATEGORY.log
  else
    ref=$out/reference/$CATEGORY
    [ -f "$ref/model.h5" ] || { echo "$name: needs the reference variant's model ($ref/model.h5)" >&2; continue; }
    mkdir -p "$dir/$CATEGORY"
    log=$dir/$CATEGORY.log
    # shellcheck disable=SC2086
    { "$here/jobs/run.sh" -n "$RANKS" infer --model "$ref/model.h5" --data "$ref/data.h5" --category "$CATEGORY" \
        --out "$dir/$CATEGORY/results.h5" --force $sets &&
      "$here/jobs/run.sh" -n "$RANKS" eval --results "$dir/$CATEGORY/results.h5" --data "$ref/data.h5"
    } >"$log" 2>&1 || echo "$name: infer/eval failed, see $log" >&2
    grep -h 'train calib: tau' "$out/reference/$CATEGORY.log" >>"$log" 2>/dev/null || true
  fi
  wall=$(( $(date +%s) - start ))
  fixed=$(sed -n 's/.*repair_threshold=\([0-9.]*\).*/\1 (fixed)/p' <<<"$sets")
  TAU_FIXED=$fixed row "$name" "$what" "$dir/$CATEGORY" "$log" "$wall" | sed 's/  */ /g' >>"$table"
  echo "$name done in $wall s"
done
cat "$table"
