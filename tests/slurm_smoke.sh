#!/usr/bin/env bash
# A real Slurm on this machine (jobs/slurm_local.sh: munged, slurmctld, slurmd, one node of
# 2 CPUs) running the real sernet commands (the checkpoint/requeue protocol: tests/slurm_requeue.sh):
#  0. jobs/run.sh outside Slurm: mpirun, threads per rank, BLAS threads pinned to 1;
#  1. a 2-task batch job runs sernet through jobs/run.sh (srun --mpi=pmix): synth on 2 ranks of
#     one MPI world (same bytes as 1 rank), info, pseudo on 2 ranks; the thread variables each
#     rank sees; job state COMPLETED;
#  2. jobs/pipeline.sh outside Slurm (mpirun, 2 ranks), then slurm/submit_pipeline.sh (the 5-stage
#     afterok chain, 2 tasks per job) on the synthetic set at S=32 with tiny training budgets
#     (--set): every stage COMPLETED, each started after the previous one ended; both nets
#     trained to the end; the results file complete (root attribute complete = 1, every /done 1)
#     and equal to jobs/pipeline.sh's; the eval JSON, report and /metrics; one export panel per
#     test image, valid PNGs; a failed job cancels its afterok dependant.
# Skips (77) when not root or when Slurm cannot be installed/started here. Daemons and files are
# removed on exit, whatever happens.
. "${SERNET_SOURCE_DIR:?}/tests/lib/slurm_test.bash" || exit 1

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

sn_slurm_start

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
  [ "$st" = COMPLETED ] || { cat "$work/j1/out.txt" "$work/j1/synth.err"; dump_logs; }
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

ntest=$("$bin" info "$work/j1/ref.h5" 2>/dev/null | awk '/\/weave\/test\/labels/ {gsub(/[^0-9]/, "", $3); print $3}')
[ -n "$ntest" ] || ntest=60

# ---- 2a. jobs/pipeline.sh: the five stages in one go, outside Slurm (mpirun, 2 ranks) ---------
t0=$(date +%s)
got=$(env -u SLURM_JOB_ID SERNET_BIN="$bin" bash "$src/jobs/pipeline.sh" --synth --size 32 -n 2 --out "$work/lp" "${tiny[@]}" 2>&1)
rc=$?
check "jobs/pipeline.sh ran every stage (status $rc)" [ $rc = 0 ]
[ $rc = 0 ] || tail -n 30 <<<"$got"
check "jobs/pipeline.sh: stages in order" \
  [ "$(sed -n 's/^== pipeline: //p' <<<"$got" | tr '\n' ' ')" = "ingest train infer eval export " ]
check "jobs/pipeline.sh: 2 ranks by mpirun" grep -q 'run.sh: mpirun -np 2' <<<"$got"
check "jobs/pipeline.sh: results complete, $ntest rows done" results_complete "$work/lp/results.h5" "$ntest"
echo "part 2a (jobs/pipeline.sh, mpirun): $(( $(date +%s) - t0 )) s"

# ---- 2b. the dependency chain ------------------------------------------------------------------
t0=$(date +%s)
out=$(SERNET_BIN=$bin bash "$src/slurm/submit_pipeline.sh" --out "$work/p" --synth --category weave --size 32 "${tiny[@]}" \
        --nodes 1 --ntasks-per-node 2 --cpus-per-task 1 --time 10 2>"$work/submit.err")
