#!/usr/bin/env bash
# Training throughput: 1 rank x 1 thread, 2 ranks x 1 thread and 1 rank x 2 threads, one
# epoch per stage on the synthetic set (S 128, configs/demo.ini), with the gradient
# allreduce's share of the step, the parallel efficiency against 1 rank x 1 thread and the
# cost per image in core-seconds (cores / images/s). The machine's load average is printed
# first: on a shared machine the figures are only as steady as it.
# Usage: tools/bench/bench_train.sh [size=128] [epochs=1]   (env REPEAT: best of N runs, default 1)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
size=${1:-128} epochs=${2:-1} REPEAT=${REPEAT:-1}
bin=${SERNET_BIN:-$here/build/sernet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SERNET_PROGRESS=lines
tmp=$(mktemp -d /tmp/sn_bench_train.XXXXXX); trap 'rm -rf "$tmp"' EXIT
"$bin" synth --out "$tmp/s.h5" --size "$size" --seed 1 >/dev/null 2>&1
echo "training benchmark: S $size, configs/demo.ini, $epochs epoch(s) per stage, best of $REPEAT; $("$bin" --version | head -1);" \
  "$(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
# efficiency = images/s / (cores x the images/s of 1 rank x 1 thread); core-s = cores / images/s
printf "%-16s | %14s %10s %6s %8s | %14s %10s %6s %8s\n" "ranks x threads" "seg images/s" allreduce eff core-s \
  "rec images/s" allreduce eff core-s
s1='' r1=''
eff() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.0f%%", 100 * a / (c * b) }'; }
cost() { awk -v a="$1" -v c="$2" 'BEGIN{ if (a == "" || a + 0 == 0) print "-"; else printf "%.3f", c / a }'; }
better() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(b == "" || (a != "" && a + 0 > b + 0)) }'; }
for cfg in "1 1" "2 1" "1 2"; do
  set -- $cfg
  si='' sa='' ri='' ra=''
  for _ in $(seq "$REPEAT"); do
    mpirun -np "$1" --oversubscribe --bind-to none "$bin" train --config "$here/configs/demo.ini" \
      --data "$tmp/s.h5" --category weave --stage all --set epochs_seg="$epochs" --set epochs_rec="$epochs" \
      --set calib_samples=32 --set threads="$2" --out "$tmp/m.h5" >"$tmp/out" 2>/dev/null
    rm -f "$tmp/m.h5"
    pick() { sed -n "s/^train $1: .* \([0-9.]*\) images\/s; gradient allreduce \([0-9.]*\) %.*/\1 \2/p" "$tmp/out"; }
    read -r a b <<<"$(pick seg)"; if better "$a" "$si"; then si=$a sa=$b; fi
    read -r a b <<<"$(pick rec)"; if better "$a" "$ri"; then ri=$a ra=$b; fi
  done
  [ "$cfg" = "1 1" ] && { s1=$si; r1=$ri; }
  printf "%-16s | %14s %9s%% %6s %8s | %14s %9s%% %6s %8s\n" "$1 x $2" "$si" "$sa" "$(eff "$si" "$s1" $(($1 * $2)))" \
    "$(cost "$si" $(($1 * $2)))" "$ri" "$ra" "$(eff "$ri" "$r1" $(($1 * $2)))" "$(cost "$ri" $(($1 * $2)))"
done
