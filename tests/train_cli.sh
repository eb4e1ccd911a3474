#!/usr/bin/env bash
# sernet train end to end at a small size (S = 32, seg_width 4): exact resume (1 and 2 ranks),
# rank invariance (1 x 8 vs 2 x 4 vs 3 ranks with an uneven 3/3/2 split), the SIGUSR1 path
# (checkpoint, exit 0, resume equals an uninterrupted run), a refused resume with another
# configuration, a damaged checkpoint, the loss falling, usage errors.
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

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
# 120 training images, global batch 8: 15 steps per epoch.
base="--data $tmp/syn.h5 --category weave --quiet --set seg_width=4 --set large_area=0.08 --set small_area=0.04 --set threads=1"
tr="$base --set epochs_seg=1"

# --- exact resume: N steps, checkpoint, M more == N+M uninterrupted -------------------------------
for np in 1 2; do
  ok "np $np: uninterrupted run" "mpi $np \"$bin\" train $tr --out \"$tmp/full$np.h5\" >/dev/null 2>\"$tmp/err\""
  ok "np $np: stop after 6 steps" "mpi $np \"$bin\" train $tr --out \"$tmp/part$np.h5\" --stop-after 6 >\"$tmp/log\" 2>\"$tmp/err\" && grep -q -- '--resume' \"$tmp/log\" && [ \"\$(attr \"$tmp/part$np.h5\" /seg/step)\" = 6 ]"
  ok "np $np: resume to the end" "mpi $np \"$bin\" train $tr --out \"$tmp/part$np.h5\" --resume >/dev/null 2>\"$tmp/err\" && [ \"\$(attr \"$tmp/part$np.h5\" /seg/step)\" = 15 ]"
  ok "np $np: resumed model is bit-for-bit the uninterrupted one" "h5diff \"$tmp/full$np.h5\" \"$tmp/part$np.h5\" >\"$tmp/err\""
done
ok "model file has every tensor, Adam state and the loss history" "h5ls -r \"$tmp/full1.h5\" | grep -q 'E1.0.conv.weight' && h5ls -r \"$tmp/full1.h5\" | grep -q 'E3.0.bn.running_var' && h5ls -r \"$tmp/full1.h5\" | grep -q 'adam_v' && h5ls \"$tmp/full1.h5/seg/loss\" | grep -q '{15}'"
ok "loss curve written next to the model" "grep -q '<polyline' \"$tmp/full1_loss.svg\""

# --- rank invariance: 1 x 8, 2 x 4, 3 x (3,3,2), 4 steps ------------------------------------------
for np in 1 2 3; do
  ok "np $np: 4 steps" "mpi $np \"$bin\" train $tr --out \"$tmp/k$np.h5\" --stop-after 4 >/dev/null 2>\"$tmp/err\""
done
# Tolerances: the parameters that receive a real gradient agree to float summation order (1e-6
# absolute, values ~0.02-1; 1e-8 measured on this machine). Conv biases in front of a BatchNorm
# have a gradient that is zero in exact arithmetic (BN subtracts the mean) so it is pure rounding
# noise, which Adam scales to up to lr per step: they, and the running means they shift, can differ
# by up to 2 * lr * steps = 8e-4. A weight element whose gradient is itself near rounding level
# (a 3x3 tap that only sees padding at S 4 in E3) behaves the same way, and which elements those
# are depends on the CPU's GEMM kernel (CI saw one such element in E3.0.conv.weight): a weight
# tensor passes when every element is within 2 * lr * steps and at most 1 % of them are beyond 1e-6.
# A wrong reduction moves nearly every element, so this still fails on a real error.
close() { # file-a file-b dataset loose-bound
  h5diff -d "$4" "$1" "$2" "$3" "$3" >/dev/null || return 1
  case $3 in *conv.bias|*running_mean) return 0 ;; esac
  local n total
  n=$(h5diff -d 1e-6 "$1" "$2" "$3" "$3" | awk '/differences found/{print $1}')
  total=$(( $(h5ls "$1$3" | sed 's/.*{\(.*\)}.*/\1/' | tr -d ' ' | tr ',' '*') ))
  [ "${n:-0}" -le $((total / 100)) ]
}
for np in 2 3; do
  bad=0
  for o in $(h5ls -r "$tmp/k1.h5/seg/tensors" | awk '{print $1}'); do
    close "$tmp/k1.h5" "$tmp/k$np.h5" "/seg/tensors$o" 8e-4 || { bad=1; echo "  np $np: $o differs beyond tolerance"; h5diff -d 1e-6 "$tmp/k1.h5" "$tmp/k$np.h5" "/seg/tensors$o" "/seg/tensors$o" | tail -3; }
  done
  ok "np $np: parameters equal 1 rank's to summation tolerance" "[ $bad = 0 ]"
  ok "np $np: per-step losses equal 1 rank's (relative 1e-6)" "h5diff -p 1e-6 \"$tmp/k1.h5\" \"$tmp/k$np.h5\" /seg/loss /seg/loss >/dev/null"