line=$(tail -n 1 <<<"$out")
check "submit_pipeline.sh submitted 5 stages ($line)" grep -qE '^jobs: ingest=[0-9]+ train=[0-9]+ infer=[0-9]+ eval=[0-9]+ export=[0-9]+$' <<<"$line"
grep -v '^submitted' "$work/submit.err"
declare -A jid=()
for kv in ${line#jobs:}; do jid[${kv%%=*}]=${kv#*=}; done
if [ -n "${jid[export]:-}" ]; then
  st=$(wait_job "${jid[export]}" 240)
  prev_end=0 order=1
  for s in ingest train infer eval export; do
    st=$(field "${jid[$s]}" JobState)
    check "pipeline stage $s (job ${jid[$s]}) COMPLETED, got $st" [ "$st" = COMPLETED ]
    [ "$st" = COMPLETED ] || { cat "$work"/p/logs/*-"${jid[$s]}".log 2>/dev/null; }
    b=$(epoch_of "$(field "${jid[$s]}" StartTime)") e=$(epoch_of "$(field "${jid[$s]}" EndTime)")
    if [ "$b" -lt "$prev_end" ] || { [ "$prev_end" = 0 ] && [ $s != ingest ]; }; then order=0; fi
    prev_end=$e
  done
  check "each stage started after the previous one ended (scontrol StartTime/EndTime)" [ $order = 1 ]
  check "ingest wrote the dataset" "$bin" info "$work/p/data.h5" >/dev/null 2>&1
  check "train ran on 2 ranks under srun" grep -q 'global batch 8 over 2 rank(s)' "$work"/p/logs/sernet-train-*.log
  check "the model's segmentation stage is complete" [ "$(h5attr "$work/p/model.h5" /seg/complete)" = 1 ]
  check "the model's reconstruction stage is complete" [ "$(h5attr "$work/p/model.h5" /rec/complete)" = 1 ]
  check "results complete (attribute complete = 1, all $ntest /done = 1)" results_complete "$work/p/results.h5" "$ntest"
  check "no .tmp left" [ ! -e "$work/p/results.h5.tmp" ]
  check "infer ran with --force (a fresh results file after training)" grep -q 'infer .* --force' "$work"/p/logs/sernet-infer-*.log
  check "the results equal jobs/pipeline.sh's (same model, 2 ranks)" same_results "$work/p/results.h5" "$work/lp/results.h5"
  check "eval wrote valid JSON with the image AUROC" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["format"] == "sernet-metrics" and d["n_images"] == int(sys.argv[2]) and "image_auroc" in d else 1)' \
    "$work/p/results_metrics.json" "$ntest"
  checkx "eval wrote the report (report.md, ROC curve)" \
    '[ -s "$work/p/results_report/report.md" ] && [ -s "$work/p/results_report/roc_image.svg" ]'
  n=0 nbad=0
  for f in "$work"/p/results_report/f[pn]_*.png; do [ -e "$f" ] || continue; n=$((n + 1)); png_ok "$f" || nbad=$((nbad + 1)); done
  checkx "eval's worst-case panels are valid PNGs ($n, $nbad bad)" '[ $n -gt 0 ] && [ $nbad = 0 ]'
  check "eval added /metrics to the results file" h5ls "$work/p/results.h5/metrics" >/dev/null 2>&1
  check "the results file is still complete after eval" results_complete "$work/p/results.h5" "$ntest"
  n=0 nbad=0
  while IFS= read -r f; do n=$((n + 1)); png_ok "$f" || nbad=$((nbad + 1)); done < <(find "$work/p/panels" -name '*.png')
  checkx "export wrote one panel per test image ($n of $ntest), all valid PNGs ($nbad bad)" '[ "$n" = "$ntest" ] && [ $nbad = 0 ]'
  check "export wrote its index" [ -s "$work/p/panels/index.md" ]
fi
# a failing job: its afterok dependant is cancelled, never run
f1=$(sbatch --parsable --output=/dev/null --wrap 'exit 3')
f2=$(sbatch --parsable --output=/dev/null --kill-on-invalid-dep=yes --dependency=afterok:"$f1" --wrap "touch $work/must_not_exist")
st1=$(wait_job "$f1" 30) st2=$(wait_job "$f2" 30)
checkx "failing job FAILED ($st1), its afterok dependant CANCELLED ($st2) and never ran" \
  '[ "$st1" = FAILED ] && [ "$st2" = CANCELLED ] && [ ! -e "$work/must_not_exist" ]'
echo "part 2b (dependency chain): $(( $(date +%s) - t0 )) s"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
