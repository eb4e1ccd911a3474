# shellcheck shell=bash
# Sourced by the real-Slurm tests (tests/slurm_smoke.sh, tests/slurm_requeue.sh); not a test itself.
# Gives: check/ok/bad counters, a work directory removed on exit with the private Slurm stopped
# (whatever happens), sn_slurm_start (skips with 77 when not root or Slurm cannot start), job
# helpers (field, wait_job, dump_logs), HDF5 and PNG checks, and the tiny training budgets.
set -u
# shellcheck disable=SC2034  # used by the tests that source this
bin=${SERNET_BIN:?} src=${SERNET_SOURCE_DIR:?}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
# checkx WHAT 'CONDITION': a shell condition (e.g. "[ a ] && [ b ]"), evaluated when checked
checkx() { local what=$1; shift; if eval "$1"; then ok; else bad "$what"; fi; }

work=$(mktemp -d /tmp/snslurm.XXXXXX) || { echo "cannot create a temporary directory"; exit 1; }
export SERNET_SLURM_DIR=$work/s
cleanup() {   # SERNET_TEST_KEEP=1 keeps the files (job logs, Slurm logs) for a look
  if [ "${SERNET_TEST_KEEP:-0}" = 1 ]; then
    SERNET_SLURM_KEEP=1 bash "$src/jobs/slurm_local.sh" stop >/dev/null 2>&1
    echo "kept $work"
  else
    bash "$src/jobs/slurm_local.sh" stop >/dev/null 2>&1
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# sn_slurm_start: skip (77) unless root and a private Slurm starts; then SLURM_CONF is exported
sn_slurm_start() {
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
}

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

# ---- helpers: HDF5 attributes and /done flags, PNG files, job fields ------------------------
h5attr() { h5dump -a "$2" "$1" 2>/dev/null | sed -n 's/^ *(0): //p' | head -n 1; }   # FILE PATH
# done_counts FILE: "ONES ZEROS" of /done
done_counts() {
  h5dump -d /done -y -w 0 "$1" 2>/dev/null | sed -n '/DATA {/{n;p;}' | tr -s ', ' '\n\n' |
    awk '$1 == "1" {o++} $1 == "0" {z++} END {printf "%d %d\n", o, z}'
}
results_complete() {   # FILE N: complete = 1 and N rows, all done
  [ "$(h5attr "$1" /complete)" = 1 ] && [ "$(done_counts "$1")" = "$2 0" ]
}
png_ok() {   # signature first, IEND chunk last
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
    [ "$(tail -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 49454e44ae426082 ]
}
# the nets of two model files are equal (every tensor of both stages)
same_nets() { h5diff -q "$1" "$2" /seg/tensors /seg/tensors && h5diff -q "$1" "$2" /rec/tensors /rec/tensors; }
# the data of two results files are equal
same_results() {
  local d
  for d in scores maps seg_masks repair_masks reconstructions neighbor neighbor_distance repaired_pixels "done"; do
    h5diff -q "$1" "$2" /$d /$d || { echo "  /$d differs"; return 1; }
  done
}
epoch_of() { date -d "$1" +%s 2>/dev/null || echo 0; }   # scontrol's StartTime/EndTime

# tiny training budgets at S = 32 (seconds per stage on one core)
# shellcheck disable=SC2034  # used by the tests that source this
tiny=(--set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04
      --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set threads=1)