done
# batch_mode = per_rank: 2 ranks x 4 (lr 1e-4 x 2 ranks, no warm-up) == 1 rank x 8 at lr 2e-4.
ok "per_rank: 2 ranks x 4, 4 steps" "mpi 2 \"$bin\" train $tr --set batch_mode=per_rank --set batch_size=4 --set warmup_steps=0 --out \"$tmp/pr2.h5\" --stop-after 4 >/dev/null 2>\"$tmp/err\" && [ \"\$(attr \"$tmp/pr2.h5\" /global_batch)\" = 8 ]"
ok "per_rank: 1 rank x 8 at lr 2e-4, 4 steps" "mpi 1 \"$bin\" train $tr --set lr=2e-4 --out \"$tmp/pr1.h5\" --stop-after 4 >/dev/null 2>\"$tmp/err\""
bad=0
for o in $(h5ls -r "$tmp/pr1.h5/seg/tensors" | awk '{print $1}'); do
  close "$tmp/pr1.h5" "$tmp/pr2.h5" "/seg/tensors$o" 1.6e-3 || { bad=1; echo "  per_rank: $o differs beyond tolerance"; h5diff -d 1e-6 "$tmp/pr1.h5" "$tmp/pr2.h5" "/seg/tensors$o" "/seg/tensors$o" | tail -3; }
done
ok "per_rank: same model as the global batch with the scaled lr" "[ $bad = 0 ]"
"$bin" train $tr --set batch_mode=per_rank --set batch_size=4 --set warmup_steps=0 --out "$tmp/pr2.h5" --resume >/dev/null 2>"$tmp/err"
ok "per_rank: resume on another number of ranks refused" "[ $? = 1 ] && grep -q 'global batch of 8' \"$tmp/err\""
# lr_seg / lr_rec (auto: lr): a stage's rate set by its own key trains exactly as lr would, and
# touches only that stage.
ok "lr_seg = 2e-4: the seg net lr = 2e-4 trains, bit for bit" "mpi 1 \"$bin\" train $tr --set lr_seg=2e-4 --out \"$tmp/ls.h5\" --stop-after 4 >/dev/null 2>\"$tmp/err\" && h5diff \"$tmp/pr1.h5\" \"$tmp/ls.h5\" /seg/tensors /seg/tensors >\"$tmp/err\""
ok "lr_rec = 2e-4 leaves the seg stage at lr" "mpi 1 \"$bin\" train $tr --set lr_rec=2e-4 --out \"$tmp/lr.h5\" --stop-after 4 >/dev/null 2>\"$tmp/err\" && h5diff \"$tmp/k1.h5\" \"$tmp/lr.h5\" /seg/tensors /seg/tensors >\"$tmp/err\""
ok "the stage's rate is printed" "mpi 1 \"$bin\" train ${tr/--quiet/} --set lr_seg=3e-4 --out \"$tmp/lp.h5\" --stop-after 1 2>\"$tmp/err\" | grep -q '^train seg: .* parameters, lr 0.0003$'"
ok "comparison is not vacuous: different seeds differ" "mpi 1 \"$bin\" train $tr --set seed=9 --out \"$tmp/k9.h5\" --stop-after 4 >/dev/null 2>\"$tmp/err\" && ! h5diff -d 1e-6 \"$tmp/k1.h5\" \"$tmp/k9.h5\" /seg/tensors/E1.0.conv.weight /seg/tensors/E1.0.conv.weight >/dev/null"

