#!/usr/bin/env bash
# ctest-labels: slow
# The time-limit protocol of the slurm/ scripts against a real Slurm (jobs/slurm_local.sh: one
# node of 2 CPUs) and the real sernet, on the synthetic set at S=32 with tiny training budgets:
#  3. slurm/train.sbatch with a 2-rank `sernet train --stage all` (steps slowed down by
#     SERNET_TRAIN_DELAY_MS): USR1 to the batch shell
#     (scancel --signal=USR1 --batch, what #SBATCH --signal=B:USR1@120 does 120 s before the time
#     limit) reaches sernet through srun; it checkpoints (model file: checkpoint_complete 1,
#     /seg/step = the step it reported, < steps_total, no /rec yet) and exits 0; the job requeues
#     itself (scontrol requeue); the second run gets --resume and continues from that step to the
#     end: COMPLETED, Restarts=1, /seg and /rec complete, and both nets equal an uninterrupted
#     run's (h5diff of /seg/tensors and /rec/tensors: no difference);
#  4. the same for slurm/infer.sbatch (SERNET_INFER_DELAY_MS slows the rounds): the interrupted
#     RESULTS.h5.tmp has complete = 0 and some rows done, the requeued run resumes it
#     (--resume), the final file is complete and its data equal an uninterrupted run's;
#  5. (with ../shared) slurm/array_categories.sh over glass and metal_plate (MVTec layout), both
#     tasks signalled during inference: each requeues once, its second run skips the finished
#     ingest and train, resumes the inference, and runs eval and export; every stage done, the
#     results complete, the model and dataset of its own category.
# Skips (77) when not root or when Slurm cannot be installed/started here. Daemons and files are
# removed on exit, whatever happens.
. "${SERNET_SOURCE_DIR:?}/tests/lib/slurm_test.bash" || exit 1
sn_slurm_start

# ---- inputs: the synthetic set, a tiny model and its results, made outside Slurm on 1 rank ------
# (training is exact across resumes at a fixed rank count; inference results do not depend on the
# number of ranks at a fixed --batch and thread count: docs/training.md, docs/inference.md)
t0=$(date +%s)
mkdir -p "$work/p" "$work/r"
(
  cd "$work/p" || exit 1
  "$bin" synth --out data.h5 --size 32 --config "$src/configs/default.ini" "${tiny[@]}" &&
    "$bin" train --stage all --quiet --data data.h5 --category weave --out model.h5 "${tiny[@]}" &&
    "$bin" infer --quiet --model model.h5 --data data.h5 --category weave --out results.h5
) >"$work/inputs.log" 2>&1 || { cat "$work/inputs.log"; bad "the inputs could not be made"; }
ntest=$("$bin" info "$work/p/data.h5" 2>/dev/null | awk '/\/weave\/test\/labels/ {gsub(/[^0-9]/, "", $3); print $3}')
[ -n "$ntest" ] || ntest=60
echo "inputs: $(( $(date +%s) - t0 )) s"

# ---- 3. train: signal, checkpoint, requeue, resume; equal to an uninterrupted run ------------
# 4 epochs of 15 steps, each slowed to >= 60 ms (SERNET_TRAIN_DELAY_MS, a testing hook): the
# signal, sent after the first progress line (step 10), arrives long before the end
t0=$(date +%s)
mkdir -p "$work/r"
long=("${tiny[@]}" --set epochs_seg=4)
# --time 10: the #SBATCH --signal=B:USR1@120 of the scripts comes 8 minutes in, never here
shape=(--nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10)
rid=$(SERNET_BIN=$bin SERNET_HOME=$src SERNET_TRAIN_DELAY_MS=60 sbatch --parsable "${shape[@]}" --output="$work/r/train.log" "$src/slurm/train.sbatch" \
        "$src/configs/default.ini" "$work/p/data.h5" "$work/r/m.h5" --category weave "${long[@]}")
# the uninterrupted reference: same shape, queued behind (it runs while the first waits to restart)
ref=$(SERNET_BIN=$bin SERNET_HOME=$src sbatch --parsable "${shape[@]}" --output="$work/r/ref.log" "$src/slurm/train.sbatch" \
        "$src/configs/default.ini" "$work/p/data.h5" "$work/r/ref.h5" --category weave "${long[@]}")
