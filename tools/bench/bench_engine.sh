#!/usr/bin/env bash
# The engine benchmark, side by side with PyTorch: for each net (seg, rec) and mode (train,
# infer), sernet and the identical PyTorch model (tools/bench/torch_bench.py) run one after the
# other in fresh processes at the same thread count, and the ratios are printed. PyTorch runs
# twice: as users run it, and with glibc told to keep freed memory (--keep-heap), which spares
# it the page faults of re-mapping its activations every iteration (faster, more memory).
#   tools/bench/bench_engine.sh [threads=2] [iters=3] [width=32] [size=256] [batch=8]
# Set SERNET_BENCH_BIN to benchmark another build (e.g. build-openblas/sernet-bench).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
threads=${1:-2} iters=${2:-3} width=${3:-32} size=${4:-256} batch=${5:-8}
bin=${SERNET_BENCH_BIN:-$here/build/sernet-bench}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || { echo "bench_engine: python3-torch is not installed (apt-get install python3-torch)"; exit 1; }

field() { sed -n "s/.*\"$1\": \"\{0,1\}\([^,\"}]*\).*/\1/p"; }
printf "%-4s %-5s | %10s %10s %7s | %12s %7s | %10s %10s | %9s %9s %9s\n" net mode "sernet i/s" "torch i/s" ratio \
  "torch-keep i/s" ratio "sernet GF/s" "torch GF/s" "sernet MB" "torch MB" "t-keep MB"
for net in seg rec; do
  for mode in train infer; do
    it=$iters; [ "$mode" = infer ] && it=$((iters * 3))
    s=$(OMP_NUM_THREADS=$threads "$bin" bench --net "$net" --mode "$mode" --width "$width" --size "$size" \
          --batch "$batch" --threads "$threads" --warmup 1 --iters "$it")
    t=$($py "$here/tools/bench/torch_bench.py" --net "$net" --mode "$mode" --width "$width" --size "$size" \
          --batch "$batch" --threads "$threads" --warmup 1 --iters "$it")
    k=$($py "$here/tools/bench/torch_bench.py" --net "$net" --mode "$mode" --width "$width" --size "$size" \
          --batch "$batch" --threads "$threads" --warmup 1 --iters "$it" --keep-heap)
    si=$(echo "$s" | field images_per_s); ti=$(echo "$t" | field images_per_s); ki=$(echo "$k" | field images_per_s)
    printf "%-4s %-5s | %10.3f %10.3f %6.2fx | %12.3f %6.2fx | %10.1f %10.1f | %9.0f %9.0f %9.0f\n" "$net" "$mode" \
      "$si" "$ti" "$(awk -v a="$si" -v b="$ti" 'BEGIN{print a/b}')" "$ki" "$(awk -v a="$si" -v b="$ki" 'BEGIN{print a/b}')" \
      "$(echo "$s" | field gflops)" "$(echo "$t" | field gflops_per_s)" \
      "$(echo "$s" | field peak_rss_mb)" "$(echo "$t" | field peak_rss_mb)" "$(echo "$k" | field peak_rss_mb)"
  done
done
echo "GEMM: $(echo "$s" | field gemm); machine SGEMM rate at $threads threads: $(echo "$s" | field sgemm_peak_gflops) GFLOP/s"
