#!/usr/bin/env bash
# Inference benchmark (not a CI test): the whole per-image pipeline of `sernet infer` (read,
# hash + nearest-neighbour search, seg, repair, rec, anomaly map, collective write) at 1 rank x 1
# thread, 1 rank x T threads and R ranks x 1 thread, side by side in one run, with the time split
# by stage and the parallel efficiency against 1 rank x 1 thread.
#
#   tools/bench/bench_infer.sh [MODEL.h5 DATA.h5 CATEGORY]
#
# Without arguments it makes the synthetic set at S (env SIZE, default 256) and trains a model for
# one epoch per stage (weights do not change the speed). Env: RANKS (2), THREADS (2), BATCH (8),
# REPEAT (2: best of).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bin=${SERNET_BIN:-$here/build/sernet}
SIZE=${SIZE:-256} RANKS=${RANKS:-2} THREADS=${THREADS:-2} BATCH=${BATCH:-8} REPEAT=${REPEAT:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $# -ge 3 ]; then
  model=$1 data=$2 cat=$3
else
  data=$tmp/syn.h5 model=$tmp/m.h5 cat=weave
  "$bin" synth --out "$data" --size "$SIZE" >/dev/null 2>&1
  mpirun -np 2 --oversubscribe "$bin" train --data "$data" --category weave --out "$model" --stage all --quiet \
    --set image_size="$SIZE" --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set threads=1 >/dev/null 2>&1
fi
n=$(h5ls -r "$data" | awk -v c="/$cat/test/images" '$1==c{gsub(/[{},]/," "); print $3; exit}')
echo "inference benchmark: $n test images of category $cat, $(h5dump -a /image_size "$model" | awk '/\(0\)/{print $2}') px, --batch $BATCH; $("$bin" --version | head -1)"
run() { # ranks threads
  local best='' line
  for i in $(seq "$REPEAT"); do
    line=$(mpirun -np "$1" --oversubscribe --bind-to none "$bin" infer --model "$model" --data "$data" --category "$cat" \
      --out "$tmp/r.h5" --force --quiet --batch "$BATCH" --set threads="$2" 2>/dev/null | grep '^infer: .* images in')
    local ips; ips=$(echo "$line" | sed -E 's/.*\(([0-9.]+) images\/s.*/\1/')
    if [ -z "$best" ] || awk -v a="$ips" -v b="$best" 'BEGIN{exit !(a>b)}'; then best=$ips; bestline=$line; fi
  done
  echo "$1 rank(s) x $2 thread(s): $bestline"
  last=$best
}
# efficiency = images/s / (cores x the images/s of 1 rank x 1 thread)
run 1 1; base=$last
run 1 "$THREADS"; echo "  efficiency of 1 rank x $THREADS threads: $(awk -v a="$last" -v b="$base" -v c="$THREADS" 'BEGIN{printf "%.0f%%", 100 * a / (c * b)}')"
run "$RANKS" 1; echo "  efficiency of $RANKS ranks x 1 thread: $(awk -v a="$last" -v b="$base" -v c="$RANKS" 'BEGIN{printf "%.0f%%", 100 * a / (c * b)}')"
