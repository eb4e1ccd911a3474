# shellcheck shell=bash
# Sourced by the slurm/*.sbatch scripts (not run on its own). Finds the checkout, sets the
# environment every stage wants, and runs sernet through jobs/run.sh, optionally with the
# checkpoint-and-requeue protocol for long stages.
#
# The checkout: SERNET_HOME (exported by slurm/submit_pipeline.sh and slurm/array_categories.sh),
# else the directory sbatch was called from. sbatch runs a copy of the script from its spool
# directory, so the script's own path cannot be used.

SN_HOME=${SERNET_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
if [ ! -x "$SN_HOME/jobs/run.sh" ]; then
  echo "sernet slurm: cannot find the sernet checkout (no $SN_HOME/jobs/run.sh); export SERNET_HOME=/path/to/checkout or submit from it" >&2
  exit 1
fi
export SERNET_HOME=$SN_HOME

# HDF5 files on Lustre/GPFS/BeeGFS: POSIX file locking is often unsupported or slow there and
# makes H5Fopen fail ("unable to lock file"); sernet's writers do not rely on it.
export HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE}

sn_log() { echo "[$(date +%FT%T)] ${SLURM_JOB_NAME:-sernet} job ${SLURM_JOB_ID:-local}: $*" >&2; }

# sn_run ARGS...: jobs/run.sh ARGS... in the foreground.
sn_run() { "$SN_HOME/jobs/run.sh" "$@"; }

# sn_resume_flag FILE: prints --resume when this is a requeued run (SLURM_RESTART_COUNT > 0) or
# SERNET_RESUME=1, and FILE exists (a requeue before the first checkpoint starts afresh).
sn_resume_flag() {
  if { [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] || [ "${SERNET_RESUME:-0}" = 1 ]; } && [ -e "$1" ]; then
    echo --resume
  fi
}

# sn_run_requeue ARGS...: run jobs/run.sh ARGS... in the background; on SIGUSR1 or SIGTERM (Slurm's
# warning before the time limit: sbatch --signal=B:USR1@SECONDS; scancel --signal=USR1 --batch)
# forward the signal to the launcher, which forwards it to every rank. sernet then finishes its
# step, writes a checkpoint and exits 0; this function requeues the job (scontrol requeue) and the
# next run of the script continues with --resume. Without a signal it returns sernet's status.
# A run signalled but failing is not requeued (its status is returned), nor one whose output is
# complete when the script defines sn_finished (returning 0 then; sn_written FILE helps it: FILE
# was written by this run). At most SERNET_MAX_REQUEUE (default 20) requeues.
SN_SIGNALLED=0
SN_PID=
SN_STARTED=0
# sn_written FILE: FILE exists and was modified since sn_run_requeue started sernet
sn_written() { [ -e "$1" ] && [ "$(stat -c %Y "$1" 2>/dev/null || echo 0)" -ge "$SN_STARTED" ]; }
_sn_forward() {
  SN_SIGNALLED=1
  sn_log "received SIG$1: asking sernet (pid ${SN_PID:-none}) to checkpoint and stop"
  [ -n "$SN_PID" ] && kill -s "$1" "$SN_PID" 2>/dev/null
  return 0
}
sn_run_requeue() {
  local rc restarts
  SN_SIGNALLED=0
  SN_STARTED=$(date +%s)
  trap '_sn_forward USR1' USR1
  trap '_sn_forward TERM' TERM
  "$SN_HOME/jobs/run.sh" "$@" &
  SN_PID=$!
  # wait returns early whenever a trapped signal arrives; keep waiting for the launcher to end
  while kill -0 "$SN_PID" 2>/dev/null; do wait "$SN_PID"; done
  wait "$SN_PID"; rc=$?
  trap - USR1 TERM
  SN_PID=
  [ "$SN_SIGNALLED" = 1 ] || return $rc
  if [ $rc != 0 ]; then
    sn_log "sernet exited with status $rc after the signal; not requeueing"
    return $rc
  fi
  # the signal may come while sernet finishes its last step or round: nothing left to resume
  if declare -F sn_finished >/dev/null && sn_finished; then
    sn_log "signalled, but sernet had finished (its output is complete); not requeueing"
    return 0
  fi
  restarts=${SLURM_RESTART_COUNT:-0}
  if [ -z "${SLURM_JOB_ID:-}" ]; then
    sn_log "checkpointed, not inside Slurm: run again with SERNET_RESUME=1 to continue"
    return 0
  fi
  if [ "$restarts" -ge "${SERNET_MAX_REQUEUE:-20}" ]; then
    sn_log "checkpointed, but this job was already requeued $restarts times (SERNET_MAX_REQUEUE); stopping"
    return 1
  fi
  sn_log "checkpointed; requeueing (this will be restart $((restarts + 1)))"
  if ! scontrol requeue "$SLURM_JOB_ID"; then
    sn_log "scontrol requeue failed (does the cluster allow it? JobRequeue / --requeue); resume by hand with SERNET_RESUME=1"
    return 1
  fi
  # Slurm now ends this run of the script; do not report completion before it does
  sleep 300
  exit 0
}
