#!/usr/bin/env bash
# A real Slurm on this machine (jobs/slurm_local.sh: munged, slurmctld, slurmd, one node of
# 2 CPUs), then:
#  1. a 2-task batch job runs working sernet commands through jobs/run.sh (srun --mpi=pmix):
#     synth on 2 ranks of one MPI world (same bytes as 1 rank), info, pseudo on 2 ranks; the
#     thread variables each rank sees; job state COMPLETED;
#  2. slurm/submit_pipeline.sh submits the 5-stage afterok chain on the synthetic set; ingest is the
#     real sernet synth, the planned stages (train, infer, eval, export) are stand-ins that check
#     their inputs and log their start and end. Each job takes 1 of the 2 CPUs, so only the
#     dependencies keep them apart: every stage COMPLETED, in order, each after the previous
#     ended; and a failed job cancels its afterok dependant;
#  3. the checkpoint/requeue protocol of slurm/train.sbatch with a stand-in for the planned
#     `sernet train` on 2 ranks: USR1 to the batch shell (scancel --signal=USR1 --batch, what
#     --signal=B:USR1@120 does before the time limit) reaches both ranks, the stand-in
#     "checkpoints" and exits 0, the job requeues itself, the second run gets --resume and
#     completes: COMPLETED with Restarts=1.
# Skips (77) when not root or when Slurm cannot be installed/started here. Daemons and files are
# removed on exit, whatever happens.
set -u
bin=${SERNET_BIN:?} src=${SERNET_SOURCE_DIR:?}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

