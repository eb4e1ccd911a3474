#!/usr/bin/env bash
# The gradient allreduce overlapped with the backward pass (allreduce_overlap, docs/training.md
# "Gradient allreduce"): both stages trained for an epoch at S = 32 with the overlap on (one
# bucket, and many small ones) and off must give the same nets, Adam moments, losses and
# calibration, bit for bit at 2 ranks; at 3 ranks bit for bit when Open MPI is made to use the
# same algorithm (recursive doubling) for the blocking and the non-blocking allreduce, and within
# summation tolerance with its default choices. A run stopped with the overlap on and resumed
# with it off equals the uninterrupted run; the trainer says which path ran; bad values of the
# keys are refused naming the key.
set -u
bin=${SERNET_BIN:?}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
command -v h5diff >/dev/null || { echo "skipped: h5diff not installed"; exit 77; }
mpi() { mpiexec -n "$1" --oversubscribe "${@:2}"; }
attr() { h5dump -a "$2" "$1" 2>/dev/null | awk '/\(0\)/{print $2; exit}'; }
# every result of the training (not the stored configuration, which names the keys' values)
same() { for grp in /seg /rec /calib; do h5diff "$1" "$2" $grp $grp >"$tmp/err" || return 1; done; }

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
# 120 training images, global batch 8: 15 steps per stage. seg has 3865 parameters, rec 43443:
# 0.01 MiB buckets (2621 floats) cut them into 2 and 17 buckets, the default 2 MiB into one each.
tr="--data $tmp/syn.h5 --category weave --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set threads=1 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set log_every=100"
small="--set allreduce_bucket_mb=0.01"

# --- 2 ranks: bit for bit -------------------------------------------------------------------------
ok "np 2, overlap off" "mpi 2 \"$bin\" train $tr --stage all --out \"$tmp/off.h5\" --set allreduce_overlap=off >\"$tmp/off.log\" 2>\"$tmp/err\""
ok "np 2, overlap on (default buckets)" "mpi 2 \"$bin\" train $tr --stage all --out \"$tmp/on.h5\" >\"$tmp/on.log\" 2>\"$tmp/err\""
ok "np 2, overlap on, 0.01 MiB buckets" "mpi 2 \"$bin\" train $tr --stage all --out \"$tmp/small.h5\" $small >\"$tmp/small.log\" 2>\"$tmp/err\""
ok "np 2: on (1 bucket) equals off bit for bit" "same \"$tmp/on.h5\" \"$tmp/off.h5\""
ok "np 2: on (2 and 17 buckets) equals off bit for bit" "same \"$tmp/small.h5\" \"$tmp/off.h5\""
ok "np 2: the trainer names the blocking path" "grep -q 'train rec: .*exposed.*blocking after the backward (allreduce_overlap = off)' \"$tmp/off.log\""
ok "np 2: the trainer names the buckets" "grep -q 'train seg: .*exposed.*overlapped with the backward in 2 buckets of 0.01 MiB' \"$tmp/small.log\" && grep -q 'train rec: .*overlapped with the backward in 17 buckets' \"$tmp/small.log\" && grep -q 'train rec: .*in 1 buckets of 2.00 MiB' \"$tmp/on.log\""
ok "np 2: the trainer says where the step time goes" "grep -q 'train rec: step time: samples .* forward .* backward .* gradient allreduce .* Adam .* other' \"$tmp/on.log\""

# --- resume across the switch -----------------------------------------------------------------------
ok "np 2: stop after 5 seg steps with the overlap on" "mpi 2 \"$bin\" train $tr --quiet --stage all --out \"$tmp/part.h5\" $small --stop-after 5 >/dev/null 2>\"$tmp/err\" && [ \"\$(attr \"$tmp/part.h5\" /seg/step)\" = 5 ]"
ok "np 2: resume with the overlap off (the key may differ)" "mpi 2 \"$bin\" train $tr --quiet --stage all --out \"$tmp/part.h5\" --set allreduce_overlap=off --resume >/dev/null 2>\"$tmp/err\""
ok "np 2: resumed run equals the uninterrupted one" "same \"$tmp/part.h5\" \"$tmp/off.h5\""