# --- SIGUSR1 to a running 2-rank training ---------------------------------------------------------
long="$base --set epochs_seg=400 --set checkpoint_every=10"
mpiexec -n 2 --oversubscribe "$bin" train $long --out "$tmp/sig.h5" >"$tmp/siglog" 2>"$tmp/sigerr" &
pid=$!
for i in $(seq 300); do [ -f "$tmp/sig.h5" ] && break; sleep 0.05; done
kill -USR1 $pid
wait $pid
rc=$?
ok "SIGUSR1: exit status 0" "[ $rc = 0 ]"
ok "SIGUSR1: message says how to resume" "grep -q -- '--resume' \"$tmp/siglog\""
s=$(attr "$tmp/sig.h5" /seg/step)
ok "SIGUSR1: checkpoint valid, stopped before the end (step $s)" "[ -n \"$s\" ] && [ \"$s\" -gt 0 ] && [ \"$s\" -lt 6000 ] && [ \"\$(attr \"$tmp/sig.h5\" /checkpoint_complete)\" = 1 ]"
ok "SIGUSR1: no temporary file left" "[ ! -e \"$tmp/sig.h5.tmp\" ]"
k=$((s + 3))
ok "SIGUSR1: resume for 3 steps" "mpi 2 \"$bin\" train $long --out \"$tmp/sig.h5\" --resume --stop-after $k >/dev/null 2>\"$tmp/err\""
ok "SIGUSR1: uninterrupted run to the same step" "mpi 2 \"$bin\" train $long --out \"$tmp/ref.h5\" --stop-after $k >/dev/null 2>\"$tmp/err\""
ok "SIGUSR1: resumed == uninterrupted, bit for bit" "h5diff \"$tmp/ref.h5\" \"$tmp/sig.h5\" >\"$tmp/err\""

