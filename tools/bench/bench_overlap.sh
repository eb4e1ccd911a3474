#!/usr/bin/env bash
# The gradient allreduce overlapped with the backward pass against the blocking one
# (allreduce_overlap = on|off, docs/training.md "Gradient allreduce"): one epoch of each stage at
# 2 ranks x 1 thread on the synthetic set at the default widths (seg 32: 0.93 MB of gradients,
# rec 64: 43.8 MB), the runs of each setting interleaved, REPEAT times. Prints per run the
# seconds per step, the exposed (non-overlapped) allreduce share of the step and where the step
# time went (the trainer's own lines), then the median step time of each setting. The load
# average is printed first: on a shared machine the figures are only as steady as it.
# Usage: tools/bench/bench_overlap.sh [size=64] [ranks=2]   (env REPEAT, default 3; SETTINGS,
#   default "off on on:0.25" = blocking, overlap with the default 2 MiB buckets, with 0.25 MiB)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
size=${1:-64} ranks=${2:-2} REPEAT=${REPEAT:-3}
settings=${SETTINGS:-off on on:0.25}
bin=${SERNET_BIN:-$here/build/sernet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SERNET_PROGRESS=lines
tmp=$(mktemp -d /tmp/sn_bench_overlap.XXXXXX); trap 'rm -rf "$tmp"' EXIT
"$bin" synth --out "$tmp/s.h5" --size "$size" --seed 1 >/dev/null 2>&1
echo "overlap benchmark: S $size, default widths, $ranks ranks x 1 thread, 1 epoch per stage, $REPEAT runs per setting;" \
  "$("$bin" --version | head -1); $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
common=(--data "$tmp/s.h5" --category weave --set threads=1 --set epochs_seg=1 --set epochs_rec=1
        --set calib_samples=32 --set log_every=1000)
opts() { # setting -> --set options
  case $1 in
    off) echo "--set allreduce_overlap=off" ;;
    on) echo "--set allreduce_overlap=on" ;;
    on:*) echo "--set allreduce_overlap=on --set allreduce_bucket_mb=${1#on:}" ;;
  esac
}
run() { mpirun -np "$ranks" --oversubscribe --bind-to none "$bin" train "${common[@]}" "$@"; }
# the seg model the rec runs start from
run --stage seg --out "$tmp/seg.h5" >/dev/null 2>&1
for stage in seg rec; do
  for i in $(seq "$REPEAT"); do
    for s in $settings; do
      rm -f "$tmp/m.h5"
      if [ $stage = rec ]; then cp "$tmp/seg.h5" "$tmp/m.h5"; fi
      # shellcheck disable=SC2046
      run --stage $stage --out "$tmp/m.h5" $(opts "$s") >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
      line=$(grep "^train $stage: .* steps in" "$tmp/out")
      steps=$(sed -n 's/.*: \([0-9]*\) steps in \([0-9.]*\) s.*/\1 \2/p' <<<"$line")
      per=$(awk -v a="$steps" 'BEGIN{split(a, v, " "); printf "%.3f", v[2] / v[1]}')
      echo "$stage $s run $i: $per s/step | ${line#*images/s; } | $(grep "^train $stage: step time" "$tmp/out" | sed 's/.*step time: //')"
      echo "$stage $s $per" >>"$tmp/all"
    done
  done
done
echo "median seconds per step:"
for stage in seg rec; do
  for s in $settings; do
    printf "  %s %-8s %s\n" $stage "$s" "$(awk -v st=$stage -v se="$s" '$1 == st && $2 == se {print $3}' "$tmp/all" | sort -n |
      awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')"
  done
done
