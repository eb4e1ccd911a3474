#!/usr/bin/env bash
# One-factor ablation of detection quality (a benchmark, not a CI test): each variant changes one
# setting against the reference of tools/bench/bench_quality.sh (S 256, width 16/16, lr 5e-4, the given
# steps per stage) and runs the whole pipeline on one category. One row per variant is appended
# to OUTDIR/ablation.md as soon as the variant finishes, so an interrupted run keeps its figures.
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
mkdir -p "$out"

# name | environment for bench_quality.sh | --set words | what changes (paper value where it applies)
variants=(
  "reference||| S 256, width 16/16, lr 5e-4 (METHOD.md 1e-4), two milestones x0.2, tau auto, box 21"
  "no_repair||--set repair_threshold=1| repair never fires (tau 1): the reconstruction net alone"
  "tau_0.5||--set repair_threshold=0.5| tau fixed at 0.5 instead of calibrated"
  "lr_1e-4|LR=1e-4|| lr 1e-4 (METHOD.md's value)"
  "lr_const||--set lr_decay=1| constant lr (no milestones)"
  "size_128|SIZE=128|| S 128 instead of 256"
  "seg_width_32|SEG_WIDTH=32|| seg width 32 (METHOD.md's value)"
  "beta_max_0.5||--set beta_max=0.5| PPA blend beta ~ U[0, 0.5] (METHOD.md 0.8): fainter pseudo-anomalies"
  "box_11||--set box_size=11| anomaly-map box 11 (METHOD.md 21)"
  "rec_width_32|REC_WIDTH=32|| rec width 32 (METHOD.md: 64)"
)
want=${VARIANTS:-$(printf '%s\n' "${variants[@]}" | cut -d'|' -f1 | paste -sd' ')}
table=$out/ablation.md
[ -f "$table" ] || {
  echo "| variant | change | steps seg / rec | image AUROC | pixel AUROC | AUPRO | tau | calib recall | seg pixel AUROC (fresh PPA) | repaired test images | wall s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$table"

for v in "${variants[@]}"; do
  IFS='|' read -r name envs sets what <<<"$v"
  [[ " $want " == *" $name "* ]] || continue
  dir=$out/$name
  start=$(date +%s)
  # shellcheck disable=SC2086
  env $envs CATEGORIES="$CATEGORY" STEPS_SEG="$STEPS_SEG" STEPS_REC="$STEPS_REC" EXTRA_SETS="$sets" \
    bash "$here/tools/bench/bench_quality.sh" "$dir" >"$dir.table" 2>&1 || true
  wall=$(( $(date +%s) - start ))
  log=$dir/$CATEGORY.log
  row=$(grep "^| $CATEGORY |" "$dir.table" | tail -1 || true)
  cal=$(grep -h 'train calib: tau' "$log" 2>/dev/null | tail -1 || true)
  tau=$(sed -n 's/.*tau \([0-9.]*\).*/\1/p' <<<"$cal")
  rec=$(sed -n 's/.*recall \([0-9.]*\).*/\1/p' <<<"$cal")
  sauc=$(sed -n 's/.*pixel AUROC \([0-9.]*\).*/\1/p' <<<"$cal")
  IFS='|' read -r _ _ _ _ steps img pix aupro repaired _ <<<"$row"
  echo "| $name |$what | $steps | $img | $pix | $aupro | ${tau:-?} | ${rec:-?} | ${sauc:-n/a} | $repaired | $wall |" | sed 's/  */ /g' >>"$table"
  echo "$name done in $wall s"
done
cat "$table"
