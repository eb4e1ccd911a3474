#!/usr/bin/env bash
# Training throughput: 1 rank x 1 thread, 2 ranks x 1 thread and 1 rank x 2 threads, one
# epoch per stage on the synthetic set (S 128, configs/demo.ini), with the gradient
# allreduce's share of the step and the parallel efficiency against 1 rank x 1 thread.
# Usage: tools/bench/bench_train.sh [size=128] [epochs=1]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
size=${1:-128} epochs=${2:-1}
bin=${SERNET_BIN:-$here/build/sernet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SERNET_PROGRESS=lines
tmp=$(mktemp -d /tmp/sn_bench_train.XXXXXX); trap 'rm -rf "$tmp"' EXIT
"$bin" synth --out "$tmp/s.h5" --size "$size" --seed 1 >/dev/null 2>&1
# efficiency = images/s / (cores x the images/s of 1 rank x 1 thread)
printf "%-16s | %14s %10s %6s | %14s %10s %6s\n" "ranks x threads" "seg images/s" allreduce eff \
  "rec images/s" allreduce eff
s1='' r1=''
eff() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.0f%%", 100 * a / (c * b) }'; }
for cfg in "1 1" "2 1" "1 2"; do
  set -- $cfg
  mpirun -np "$1" --oversubscribe --bind-to none "$bin" train --config "$here/configs/demo.ini" \
    --data "$tmp/s.h5" --category weave --stage all --set epochs_seg="$epochs" --set epochs_rec="$epochs" \
    --set calib_samples=32 --set threads="$2" --out "$tmp/m.h5" >"$tmp/out" 2>/dev/null
  rm -f "$tmp/m.h5"
  pick() { sed -n "s/^train $1: .* \([0-9.]*\) images\/s; gradient allreduce \([0-9.]*\) %.*/\1 \2/p" "$tmp/out"; }
  read -r si sa <<<"$(pick seg)"; read -r ri ra <<<"$(pick rec)"
  [ "$cfg" = "1 1" ] && { s1=$si; r1=$ri; }
  printf "%-16s | %14s %9s%% %6s | %14s %9s%% %6s\n" "$1 x $2" "$si" "$sa" "$(eff "$si" "$s1" $(($1 * $2)))" \
    "$ri" "$ra" "$(eff "$ri" "$r1" $(($1 * $2)))"
done