# --- 3 ranks ------------------------------------------------------------------------------------------
# The same algorithm for both paths: recursive doubling sums the same pairs in the same order.
rd="OMPI_MCA_coll_tuned_use_dynamic_rules=1 OMPI_MCA_coll_tuned_allreduce_algorithm=3 OMPI_MCA_coll_libnbc_iallreduce_algorithm=4"
ok "np 3, recursive doubling, off" "env $rd mpiexec -n 3 --oversubscribe \"$bin\" train $tr --quiet --stage all --out \"$tmp/rd_off.h5\" --set allreduce_overlap=off >/dev/null 2>\"$tmp/err\""
ok "np 3, recursive doubling, on" "env $rd mpiexec -n 3 --oversubscribe \"$bin\" train $tr --quiet --stage all --out \"$tmp/rd_on.h5\" $small >/dev/null 2>\"$tmp/err\""
ok "np 3, recursive doubling: on equals off bit for bit" "same \"$tmp/rd_on.h5\" \"$tmp/rd_off.h5\""
# Open MPI's own choices: the blocking and the non-blocking allreduce may add the three ranks'
# gradients in another order. Tolerances as in train_cli.sh's rank-invariance checks (see there):
# every element within 2 * lr * steps = 3e-3, which conv biases in front of a BatchNorm (gradient
# zero in exact arithmetic, so pure rounding noise that Adam scales up to lr per step) and the
# running statistics they move can reach; every other tensor with at most 1 % of its elements beyond
# 1e-4; losses to relative 1e-4. Rounding differences grow over the steps (Adam turns a weight
# whose gradient is near rounding level into a full lr step either way): with the Winograd and
# direct weight gradients, 117 of the rec net's 43443 weights ended beyond 1e-4 (at most
# 1.3e-4; D4.0.conv.weight 0.5 %) and the losses drifted apart to relative 3.3e-5 by step 13.
# The summation itself is checked bit for bit above and in tests/mpi_gradsync.c.
# The repair is kept off here (repair_threshold = 1): tau is calibrated as the arg max of a
# discrete F1 over 16 samples of an untrained width-4 net, so last-bit differences in the
# segmentation stage can move it (0.53 in one run, another value in the next), and the
# reconstruction stage then trains on other images: a difference of the calibration, not of the
# summation this test measures. The runs above check the repair path bit for bit.
nr="--set repair_threshold=1"
ok "np 3, default algorithms, off" "mpi 3 \"$bin\" train $tr $nr --quiet --stage all --out \"$tmp/3off.h5\" --set allreduce_overlap=off >/dev/null 2>\"$tmp/err\""
ok "np 3, default algorithms, on" "mpi 3 \"$bin\" train $tr $nr --quiet --stage all --out \"$tmp/3on.h5\" $small >/dev/null 2>\"$tmp/err\""
close() { # file-a file-b dataset
  h5diff -d 3e-3 "$1" "$2" "$3" "$3" >/dev/null || return 1
  case $3 in *conv.bias|*running_mean|*running_var) return 0 ;; esac
  local n total
  n=$(h5diff -d 1e-4 "$1" "$2" "$3" "$3" | awk '/differences found/{print $1}')
  total=$(( $(h5ls "$1$3" | sed 's/.*{\(.*\)}.*/\1/' | tr -d ' ' | tr ',' '*') ))
  [ "${n:-0}" -le $((total / 100)) ]
}
bad=0
for stage in seg rec; do
  for o in $(h5ls -r "$tmp/3off.h5/$stage/tensors" | awk '{print $1}'); do
    close "$tmp/3on.h5" "$tmp/3off.h5" "/$stage/tensors$o" || { bad=1; echo "  np 3: /$stage/tensors$o differs beyond tolerance"; }
  done
done
ok "np 3: parameters equal to summation tolerance" "[ $bad = 0 ]"
ok "np 3: per-step losses equal (relative 1e-4)" "h5diff -p 1e-4 \"$tmp/3on.h5\" \"$tmp/3off.h5\" /seg/loss /seg/loss >/dev/null && h5diff -p 1e-4 \"$tmp/3on.h5\" \"$tmp/3off.h5\" /rec/loss /rec/loss >/dev/null"

# --- the keys -------------------------------------------------------------------------------------------
ok "allreduce_overlap = maybe is refused naming the key" "! \"$bin\" train $tr --out \"$tmp/x.h5\" --set allreduce_overlap=maybe >/dev/null 2>\"$tmp/err\" && grep -q 'allreduce_overlap' \"$tmp/err\""
ok "allreduce_bucket_mb = 0 is refused naming the key" "! \"$bin\" train $tr --out \"$tmp/x.h5\" --set allreduce_bucket_mb=0 >/dev/null 2>\"$tmp/err\" && grep -q 'allreduce_bucket_mb' \"$tmp/err\""
ok "sernet config lists both keys with their defaults" "\"$bin\" config | grep -qx 'allreduce_overlap = on' && \"$bin\" config | grep -qx 'allreduce_bucket_mb = 2'"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
