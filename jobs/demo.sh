#!/usr/bin/env bash
# The demo command: set up (install missing packages, configure, build), make the embedded
# synthetic inspection dataset, then run the whole pipeline on 2 MPI ranks: the pseudo-anomalies,
# SeRNet's two-stage training (configs/demo.ini), distributed inference, evaluation with its
# report, and the per-image panels. A few minutes on 2 cores; ends with the metrics table and
# where everything is.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=${SERNET_DEMO_OUT:-$here/out/demo}
bin=$here/build/sernet

SERNET_BUILD_DIR=$here/build bash "$here/jobs/setup.sh"
mkdir -p "$out"
"$bin" --version

echo "== 1. the embedded synthetic dataset (2 ranks)"
mpirun -np 2 --oversubscribe "$bin" synth --out "$out/synth.h5" --size 128 --seed 1 --force
"$bin" info "$out/synth.h5" | head -n 25
"$bin" synth --preview "$out/synth_examples.png" --size 128 --seed 1 --force >/dev/null

echo "== 2. pseudo-anomalies the nets train on"
mpirun -np 2 --oversubscribe "$bin" pseudo --data "$out/synth.h5" --category weave --kind ppa --count 4 --out "$out/pseudo_ppa" >/dev/null
mpirun -np 2 --oversubscribe "$bin" pseudo --data "$out/synth.h5" --category flange --kind dpa --count 4 --out "$out/pseudo_dpa" >/dev/null

echo "== 3. training: segmentation stage, repair-threshold calibration, reconstruction stage (2 ranks)"
SERNET_PROGRESS=lines mpirun -np 2 --oversubscribe "$bin" train --config "$here/configs/demo.ini" \
  --data "$out/synth.h5" --category weave --out "$out/model.h5" --stage all

echo "== 4. inference: seg -> similar training image -> repair -> rec -> anomaly map (2 ranks)"
mpirun -np 2 --oversubscribe "$bin" infer --model "$out/model.h5" --data "$out/synth.h5" --category weave \
  --out "$out/results.h5" --force --quiet
echo "== 5. evaluation (2 ranks): metrics, JSON, report"
mpirun -np 2 --oversubscribe "$bin" eval --results "$out/results.h5" --data "$out/synth.h5" >"$out/metrics.txt"
echo "== 5b. the training-free baselines by the same eval code (a figure counts where SeRNet beats both)"
mpirun -np 2 --oversubscribe "$bin" eval --baseline sobel --results "$out/results.h5" --data "$out/synth.h5" >"$out/baseline_sobel.txt"
mpirun -np 2 --oversubscribe "$bin" eval --baseline fixed --results "$out/results.h5" --data "$out/synth.h5" >"$out/baseline_fixed.txt"
echo "== 6. panels: image | ground truth | anomaly map | predicted mask | reconstruction (2 ranks)"
mpirun -np 2 --oversubscribe "$bin" export --results "$out/results.h5" --data "$out/synth.h5" --out "$out/panels" --quiet
echo
cat "$out/metrics.txt"
echo
echo "baselines (no network), same eval code:"
for k in sobel fixed; do
  # the value follows each metric's name (notes such as the image AUROC's interval come after it)
  awk -v k="$k" '$1=="image"&&$2=="AUROC"{i=$3} $1=="pixel"&&$2=="AUROC"{p=$3} $1=="AUPRO"{a=$5}
    END{printf "  %-6s image AUROC %s  pixel AUROC %s  AUPRO %s\n", k, i, p, a}' "$out/baseline_$k.txt"
done
echo
echo "demo outputs in $out:"
echo "  synth.h5             the synthetic dataset (sernet info $out/synth.h5)"
echo "  synth_examples.png   a grid of training and test images with their defect masks"
echo "  pseudo_ppa/, pseudo_dpa/   sheets: clean | mask | pseudo-anomalous"
echo "  model.h5             both trained nets, the calibrated repair threshold, the losses"
echo "  model_loss.svg       the loss curves"
echo "  results.h5           scores, anomaly maps, masks, reconstructions, neighbours (docs/formats.md)"
echo "  results_report/      report.md with ROC and PRO curves and the worst false positives/negatives"
echo "  results_metrics.json the metrics as JSON"
echo "  panels/              one PNG per test image (panels/index.md lists them by score)"
