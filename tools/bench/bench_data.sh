#!/usr/bin/env bash
# Data-layer throughput: ingest of ../shared/data/mpdd (metal_plate, 512x512 PNGs -> S x S) at 1
# and 2 ranks, and the sharded training loader at 1 and 2 ranks. Prints the figures recorded in
# docs/data.md. Usage: tools/bench/bench_data.sh [S] (default 256); needs a built sernet in
# ${SERNET_BUILD_DIR:-build}.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${SERNET_BUILD_DIR:-$here/build}/sernet
bench=${SERNET_BUILD_DIR:-$here/build}/sernet-bench
shared=${SERNET_SHARED_DIR:-$here/../shared}
size=${1:-256}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d /tmp/sn_bench_data.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(getconf _NPROCESSORS_ONLN) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for np in 1 2; do
  # first run warms the page cache; the second is reported
  mpiexec -n $np --oversubscribe "$bin" ingest --root "$shared/data/mpdd" --category metal_plate \
    --size "$size" --out "$tmp/warm$np.h5" >/dev/null
  echo "ingest, $np rank(s):"
  mpiexec -n $np --oversubscribe "$bin" ingest --root "$shared/data/mpdd" --category metal_plate \
    --size "$size" --out "$tmp/mpdd$np.h5" | sed 's/^/  /'
done
for np in 1 2; do
  echo "loader, $np rank(s), global batch 8, 5 epochs:"
  mpiexec -n $np --oversubscribe "$bench" loadbench "$tmp/mpdd1.h5" --batch 8 --epochs 5 | sed 's/^/  /'
done