if [ -n "$rid" ] && [ -n "$ref" ]; then
  for ((i = 0; i < 400; i++)); do grep -q 'train seg  epoch' "$work/r/train.log" 2>/dev/null && break; sleep 0.1; done
  check "training runs (a progress line in the job log)" grep -q 'train seg  epoch' "$work/r/train.log"
  scancel --signal=USR1 --batch "$rid"
  # the first run's checkpoint, before the restart (a requeued job waits cred_expire+1 s to start)
  for ((i = 0; i < 400; i++)); do grep -q 'checkpointed; requeueing' "$work/r/train.log" && break; sleep 0.1; done
  cp "$work/r/m.h5" "$work/r/ckpt.h5" 2>/dev/null
  st=$(wait_job "$rid" 180)
  check "requeued training job COMPLETED, got $st" [ "$st" = COMPLETED ]
  rs=$(field "$rid" Restarts)
  check "the job was requeued exactly once (Restarts=$rs)" [ "$rs" = 1 ]
  stop=$(sed -n 's/^train: stopped after seg step \([0-9]*\) of \([0-9]*\).*/\1 \2/p' "$work/r/train.log" | head -n 1)
  checkx "USR1 reached sernet through the batch shell and srun: it stopped mid-stage (step/total: '$stop')" \
    '[ -n "$stop" ] && [ "${stop% *}" -lt "${stop#* }" ]'
  check "the checkpoint is complete (checkpoint_complete = 1)" [ "$(h5attr "$work/r/ckpt.h5" /checkpoint_complete)" = 1 ]
  cs=$(h5attr "$work/r/ckpt.h5" /seg/step) ct=$(h5attr "$work/r/ckpt.h5" /seg/steps_total)
  checkx "the checkpoint holds the step it stopped at, before the end (/seg/step $cs of $ct; log: $stop)" \
    '[ -n "$cs" ] && [ "$cs $ct" = "$stop" ] && [ "$cs" -lt "$ct" ]'
  check "the checkpoint has no reconstruction net yet" [ -z "$(h5attr "$work/r/ckpt.h5" /rec/step)" ]
  check "the log shows the requeue" grep -q 'checkpointed; requeueing' "$work/r/train.log"
  check "the second run was started with --resume" grep -q 'run.sh: srun .* train --stage all .* --resume' "$work/r/train.log"
  check "the second run continued from step $cs" grep -q "loaded .*m.h5: seg step $cs of $ct" "$work/r/train.log"
  check "final model: /seg complete" [ "$(h5attr "$work/r/m.h5" /seg/complete)" = 1 ]
  check "final model: /rec complete" [ "$(h5attr "$work/r/m.h5" /rec/complete)" = 1 ]
  st=$(wait_job "$ref" 180)
  check "uninterrupted reference COMPLETED ($st)" [ "$st" = COMPLETED ]
  check "interrupted + resumed nets equal the uninterrupted run's (h5diff /seg/tensors, /rec/tensors)" \
    same_nets "$work/r/m.h5" "$work/r/ref.h5"
  [ "$st" = COMPLETED ] && [ "$rs" = 1 ] || { cat "$work/r/train.log"; dump_logs; }
else
  bad "sbatch of slurm/train.sbatch failed"
fi
echo "part 3 (train: signal, checkpoint, requeue, resume): $(( $(date +%s) - t0 )) s"

# ---- 4. infer: the same protocol; equal to an uninterrupted run's results -------------------
t0=$(date +%s)
iid=$(SERNET_BIN=$bin SERNET_HOME=$src SERNET_INFER_DELAY_MS=700 sbatch --parsable "${shape[@]}" --output="$work/r/infer.log" \
        "$src/slurm/infer.sbatch" "$work/p/model.h5" "$work/p/data.h5" "$work/r/res.h5" --category weave)
if [ -n "$iid" ]; then
  for ((i = 0; i < 400; i++)); do [ -e "$work/r/res.h5.tmp" ] && break; sleep 0.1; done
  check "inference runs (the .tmp exists)" [ -e "$work/r/res.h5.tmp" ]
  scancel --signal=USR1 --batch "$iid"
  for ((i = 0; i < 400; i++)); do grep -q 'checkpointed; requeueing' "$work/r/infer.log" && break; sleep 0.1; done
  cp "$work/r/res.h5.tmp" "$work/r/part.h5" 2>/dev/null
  st=$(wait_job "$iid" 120)
  check "requeued inference job COMPLETED, got $st" [ "$st" = COMPLETED ]
  rs=$(field "$iid" Restarts)
  check "the inference job was requeued exactly once (Restarts=$rs)" [ "$rs" = 1 ]
  check "sernet infer stopped on request" grep -q 'infer: stopped on request' "$work/r/infer.log"
  dc=$(done_counts "$work/r/part.h5")
  checkx "the interrupted .tmp: complete = 0, some rows done, some not ($dc)" \
    '[ "$(h5attr "$work/r/part.h5" /complete)" = 0 ] && [ "${dc% *}" -gt 0 ] && [ "${dc#* }" -gt 0 ]'
  check "the second run resumed the .tmp" grep -q "infer: resuming .*res.h5.tmp: ${dc% *} of $ntest rows already done" "$work/r/infer.log"
  check "results complete after the requeue" results_complete "$work/r/res.h5" "$ntest"
  check "interrupted + resumed results equal an uninterrupted run's" same_results "$work/r/res.h5" "$work/p/results.h5"
  [ "$st" = COMPLETED ] && [ "$rs" = 1 ] || { cat "$work/r/infer.log"; dump_logs; }
