#!/usr/bin/env bash
# Inference benchmark (not a CI test): the whole per-image pipeline of `sernet infer` (read,
# hash + nearest-neighbour search, seg, repair, rec, anomaly map, collective write) at 1 rank x 1
# thread, 1 rank x T threads and R ranks x 1 thread, side by side in one run, with the time split
# by stage, the parallel efficiency against 1 rank x 1 thread and the cost per image in
# core-seconds (cores / images/s), then a summary table. The machine's load average is printed
# first: on a shared machine the figures are only as steady as it.
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
echo "inference benchmark: $n test images of category $cat, $(h5dump -a /image_size "$model" | awk '/\(0\)/{print $2}') px, --batch $BATCH, best of $REPEAT; $("$bin" --version | head -1);" \
  "$(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
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
# efficiency = images/s / (cores x the images/s of 1 rank x 1 thread); core-s = cores / images/s
eff() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN{ if (a == "" || b + 0 == 0) print "-"; else printf "%.0f%%", 100 * a / (c * b) }'; }
cost() { awk -v a="$1" -v c="$2" 'BEGIN{ if (a + 0 == 0) print "-"; else printf "%.3f", c / a }'; }
run 1 1; base=$last
run 1 "$THREADS"; t_ips=$last; echo "  efficiency of 1 rank x $THREADS threads: $(eff "$last" "$base" "$THREADS")"
run "$RANKS" 1; r_ips=$last; echo "  efficiency of $RANKS ranks x 1 thread: $(eff "$last" "$base" "$RANKS")"
printf "%-16s | %10s %10s %8s\n" "ranks x threads" "images/s" efficiency core-s
printf "%-16s | %10s %10s %8s\n" "1 x 1" "$base" "100%" "$(cost "$base" 1)"
printf "%-16s | %10s %10s %8s\n" "1 x $THREADS" "$t_ips" "$(eff "$t_ips" "$base" "$THREADS")" "$(cost "$t_ips" "$THREADS")"
printf "%-16s | %10s %10s %8s\n" "$RANKS x 1" "$r_ips" "$(eff "$r_ips" "$base" "$RANKS")" "$(cost "$r_ips" "$RANKS")"