# --- two stages: seg, calibration, rec ------------------------------------------------------------
two="$base --set rec_width=4 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16"
ok "stage all, 2 ranks" "mpi 2 \"$bin\" train $two --stage all --out \"$tmp/all.h5\" >\"$tmp/log\" 2>\"$tmp/err\""
ok "stage all: calibration reported and stored" "grep -q 'train calib: tau' \"$tmp/log\" && [ -n \"\$(attr \"$tmp/all.h5\" /calib/tau)\" ] && [ -n \"\$(attr \"$tmp/all.h5\" /calib/max_in_anomaly)\" ] && [ \"\$(attr \"$tmp/all.h5\" /rec/step)\" = 15 ]"
# One epoch of segmentation does not rank pixels (AUROC ~0.5) and the calibrated tau fires on
# every pixel: stderr, the model file and a later infer say so, with what to change.
ok "stage all: a repair that fires everywhere is flagged on stderr" "grep -q 'warning: repair would fire on 100 % of the pixels outside anomalies.*epochs_seg' \"$tmp/err\""
ok "stage all: the flag and the diagnostics are in the model file" "h5dump -a /calib/warning \"$tmp/all.h5\" | grep -q 'would fire' && [ -n \"\$(attr \"$tmp/all.h5\" /calib/pixel_auroc)\" ] && [ \"\$(attr \"$tmp/all.h5\" /calib/fire_fraction)\" = 1 ]"
ok "stage all: infer with the flagged model repeats the warning" "\"$bin\" infer --model \"$tmp/all.h5\" --data \"$tmp/syn.h5\" --category weave --set threads=1 --out \"$tmp/allr1.h5\" --quiet >/dev/null 2>\"$tmp/err\" && grep -q 'sernet infer: warning: .*all.h5: repair would fire' \"$tmp/err\""
ok "stage all: stop at seg step 5, resume to the end" "mpi 2 \"$bin\" train $two --stage all --out \"$tmp/allp.h5\" --stop-after 5 >/dev/null 2>\"$tmp/err\" && mpi 2 \"$bin\" train $two --stage all --out \"$tmp/allp.h5\" --resume >/dev/null 2>\"$tmp/err\""
ok "stage all: stopped in seg at 5, resumed == uninterrupted" "h5diff \"$tmp/all.h5\" \"$tmp/allp.h5\" >\"$tmp/err\""
ok "stage all: rec stopped at 5 and resumed == uninterrupted" "mpi 2 \"$bin\" train $two --stage seg --out \"$tmp/allr.h5\" >/dev/null 2>\"$tmp/err\" && mpi 2 \"$bin\" train $two --stage rec --out \"$tmp/allr.h5\" --stop-after 5 >/dev/null 2>\"$tmp/err\" && [ \"\$(attr \"$tmp/allr.h5\" /rec/step)\" = 5 ] && mpi 2 \"$bin\" train $two --stage rec --out \"$tmp/allr.h5\" --resume >/dev/null 2>\"$tmp/err\" && h5diff \"$tmp/all.h5\" \"$tmp/allr.h5\" >\"$tmp/err\""
# Rank invariance of the whole pipeline (seg, calibration, repair, rec): same tau, and the rec
# losses agree to 1e-4 relative over the 15 steps at 1, 2 and 3 ranks. The 3/3/2 split sums the
# BatchNorm statistics and gradients in another order; with tau near the predictions (0.53 here)
# a few repaired pixels flip, and the losses drifted to 1.0e-5 relative by step 14 (measured
# 2026-12-06; 1e-5 failed in CI). A wrong shard or batch moves them by 1e-2 or more.
for np in 1 3; do
  ok "stage all, $np rank(s)" "mpi $np \"$bin\" train $two --stage all --out \"$tmp/all$np.h5\" >/dev/null 2>\"$tmp/err\""
  ok "stage all: tau equal at $np and 2 ranks" "[ \"\$(attr \"$tmp/all$np.h5\" /calib/tau)\" = \"\$(attr \"$tmp/all.h5\" /calib/tau)\" ]"
  ok "stage all: rec losses at $np and 2 ranks agree (relative 1e-4)" "h5diff -p 1e-4 \"$tmp/all$np.h5\" \"$tmp/all.h5\" /rec/loss /rec/loss >/dev/null"
done
ok "lr_rec = 2e-4 trains the rec net as lr = 2e-4 with lr_seg = 1e-4 does, bit for bit" "mpi 2 \"$bin\" train $two --stage all --set lr_rec=2e-4 --out \"$tmp/lrr.h5\" >/dev/null 2>\"$tmp/err\" && mpi 2 \"$bin\" train $two --stage all --set lr=2e-4 --set lr_seg=1e-4 --out \"$tmp/lrs.h5\" >/dev/null 2>\"$tmp/err\" && h5diff \"$tmp/lrr.h5\" \"$tmp/lrs.h5\" /seg/tensors /seg/tensors >\"$tmp/err\" && h5diff \"$tmp/lrr.h5\" \"$tmp/lrs.h5\" /rec/tensors /rec/tensors >\"$tmp/err\""
ok "lr_rec changes the rec net (not vacuous)" "h5diff \"$tmp/all.h5\" \"$tmp/lrr.h5\" /seg/tensors /seg/tensors >/dev/null && ! h5diff -d 1e-6 \"$tmp/all.h5\" \"$tmp/lrr.h5\" /rec/tensors/E1.0.conv.weight /rec/tensors/E1.0.conv.weight >/dev/null"
"$bin" train $two --stage rec --out "$tmp/part1.h5" >/dev/null 2>"$tmp/err"
ok "stage rec needs a model file made with the same configuration" "[ $? = 1 ] && grep -q 'rec_width\\|epochs_rec\\|calib_samples' \"$tmp/err\""