else
  bad "sbatch of slurm/infer.sbatch failed"
fi
echo "part 4 (infer: signal, requeue, resume): $(( $(date +%s) - t0 )) s"

# ---- 5. job array over the categories of a dataset (the shared glass and metal_plate) ----------
shared=${SERNET_SHARED_DIR:-}
if [ -n "$shared" ] && [ -d "$shared/data/glass/glass/train/good" ] && [ -d "$shared/data/mpdd/metal_plate/train/good" ]; then
  t0=$(date +%s)
  mkdir -p "$work/root"
  ln -s "$(cd "$shared/data/glass/glass" && pwd)" "$work/root/glass"
  ln -s "$(cd "$shared/data/mpdd/metal_plate" && pwd)" "$work/root/metal_plate"
  # both tasks at once (1 CPU each); each is signalled during its inference (slowed down), so it
  # requeues and its second run must skip the finished stages and resume the .tmp
  aid=$(SERNET_BIN=$bin SERNET_INFER_DELAY_MS=400 bash "$src/slurm/array_categories.sh" --root "$work/root" \
          --out "$work/a" --ingest-args "--size 32" "${tiny[@]}" --ntasks-per-node 1 --cpus-per-task 1 \
          --time 10 2>"$work/a.err")
  if [ -n "$aid" ]; then
    declare -A sig=()
    for ((i = 0; i < 1200 && ${#sig[@]} < 2; i++)); do
      for k in 0 1; do
        c=$(sed -n "$((k + 1))p" "$work/a/categories.txt")
        if [ -z "${sig[$k]:-}" ] && [ -e "$work/a/$c/results.h5.tmp" ]; then
          scancel --signal=USR1 --batch "${aid}_$k"; sig[$k]=1
        fi
      done
      sleep 0.1
    done
    for k in 0 1; do
      c=$(sed -n "$((k + 1))p" "$work/a/categories.txt")
      check "array task $k ($c) reached inference and was signalled" [ -n "${sig[$k]:-}" ]
      st=$(wait_job "${aid}_$k" 180)
      check "array task $k ($c) COMPLETED, got $st" [ "$st" = COMPLETED ]
      rs=$(field "${aid}_$k" Restarts)
      check "array task $k ($c) requeued once (Restarts=$rs)" [ "$rs" = 1 ]
      lg=$work/a/logs/sernet-cat-${aid}_$k.log
      for s in ingest train; do
        n=$(grep -c "run.sh: srun .* $s " "$lg")
        check "array task $k ($c): $s ran once across the requeue (ran $n times)" [ "$n" = 1 ]
      done
      check "array task $k ($c): the requeued run resumed the inference" grep -q "infer: resuming .*results.h5.tmp" "$lg"
      for s in ingest train infer eval export; do
        check "array task $k ($c): stage $s done" [ -e "$work/a/$c/done.$s" ]
      done
      check "array task $k ($c) ingested its own category" grep -q "category $c" <<<"$("$bin" info "$work/a/$c/data.h5" 2>/dev/null)"
      check "array task $k ($c): model trained on $c" [ "$(h5attr "$work/a/$c/model.h5" /category | sed 's/\\000//g; s/"//g')" = "$c" ]
      m=$(h5attr "$work/a/$c/results.h5" /n_test)
      check "array task $k ($c): results complete ($m rows)" results_complete "$work/a/$c/results.h5" "${m:-x}"
      checkx "array task $k ($c): eval wrote its JSON and /metrics" \
        '[ -s "$work/a/$c/results_metrics.json" ] && h5ls "$work/a/$c/results.h5/metrics" >/dev/null 2>&1'
      n=$(find "$work/a/$c/panels" -name '*.png' 2>/dev/null | wc -l)
      checkx "array task $k ($c): export wrote one panel per test image ($n of $m)" '[ "$n" = "$m" ] && [ -s "$work/a/$c/panels/index.md" ]'
      [ "$st" = COMPLETED ] || cat "$work/a/logs/sernet-cat-${aid}_$k.log"
    done
  else
    cat "$work/a.err"; bad "array_categories.sh did not submit"
  fi
  echo "part 5 (job array over categories): $(( $(date +%s) - t0 )) s"
else
  echo "part 5 (job array) skipped: no ../shared data"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
