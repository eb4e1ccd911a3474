#!/usr/bin/env bash
# Fault injection around training and inference output (docs/hardening.md):
#  - one of two training ranks killed with SIGKILL: the job ends on every rank within 30 s, the
#    last checkpoint is intact, and --resume finishes with the same nets as an uninterrupted run;
#  - a full disk (a tmpfs just larger than a good checkpoint it holds) when the next checkpoint is written:
#    a clear error, the previous checkpoint byte-identical; inference into a full disk: a clear
#    error;
#  - a read-only output directory (read-only tmpfs): clear errors from train and infer;
#  - one rank's forward or backward pass failing part-way: the job ends with its error.
# The tmpfs parts need root and mount permission; without them they are reported as skipped.
set -u
bin=${SERNET_BIN:?}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
mnts=()
cleanup() { for m in "${mnts[@]}"; do umount "$m" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
command -v h5diff >/dev/null || { echo "skipped: h5diff not installed"; exit 77; }
mpi() { mpiexec -n "$1" --oversubscribe "${@:2}"; }
attr() { h5dump -a "$2" "$1" 2>/dev/null | awk '/\(0\)/{print $2; exit}'; }

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
tr="--data $tmp/syn.h5 --category weave --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=4 --set epochs_rec=1 --set calib_samples=16 --set seed=3 --set threads=1 --set checkpoint_every=10"

# --- SIGKILL of one training rank -----------------------------------------------------------------
ok "uninterrupted 2-rank training" "mpi 2 \"$bin\" train $tr --stage all --out \"$tmp/ref.h5\" >/dev/null 2>\"$tmp/err\""
SERNET_TRAIN_DELAY_MS=60 mpiexec -n 2 --oversubscribe "$bin" train $tr --stage all --out "$tmp/k.h5" >"$tmp/klog" 2>"$tmp/kerr" &
mpipid=$!
for i in $(seq 600); do s=$(attr "$tmp/k.h5" /seg/step); [ -n "$s" ] && [ "$s" -ge 20 ] && break; sleep 0.05; done
victim=$(pgrep -P $mpipid | tail -1)
kill -KILL "$victim" 2>/dev/null
ended=0
for i in $(seq 600); do kill -0 $mpipid 2>/dev/null || { ended=1; break; }; sleep 0.05; done
[ $ended = 1 ] || kill -KILL $mpipid 2>/dev/null
wait $mpipid 2>/dev/null; rc=$?
s=$(attr "$tmp/k.h5" /seg/step)
ok "SIGKILL of rank 1: the job ends within 30 s with a failure status" "[ $ended = 1 ] && [ $rc != 0 ] && ! pgrep -f \"$tmp/k.h5\" >/dev/null"
ok "SIGKILL: the last checkpoint is intact (step $s, a multiple of 10, before the end)" "[ -n \"$s\" ] && [ \$((s % 10)) = 0 ] && [ \"$s\" -lt 60 ] && [ \"\$(attr \"$tmp/k.h5\" /checkpoint_complete)\" = 1 ] && \"$bin\" info \"$tmp/k.h5\" >/dev/null 2>&1"
ok "SIGKILL: --resume finishes both stages" "mpi 2 \"$bin\" train $tr --stage all --out \"$tmp/k.h5\" --resume >/dev/null 2>\"$tmp/err\" && [ \"\$(attr \"$tmp/k.h5\" /rec/complete)\" = 1 ]"
ok "SIGKILL: resumed nets identical to the uninterrupted run" "h5diff \"$tmp/ref.h5\" \"$tmp/k.h5\" /seg/tensors /seg/tensors >\"$tmp/err\" && h5diff \"$tmp/ref.h5\" \"$tmp/k.h5\" /rec/tensors /rec/tensors >\"$tmp/err\""

# --- one rank's pass fails part-way (SERNET_TEST_BN_FAIL=N: that rank's N-th BatchNorm call of
# training fails, as an allocation would) ---------------------------------------------------------
# The other ranks are then inside the same pass, blocked in a BatchNorm reduction or about to start
# a gradient bucket: the failing rank makes the reductions it skipped, every rank agrees on the
# error, and the job ends with it (exit 1), never hangs. Small buckets (0.01 MiB: 2 for seg, 17 for
# rec) interleave the bucket starts with the backward's reductions. Per seg step, 5 forward then
# 5 backward calls; 60 seg steps make 600, and rec follows (the frozen seg net's calls are not
# training calls).
bnfail() { # failing-rank ranks N [--set ...]
  local who=$1 np=$2 n=$3 ctx=() r
  shift 3
  for r in $(seq 0 $((np - 1))); do
    [ "$r" = 0 ] || ctx+=(:)
    ctx+=(-n 1)
    [ "$r" = "$who" ] && ctx+=(env SERNET_TEST_BN_FAIL="$n")
    ctx+=("$bin" train $tr --stage all --set allreduce_bucket_mb=0.01 "$@" --out "$tmp/bn$who$np$n.h5")
  done
  timeout 120 mpiexec --oversubscribe "${ctx[@]}" >/dev/null 2>"$tmp/err"
}
for c in "1 2 3 seg forward" "0 2 8 seg backward" "2 3 23 seg forward (step 3)" "1 3 605 rec forward" "0 2 615 rec backward"; do
  set -- $c
  ok "rank $1 of $2 fails in the ${*:4} (call $3): exit 1 with its message, no hang" "bnfail $1 $2 $3; [ \$? = 1 ] && grep -q 'failure injected by SERNET_TEST_BN_FAIL' \"$tmp/err\""
  [ "$4" = seg ] || ok "  ... after the finished seg stage" "[ \"\$(attr \"$tmp/bn$1$2$3.h5\" /seg/complete)\" = 1 ]"
done
ok "the same with the blocking allreduce (allreduce_overlap = off)" "bnfail 1 2 8 --set allreduce_overlap=off; [ \$? = 1 ] && grep -q 'failure injected' \"$tmp/err\""
ok "the same with 2 units per block" "bnfail 0 2 14 --set units_per_block=2; [ \$? = 1 ] && grep -q 'failure injected' \"$tmp/err\""

# --- full disk and read-only directories ----------------------------------------------------------
mkfs() { # dir size options
  mkdir -p "$1" && mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1" 2>/dev/null && mnts+=("$1")
}
"$bin" train $tr --out "$tmp/c.h5" --stop-after 10 >/dev/null 2>"$tmp/err"
ok "a checkpoint at step 10" "[ \"\$(attr \"$tmp/c.h5\" /seg/step)\" = 10 ]"
# room for the checkpoint and 32 KiB more: the next checkpoint (written beside it) cannot fit
room=$(( $(stat -c %s "$tmp/c.h5") / 1024 + 32 ))k
if [ "$(id -u)" = 0 ] && mkfs "$tmp/full" "$room"; then
  cp "$tmp/c.h5" "$tmp/full/c.h5"
  sum0=$(md5sum <"$tmp/full/c.h5")
  ok "full disk at the next checkpoint: exit 1 (no crash) with a clear error" "\"$bin\" train $tr --out \"$tmp/full/c.h5\" --resume >/dev/null 2>\"$tmp/err\"; [ \$? = 1 ] && grep -qi 'no space left\|write failed\|cannot\|failed' \"$tmp/err\" && grep -q 'full/c.h5' \"$tmp/err\""
  ok "full disk: the previous checkpoint is byte-identical, no temporary left" "[ \"\$(md5sum <\"$tmp/full/c.h5\")\" = \"$sum0\" ] && [ ! -e \"$tmp/full/c.h5.tmp\" ]"
  ok "full disk: the kept checkpoint still resumes elsewhere" "cp \"$tmp/full/c.h5\" \"$tmp/c2.h5\" && \"$bin\" train $tr --out \"$tmp/c2.h5\" --resume >/dev/null 2>\"$tmp/err\" && [ \"\$(attr \"$tmp/c2.h5\" /seg/complete)\" = 1 ]"
  ok "a model for inference" "\"$bin\" train $tr --stage all --out \"$tmp/m.h5\" >/dev/null 2>\"$tmp/err\""
  ok "inference into a full disk: exit 1 with a clear error naming the file" "\"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --category weave --out \"$tmp/full/r.h5\" >/dev/null 2>\"$tmp/err\"; [ \$? = 1 ] && grep -q 'full/r.h5' \"$tmp/err\" && [ ! -e \"$tmp/full/r.h5\" ]"
else
  echo "skipped: full-disk checks (need root and tmpfs mounts)"
fi
if [ "$(id -u)" = 0 ] && mkfs "$tmp/ro" 1m ro; then
  ok "train into a read-only directory: clear error" "! \"$bin\" train $tr --out \"$tmp/ro/m.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'ro/m.h5' \"$tmp/err\""
  ok "infer into a read-only directory: clear error" "! \"$bin\" infer --model \"$tmp/ref.h5\" --data \"$tmp/syn.h5\" --category weave --out \"$tmp/ro/r.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'ro/r.h5' \"$tmp/err\""
else
  echo "skipped: read-only directory checks (need root and tmpfs mounts)"
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