# --- refusals and faults --------------------------------------------------------------------------
"$bin" train $tr --set seg_width=8 --out "$tmp/full1.h5" --resume >/dev/null 2>"$tmp/err"
ok "resume with another configuration refused, naming the key" "[ $? = 1 ] && grep -q 'seg_width' \"$tmp/err\""
cp "$tmp/full1.h5" "$tmp/good.h5"
head -c 3000 "$tmp/full1.h5" >"$tmp/bad.h5"
"$bin" train $tr --out "$tmp/bad.h5" --resume >/dev/null 2>"$tmp/err"
ok "damaged checkpoint detected" "[ $? = 1 ] && grep -q 'bad.h5' \"$tmp/err\""
mpi 1 "$bin" train $tr --out "$tmp/keep.h5" --stop-after 3 >/dev/null 2>"$tmp/err"
cp "$tmp/keep.h5" "$tmp/keep_copy.h5"
mkdir -p "$tmp/keep.h5.tmp/blocker"
"$bin" train $tr --out "$tmp/keep.h5" --resume >/dev/null 2>"$tmp/err"
ok "failed checkpoint write: exit 1 naming the file, previous checkpoint kept" "[ $? = 1 ] && grep -q 'keep.h5' \"$tmp/err\" && cmp -s \"$tmp/keep.h5\" \"$tmp/keep_copy.h5\""
rm -rf "$tmp/keep.h5.tmp"
"$bin" train $tr --out "$tmp/keep.h5" --stage rec >/dev/null 2>"$tmp/err"
ok "stage rec on an unfinished segmentation stage refused" "[ $? = 1 ] && grep -q 'segmentation stage is not finished' \"$tmp/err\""
"$bin" train $tr --out "$tmp/none.h5" --resume >/dev/null 2>"$tmp/err"
ok "resume without a checkpoint fails naming it" "[ $? = 1 ] && grep -q 'none.h5' \"$tmp/err\""
mpi 2 "$bin" train $tr --set batch_size=1 --out "$tmp/x.h5" >/dev/null 2>"$tmp/err"
ok "global batch smaller than the ranks: one clear error, exit 1" "[ $? = 1 ] && grep -q 'smaller than the number of ranks' \"$tmp/err\""
"$bin" train --data "$tmp/syn.h5" --out "$tmp/x.h5" --stage xyz >/dev/null 2>&1
ok "bad --stage is a usage error" "[ $? = 2 ]"
"$bin" train --data "$tmp/syn.h5" >/dev/null 2>&1
ok "missing --out is a usage error" "[ $? = 2 ]"

# --- the loss falls -------------------------------------------------------------------------------
ok "3 epochs at lr 5e-4" "\"$bin\" train $base --set epochs_seg=3 --set lr=5e-4 --out \"$tmp/fall.h5\" >/dev/null 2>\"$tmp/err\""
h5dump -y -d /seg/loss -o "$tmp/lossraw" "$tmp/fall.h5" >/dev/null 2>&1
tr -s ' ,' '\n\n' <"$tmp/lossraw" | grep -E '^[0-9.e+-]+$' >"$tmp/losses"
ok "45 losses stored" "[ \$(wc -l <\"$tmp/losses\") = 45 ]"
first=$(head -5 "$tmp/losses" | awk '{s+=$1} END {print s/NR}')
last=$(tail -5 "$tmp/losses" | awk '{s+=$1} END {print s/NR}')
ok "loss falls: mean of the first 5 steps $first > last 5 $last + 0.02" "awk -v a=$first -v b=$last 'BEGIN{exit !(a > b + 0.02)}'"

echo "loss: first 5 steps $first, last 5 steps $last"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
