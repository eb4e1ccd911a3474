#!/usr/bin/env bash
# bf16 against float32 inference (not a CI test): speed of one net side by side in one process,
# then detection quality on trained models.
#
#   tools/bench/bench_bf16.sh OUTDIR MODEL.h5 DATA.h5 CATEGORY [MODEL.h5 DATA.h5 CATEGORY]...
#
# 1. `sernet-bench bench --mode infer --precision both` for the rec and the seg net (width 32,
#    S 256, batch 8; fp32 and bf16 iterations alternate on the same net and batch).
# 2. For each model: `sernet infer` with precision = fp32 and = bf16 (RANKS ranks x 1 thread),
#    `sernet eval` of both, and `sernet-bench results-diff` of the two results files; prints one
#    table row per model and precision (image AUROC, pixel AUROC, AUPRO, pixel AP) and the score,
#    map and mask differences. Outputs stay under OUTDIR (the models and data are only read).
# Env: RANKS (2), THREADS (2, for step 1), ITERS (5), SKIP_ENGINE=1 skips step 1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bin=${SERNET_BIN:-$here/build/sernet}
bench=${SERNET_BENCH_BIN:-$(dirname "$bin")/sernet-bench}
RANKS=${RANKS:-2} THREADS=${THREADS:-2} ITERS=${ITERS:-5}
[ $# -ge 1 ] && [ $(( ($# - 1) % 3 )) = 0 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
out=$1; shift
mkdir -p "$out"
echo "bf16 benchmark, $(date -u +%FT%TZ), $("$bin" --version | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), AVX512_BF16: $(grep -qw avx512_bf16 /proc/cpuinfo && echo yes || echo no)"

if [ "${SKIP_ENGINE:-0}" != 1 ]; then
  for net in rec seg; do
    echo "--- engine, $net net, inference, $THREADS threads: OMP_NUM_THREADS=$THREADS $bench bench --net $net --mode infer --threads $THREADS --warmup 1 --iters $ITERS --precision both"
    OMP_NUM_THREADS=$THREADS "$bench" bench --net "$net" --mode infer --threads "$THREADS" --warmup 1 --iters "$ITERS" --precision both
  done
fi

json() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.e+]*\).*/\1/p" "$1" | head -1; }
while [ $# -ge 3 ]; do
  model=$1 data=$2 cat=$3; shift 3
  dir=$out/$cat
  mkdir -p "$dir"
  echo "--- quality, $cat: $model on $data, $RANKS ranks x 1 thread"
  for p in fp32 bf16; do
    start=$(date +%s)
    mpiexec -n "$RANKS" --oversubscribe "$bin" infer --model "$model" --data "$data" --category "$cat" \
      --out "$dir/results_$p.h5" --force --quiet --set threads=1 --set precision=$p >"$dir/infer_$p.log" 2>&1 ||
      { echo "$cat $p: infer failed, see $dir/infer_$p.log" >&2; exit 1; }
    secs=$(( $(date +%s) - start ))
    mpiexec -n "$RANKS" --oversubscribe "$bin" eval --results "$dir/results_$p.h5" --data "$data" \
      --json "$dir/metrics_$p.json" --no-write-results >"$dir/eval_$p.log" 2>&1 ||
      { echo "$cat $p: eval failed, see $dir/eval_$p.log" >&2; exit 1; }
    m=$dir/metrics_$p.json
    printf '%-14s %-5s image AUROC %.6f  pixel AUROC %.6f  AUPRO %.6f  pixel AP %.6f  (infer %d s)\n' "$cat" "$p" \
      "$(json "$m" image_auroc)" "$(json "$m" pixel_auroc)" "$(json "$m" aupro)" "$(json "$m" pixel_ap)" "$secs"
  done
  "$bench" results-diff "$dir/results_fp32.h5" "$dir/results_bf16.h5"
done
