#!/usr/bin/env bash
# Perceptual hash and Hamming search figures (docs/phash.md): `sernet-bench bench-phash` on one thread
# (hashes/s at 256x256 and 1024x1024; query time at 1e6 and 1e7 random hashes; in-cache kernel
# rates at 16384 hashes), then `sernet index` of a synthetic dataset at 1 and 2 ranks.
# Usage: tools/bench/bench_phash.sh; needs a built sernet and sernet-bench in ${SERNET_BUILD_DIR:-build}.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${SERNET_BUILD_DIR:-$here/build}/sernet
bench=${SERNET_BUILD_DIR:-$here/build}/sernet-bench
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d /tmp/sn_bench_phash.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(getconf _NPROCESSORS_ONLN) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" bench-phash
echo "in-cache kernel rates:"
"$bench" bench-phash --images 1 --index-sizes 16384 --queries 20000 | sed -n '/index of/,$p'
"$bin" synth --out "$tmp/s.h5" --size 256 >/dev/null
for np in 1 2; do
  mpiexec -n $np --oversubscribe "$bin" index --force "$tmp/s.h5"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