work=$(mktemp -d /tmp/snslurm.XXXXXX) || { echo "cannot create a temporary directory"; exit 1; }
export SERNET_SLURM_DIR=$work/s
cleanup() {
  bash "$src/jobs/slurm_local.sh" stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- 0. jobs/run.sh outside Slurm: mpirun, threads = CPUs / ranks, BLAS threads 1 ------------
cat >"$work/envline" <<'EOF'
#!/bin/sh
echo "$OMPI_COMM_WORLD_RANK $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS $BLIS_NUM_THREADS"
EOF
chmod +x "$work/envline"
t=$(( $(nproc) / 2 )); [ $t -ge 1 ] || t=1
got=$(env -u SLURM_JOB_ID -u OMP_NUM_THREADS SERNET_BIN="$work/envline" bash "$src/jobs/run.sh" -n 2 cmd 2>/dev/null | sort | tr '\n' ' ')
check "run.sh outside Slurm: 2 ranks by mpirun, OMP_NUM_THREADS=$t, BLAS threads 1 (got '$got')" [ "$got" = "0 $t 1 1 1 $t 1 1 " ]
got=$(env -u SLURM_JOB_ID OMP_NUM_THREADS=3 SERNET_BIN="$work/envline" bash "$src/jobs/run.sh" -n 1 cmd 2>/dev/null)
check "run.sh outside Slurm: 1 rank runs directly, a set OMP_NUM_THREADS is kept (got '$got')" [ "$got" = " 3 1 1" ]

if [ "$(id -u)" != 0 ]; then
  echo "$pass passed, $fail failed (outside Slurm)"
  [ "$fail" = 0 ] || exit 1
  echo "skipped: a private slurmd must run as root (this test starts its own Slurm); run as root"
  exit 77
fi
command -v ss >/dev/null || { echo "skipped: no ss (iproute2) to find free ports"; exit 77; }


if ! timeout 300 bash "$src/jobs/slurm_local.sh" start >"$work/start.log" 2>&1; then
  tail -n 25 "$work/start.log"
  echo "skipped: Slurm could not be installed or started on this machine (log above)"
  exit 77
fi
eval "$(bash "$src/jobs/slurm_local.sh" env)"
export SLURM_CONF
echo "slurm: $(tail -n 2 "$work/start.log" | head -n 1)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

dump_logs() {
  echo "---- slurmctld.log (tail)"; tail -n 20 "$SERNET_SLURM_DIR/log/slurmctld.log" 2>/dev/null
  echo "---- slurmd.log (tail)"; tail -n 20 "$SERNET_SLURM_DIR/log/slurmd.log" 2>/dev/null
}

field() { scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# wait_job ID SECONDS: until the job reaches a final state; prints that state
wait_job() {
  local id=$1 limit=$2 st i
  for ((i = 0; i < limit * 4; i++)); do
    st=$(field "$id" JobState)
    case $st in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) echo "$st"; return 0 ;;
    esac
    sleep 0.25
  done
  echo "TIMEOUT_WAITING(${st:-none})"
}

# ---- 1. working commands on 2 ranks through jobs/run.sh -------------------------------------
mkdir -p "$work/j1"
cat >"$work/j1/job.sh" <<EOF
#!/bin/bash
#SBATCH --ntasks=2 --cpus-per-task=1 --time=2 --output=$work/j1/out.txt
set -e
export SERNET_BIN=$bin
$src/jobs/run.sh synth --out $work/j1/d.h5 --size 64 --seed 3 --force 2>$work/j1/synth.err
$src/jobs/run.sh -n 1 info $work/j1/d.h5 >$work/j1/info.txt
$src/jobs/run.sh pseudo --data $work/j1/d.h5 --category weave --kind ppa --count 4 --out $work/j1/pseudo 2>/dev/null
SERNET_BIN=/usr/bin/printenv $src/jobs/run.sh SLURM_PROCID OMP_NUM_THREADS OPENBLAS_NUM_THREADS BLIS_NUM_THREADS >$work/j1/env.txt
EOF
t0=$(date +%s)
id1=$(sbatch --parsable "$work/j1/job.sh" 2>"$work/j1/sbatch.err") || { cat "$work/j1/sbatch.err"; id1=; }
if [ -n "$id1" ]; then
  st=$(wait_job "$id1" 90)
  check "job 1 ($id1) state is COMPLETED, got $st" [ "$st" = COMPLETED ]
  [ "$st" = COMPLETED ] || { cat "$work/j1/out.txt"; dump_logs; }
  check "synth reports 2 ranks of one MPI world under srun --mpi=pmix" grep -q 'on 2 rank(s)' "$work/j1/out.txt"
  "$bin" synth --out "$work/j1/ref.h5" --size 64 --seed 3 --force >/dev/null 2>&1
  check "dataset from 2 ranks under srun equals the 1-rank file" cmp -s "$work/j1/d.h5" "$work/j1/ref.h5"
  check "info describes the dataset" grep -q 'kind: sernet-dataset' "$work/j1/info.txt"
  check "info shows image size 64" grep -qE '^ *image_size +64$' "$work/j1/info.txt"
  n=$(find "$work/j1/pseudo" -name 'ppa_*.png' 2>/dev/null | wc -l)
  check "pseudo wrote 4 sheets on 2 ranks (got $n)" [ "$n" = 4 ]
  check "both ranks (SLURM_PROCID 0, 1) ran with OMP/OPENBLAS/BLIS threads 1" \
    [ "$(sort "$work/j1/env.txt" | tr '\n' ' ')" = "0 1 1 1 1 1 1 1 " ]
  check "run.sh launched with srun --mpi=pmix" grep -q 'run.sh: srun --mpi=pmix' "$work/j1/out.txt"
else
  bad "sbatch of job 1 failed"
fi
echo "part 1 (2-task job): $(( $(date +%s) - t0 )) s"

# ---- stand-in for the planned sernet commands -------------------------------------------------
# Working commands go to the real program; train/infer/eval/export check their inputs, log
# "start STAGE" / "end STAGE" with a timestamp (rank 0) and write their output.
fake=$work/fake_sernet
cat >"$fake" <<EOF
#!/bin/bash
real=$bin
log=\${FAKE_LOG:-$work/stages.log}
EOF
cat >>"$fake" <<'EOF'
cmd=$1; shift
rank=${SLURM_PROCID:-${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-0}}}
case $cmd in
  train|infer|eval|export) ;;
  *) exec "$real" "$cmd" "$@" ;;
esac
declare -A opt=()
resume=0
while [ $# -gt 0 ]; do
  case $1 in --resume) resume=1; shift ;; --*) opt[$1]=$2; shift 2 ;; *) shift ;; esac
done
need() { [ -e "$1" ] || { echo "fake $cmd: missing input $1" >&2; exit 1; }; }
[ "$rank" = 0 ] && echo "start $cmd $(date +%s.%N)" >>"$log"
case $cmd in
  train)
    need "${opt[--config]}"; need "${opt[--data]}"
    model=${opt[--out]}
    if [ "${FAKE_TRAIN_WAIT:-0}" = 1 ]; then
      if [ $resume = 1 ]; then
        grep -q '^checkpoint' "$model" || { echo "fake train: --resume without a checkpoint" >&2; exit 1; }
        [ "$rank" = 0 ] && echo "resumed and finished" >>"$model"
      else
        got=0
        trap 'got=1' USR1
        touch "$model.running.$rank"
        for ((i = 0; i < 600 && got == 0; i++)); do sleep 0.1; done
        [ $got = 1 ] || { echo "fake train: no USR1 within 60 s" >&2; exit 1; }
        touch "$model.signal.$rank"
        [ "$rank" = 0 ] && echo "checkpoint step $i" >"$model"
      fi
    else
      [ "$rank" = 0 ] && echo "model" >"$model"
    fi ;;
  infer) need "${opt[--model]}"; need "${opt[--data]}"; [ "$rank" = 0 ] && echo results >"${opt[--out]}" ;;
  eval) need "${opt[--results]}"; need "${opt[--data]}" ;;
  export) need "${opt[--results]}"; mkdir -p "${opt[--out]}"; [ "$rank" = 0 ] && touch "${opt[--out]}/panel.png" ;;
