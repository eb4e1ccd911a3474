#!/usr/bin/env bash
# Launch one sernet command on several MPI ranks, the right way for where it runs.
#
#   jobs/run.sh [-n RANKS] [--] <sernet command> [options...]
#
# Inside a Slurm allocation (SLURM_JOB_ID set):  srun --mpi=pmix [-n RANKS] --cpus-per-task=C sernet ...
#   ranks: -n, else SERNET_RANKS, else every task of the allocation (SLURM_NTASKS);
#   threads per rank: OMP_NUM_THREADS = SLURM_CPUS_PER_TASK (1 when the job did not ask for more),
#   and --cpus-per-task is passed on explicitly (srun does not inherit it from sbatch since 22.05).
# Otherwise:  mpirun -np RANKS --oversubscribe sernet ...   (RANKS 1: sernet runs directly)
#   ranks: -n, else SERNET_RANKS, else 1;
#   threads per rank: OMP_NUM_THREADS if set, else (CPUs of this machine) / RANKS, at least 1.
# Always: OPENBLAS_NUM_THREADS=1 and BLIS_NUM_THREADS=1. The engine runs its own threads (OpenMP)
# around single-threaded GEMM calls; a threaded BLAS inside them would oversubscribe the cores.
#
# Environment: SERNET_BIN (default: build/sernet of this checkout), SERNET_RANKS,
#   SERNET_LAUNCH=slurm|local (override the detection), SERNET_SRUN_MPI (default pmix; "none" or
#   "pmi2" for sites without PMIx), SERNET_MPIRUN_ARGS / SERNET_SRUN_ARGS (extra launcher options).
# The launcher replaces this shell (exec), so signals sent to this process reach the launcher,
# which forwards SIGTERM/SIGUSR1 to every rank.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }

ranks=${SERNET_RANKS:-}
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || { echo "run.sh: -n needs a number" >&2; usage; }; ranks=$2; shift 2 ;;
    -n*) ranks=${1#-n}; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "run.sh: missing sernet command" >&2; usage; }
if [ -n "$ranks" ] && ! [[ $ranks =~ ^[1-9][0-9]*$ ]]; then
  echo "run.sh: ranks must be a positive integer, got '$ranks'" >&2; exit 2
fi

bin=${SERNET_BIN:-$here/build/sernet}
[ -x "$bin" ] || { echo "run.sh: no sernet program at $bin (build it: bash jobs/setup.sh, or set SERNET_BIN)" >&2; exit 1; }

mode=${SERNET_LAUNCH:-}
[ -n "$mode" ] || { if [ -n "${SLURM_JOB_ID:-}" ]; then mode=slurm; else mode=local; fi; }

export OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1

case $mode in
  slurm)
    command -v srun >/dev/null || { echo "run.sh: inside a Slurm job (SLURM_JOB_ID=$SLURM_JOB_ID) but no srun on PATH" >&2; exit 1; }
    cpt=${SLURM_CPUS_PER_TASK:-1}
    export OMP_NUM_THREADS=$cpt
    args=(--mpi="${SERNET_SRUN_MPI:-pmix}" --cpus-per-task="$cpt" --kill-on-bad-exit=1)
    [ -n "$ranks" ] && args+=(--ntasks="$ranks")
    # shellcheck disable=SC2206
    [ -n "${SERNET_SRUN_ARGS:-}" ] && args+=(${SERNET_SRUN_ARGS})
    echo "run.sh: srun ${args[*]} $bin $* (OMP_NUM_THREADS=$OMP_NUM_THREADS, tasks ${ranks:-${SLURM_NTASKS:-?}})" >&2
    exec srun "${args[@]}" "$bin" "$@"
    ;;
  local)
    ranks=${ranks:-1}
    if [ -z "${OMP_NUM_THREADS:-}" ]; then
      t=$(( $(nproc) / ranks )); [ "$t" -ge 1 ] || t=1
      export OMP_NUM_THREADS=$t
    fi
    if [ "$ranks" = 1 ] && [ -z "${SERNET_MPIRUN_ARGS:-}" ]; then
      echo "run.sh: $bin $* (1 rank, OMP_NUM_THREADS=$OMP_NUM_THREADS)" >&2
      exec "$bin" "$@"
    fi
    command -v mpirun >/dev/null || { echo "run.sh: no mpirun on PATH (Debian: openmpi-bin)" >&2; exit 1; }
    args=(-np "$ranks" --oversubscribe -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x BLIS_NUM_THREADS)
    [ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    # shellcheck disable=SC2206
    [ -n "${SERNET_MPIRUN_ARGS:-}" ] && args+=(${SERNET_MPIRUN_ARGS})
    echo "run.sh: mpirun ${args[*]} $bin $* (OMP_NUM_THREADS=$OMP_NUM_THREADS)" >&2
    exec mpirun "${args[@]}" "$bin" "$@"
    ;;
  *) echo "run.sh: SERNET_LAUNCH must be slurm or local, got '$mode'" >&2; exit 2 ;;
esac