esac
sleep 0.3
[ "$rank" = 0 ] && echo "end $cmd $(date +%s.%N)" >>"$log"
exit 0
EOF
chmod +x "$fake"

# ---- 1b. jobs/pipeline.sh: the same five stages in one go, outside Slurm (mpirun, 2 ranks) ---
got=$(env -u SLURM_JOB_ID SERNET_BIN="$fake" FAKE_LOG="$work/local_stages.log" bash "$src/jobs/pipeline.sh" \
        --synth --size 32 -n 2 --out "$work/lp" 2>&1) || echo "$got"
check "jobs/pipeline.sh ran all stages in order" \
  [ "$(awk '$1 == "start" {printf "%s ", $2}' "$work/local_stages.log" 2>/dev/null)" = "train infer eval export " ]
check "jobs/pipeline.sh: synth on 2 ranks by mpirun" grep -q 'on 2 rank(s)' <<<"$got"

# ---- 2. the dependency chain ------------------------------------------------------------------
t0=$(date +%s)
out=$(SERNET_BIN=$fake bash "$src/slurm/submit_pipeline.sh" --out "$work/p" --synth --size 32 \
        --nodes 1 --ntasks-per-node 1 --cpus-per-task 1 --time 3 2>"$work/submit.err")
line=$(tail -n 1 <<<"$out")
check "submit_pipeline.sh submitted 5 stages ($line)" grep -qE '^jobs: ingest=[0-9]+ train=[0-9]+ infer=[0-9]+ eval=[0-9]+ export=[0-9]+$' <<<"$line"
[ -s "$work/submit.err" ] && ! grep -q '^submitted' "$work/submit.err" && cat "$work/submit.err"
declare -A jid=()
for kv in ${line#jobs:}; do jid[${kv%%=*}]=${kv#*=}; done
if [ -n "${jid[export]:-}" ]; then
  st=$(wait_job "${jid[export]}" 90)
  for s in ingest train infer eval export; do
    st=$(field "${jid[$s]}" JobState)
    check "pipeline stage $s (job ${jid[$s]}) COMPLETED, got $st" [ "$st" = COMPLETED ]
    [ "$st" = COMPLETED ] || { cat "$work"/p/logs/*-"${jid[$s]}".log 2>/dev/null; }
  done
  check "ingest (real synth) wrote the dataset" "$bin" info "$work/p/data.h5" >/dev/null 2>&1
  check "stages ran in order: train, infer, eval, export" \
    [ "$(awk '$1 == "start" {printf "%s ", $2}' "$work/stages.log" 2>/dev/null)" = "train infer eval export " ]
  # each stage started after the previous one ended
  check "no stage started before the previous one ended" awk '
    $1 == "end" { last = $3 } $1 == "start" { if (last != "" && $3 < last) bad = 1 } END { exit bad }' "$work/stages.log"
  check "export wrote its panels" [ -f "$work/p/panels/panel.png" ]
fi
# a failing job: its afterok dependant is cancelled, never run
f1=$(sbatch --parsable --output=/dev/null --wrap 'exit 3')
f2=$(sbatch --parsable --output=/dev/null --kill-on-invalid-dep=yes --dependency=afterok:"$f1" --wrap "touch $work/must_not_exist")
st1=$(wait_job "$f1" 30) st2=$(wait_job "$f2" 30)
check "failing job FAILED ($st1), its afterok dependant CANCELLED ($st2) and never ran" \
  [ "$st1" = FAILED ] && [ "$st2" = CANCELLED ] && [ ! -e "$work/must_not_exist" ]
echo "part 2 (dependency chain): $(( $(date +%s) - t0 )) s"

# ---- 3. signal, checkpoint, requeue, resume ---------------------------------------------------
t0=$(date +%s)
mkdir -p "$work/r"
cp "$src/configs/default.ini" "$work/r/c.ini"; touch "$work/r/d.h5"
rid=$(SERNET_BIN=$fake FAKE_TRAIN_WAIT=1 SERNET_HOME=$src sbatch --parsable --nodes=1 --ntasks-per-node=2 \
        --cpus-per-task=1 --time=3 --output="$work/r/train.log" "$src/slurm/train.sbatch" \
        "$work/r/c.ini" "$work/r/d.h5" "$work/r/m.h5")
if [ -n "$rid" ]; then
  for ((i = 0; i < 240; i++)); do
    [ -e "$work/r/m.h5.running.0" ] && [ -e "$work/r/m.h5.running.1" ] && break
    sleep 0.25
  done
  check "stand-in training runs on 2 ranks" [ -e "$work/r/m.h5.running.1" ]
  sleep 0.5
  scancel --signal=USR1 --batch "$rid"
  st=$(wait_job "$rid" 60)
  check "requeued training job COMPLETED, got $st" [ "$st" = COMPLETED ]
  rs=$(field "$rid" Restarts)
  check "the job was requeued exactly once (Restarts=$rs)" [ "$rs" = 1 ]
  check "USR1 reached both ranks" [ -e "$work/r/m.h5.signal.0" ] && [ -e "$work/r/m.h5.signal.1" ]
  check "the first run checkpointed, the second resumed from it" \
    [ "$(cut -d' ' -f1 "$work/r/m.h5" | tr '\n' ' ')" = "checkpoint resumed " ]
  check "the log shows the requeue" grep -q 'checkpointed; requeueing' "$work/r/train.log"
  check "the second run was started with --resume" grep -q 'train --config .* --resume' "$work/r/train.log"
  [ "$st" = COMPLETED ] && [ "$rs" = 1 ] || { cat "$work/r/train.log"; dump_logs; }
else
  bad "sbatch of slurm/train.sbatch failed"
fi
echo "part 3 (signal and requeue): $(( $(date +%s) - t0 )) s"

# ---- 4. job array over the categories of a dataset (the shared glass and metal_plate) ----------
shared=${SERNET_SHARED_DIR:-}
if [ -n "$shared" ] && [ -d "$shared/data/glass/glass/train/good" ] && [ -d "$shared/data/mpdd/metal_plate/train/good" ]; then
  t0=$(date +%s)
  mkdir -p "$work/root"
  ln -s "$(cd "$shared/data/glass/glass" && pwd)" "$work/root/glass"
  ln -s "$(cd "$shared/data/mpdd/metal_plate" && pwd)" "$work/root/metal_plate"
  aid=$(SERNET_BIN=$fake FAKE_TRAIN_WAIT=1 bash "$src/slurm/array_categories.sh" --root "$work/root" \
          --out "$work/a" --ingest-args "--size 32" --ntasks-per-node 1 --cpus-per-task 1 --time 3 2>"$work/a.err")
  if [ -n "$aid" ]; then
    # both categories train at once (1 CPU each); signal both, as the time limit would
    for c in glass metal_plate; do
      for ((i = 0; i < 240; i++)); do [ -e "$work/a/$c/model.h5.running.0" ] && break; sleep 0.25; done
      check "array task $c reached training" [ -e "$work/a/$c/model.h5.running.0" ]
    done
    sleep 0.5
    scancel --signal=USR1 --batch "${aid}_0" "${aid}_1"
    for k in 0 1; do
      c=$(sed -n "$((k + 1))p" "$work/a/categories.txt")
      st=$(wait_job "${aid}_$k" 60)
      check "array task $k ($c) COMPLETED, got $st" [ "$st" = COMPLETED ]
      rs=$(field "${aid}_$k" Restarts)
      check "array task $k ($c) requeued once (Restarts=$rs)" [ "$rs" = 1 ]
      check "array task $k ($c): every stage done" [ -e "$work/a/$c/done.export" ] && [ -e "$work/a/$c/done.ingest" ]
      check "array task $k ($c) ingested its own category" grep -q "category $c" <<<"$("$bin" info "$work/a/$c/data.h5" 2>/dev/null)"
      check "array task $k ($c): checkpoint, then resume" [ "$(cut -d' ' -f1 "$work/a/$c/model.h5" 2>/dev/null | tr '\n' ' ')" = "checkpoint resumed " ]
      n=$(grep -c 'run.sh: srun .* ingest ' "$work/a/logs/sernet-cat-${aid}_$k.log")
      check "array task $k ($c): ingest ran once across the requeue (ran $n times)" [ "$n" = 1 ]
      [ "$st" = COMPLETED ] && [ "$rs" = 1 ] || cat "$work/a/logs/sernet-cat-${aid}_$k.log"
    done
  else
    cat "$work/a.err"; bad "array_categories.sh did not submit"
  fi
  echo "part 4 (job array over categories): $(( $(date +%s) - t0 )) s"
else
  echo "part 4 (job array) skipped: no ../shared data"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
