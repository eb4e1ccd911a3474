#!/usr/bin/env bash
# A private single-node Slurm on this machine, for tests and for trying the slurm/ scripts.
#
#   jobs/slurm_local.sh start    install Slurm and MUNGE if missing (apt, root only), start munged,
#                                slurmctld and slurmd with a generated slurm.conf, wait until the
#                                node is idle; prints the line to export SLURM_CONF
#   jobs/slurm_local.sh stop     cancel the jobs, stop the daemons (and any job step they left),
#                                remove the instance directory
#   jobs/slurm_local.sh status   say what runs; exit 0 when the cluster answers, 3 when not
#   jobs/slurm_local.sh env      print "export SLURM_CONF=..." for this instance
#
# Everything of one instance lives in one directory, ${SERNET_SLURM_DIR:-/tmp/sernet-slurm}:
# slurm.conf, the MUNGE key and socket, state, spool, logs and pid files. Several instances can
# run side by side on one host (each gets its own directory, MUNGE socket, free ports and a random
# first job id). The system's own MUNGE and Slurm configuration (/etc/munge, /etc/slurm) are
# neither used nor touched.
#
# Environment:
#   SERNET_SLURM_DIR        instance directory (keep it short: Unix socket paths are limited)
#   SERNET_SLURM_CPUS       CPUs of the node (default 2)
#   SERNET_SLURM_KEEP=1     "stop" keeps the directory (logs) instead of removing it
#   SERNET_SLURM_TIMEOUT    seconds to wait for the node to become idle (default 30)
#
# Needs root: slurmd launches jobs as their users. Start and stop are idempotent: "start" on a
# running instance only checks it, on a half-dead one stops it first; "stop" on nothing is a no-op.
set -uo pipefail

dir=${SERNET_SLURM_DIR:-/tmp/sernet-slurm}
cpus=${SERNET_SLURM_CPUS:-2}
wait_s=${SERNET_SLURM_TIMEOUT:-30}
conf=$dir/slurm.conf
marker="SERNET_SLURM_INSTANCE=$dir"   # in the environment of every daemon (and slurmstepd) we start
node=$(hostname -s)

say() { echo "slurm_local: $*" >&2; }
die() { echo "slurm_local: error: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# --- processes of this instance -----------------------------------------------------------------

# pids whose environment holds the line $1 exactly (the daemons carry $marker)
pids_with_env() {
  local p want=$1
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    if tr "\0" "\n" 2>/dev/null <"/proc/$p/environ" | grep -qxF -- "$want"; then echo "$p"; fi
  done
}

# job processes: started by our slurmd for our jobs (they have SLURM_JOB_ID and our SLURM_CONF)
job_pids() {
  local p env
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    env=$(tr "\0" "\n" 2>/dev/null <"/proc/$p/environ") || continue
    if grep -qxF -- "SLURM_CONF=$conf" <<<"$env" && grep -q '^SLURM_JOB_ID=' <<<"$env"; then echo "$p"; fi
  done
}

# the pid in pid file $1 if that process is alive and is program $2
pid_of() {
  local f=$1 prog=$2 p
  [ -s "$f" ] || return 1
  p=$(tr -dc '0-9' <"$f")
  [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$p/cmdline" | head -n1 | grep -q "$prog" || return 1
  echo "$p"
}

daemon_pid() {
  case $1 in
    munged) pid_of "$dir/munge/munged.pid" munged ;;
    slurmctld) pid_of "$dir/slurmctld.pid" slurmctld ;;
    slurmd) pid_of "$dir/slurmd.pid" slurmd ;;
  esac
}

# TERM the given pids, wait up to $1 seconds, then KILL what is left
terminate() {
  local grace=$1 p alive i
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null
  for ((i = 0; i < grace * 10; i++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  for p in "$@"; do
    if kill -0 "$p" 2>/dev/null; then
      say "pid $p did not stop in ${grace}s, killing it"
      kill -KILL "$p" 2>/dev/null
    fi
  done
  return 0
}

# --- commands ----------------------------------------------------------------------------------

cluster_answers() {
  [ -f "$conf" ] && SLURM_CONF=$conf timeout 10 sinfo -h >/dev/null 2>&1
}

do_status() {
  local d p all=0
  for d in munged slurmctld slurmd; do
    if p=$(daemon_pid $d); then echo "$d: running (pid $p)"; else echo "$d: not running"; all=1; fi
  done
  if [ $all = 0 ] && cluster_answers; then
    echo "SLURM_CONF=$conf"
    SLURM_CONF=$conf sinfo -N -o '%N %t %c %m %P'
    return 0
  fi
  return 3
}

do_stop() {
  local pids p d
  [ -e "$dir" ] || { say "nothing to stop ($dir does not exist)"; return 0; }
  if [ -f "$conf" ] && daemon_pid slurmctld >/dev/null; then
    SLURM_CONF=$conf timeout 10 scancel --quiet --partition=debug 2>/dev/null
    for _ in $(seq 1 50); do
      [ -z "$(SLURM_CONF=$conf timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for d in slurmd slurmctld munged; do
    if p=$(daemon_pid $d); then terminate 10 "$p"; fi
  done
  # what is left: slurmstepd and job processes of this instance, or a daemon whose pid file is gone
  mapfile -t pids < <(pids_with_env "$marker"; job_pids)
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping ${#pids[@]} leftover process(es) of this instance: ${pids[*]}"
    terminate 5 "${pids[@]}"
  fi
  if [ "${SERNET_SLURM_KEEP:-0}" = 1 ]; then
    say "stopped; kept $dir"
  else
    rm -rf -- "$dir"
    say "stopped; removed $dir"
  fi
}

install_missing() {
  local need="" c
  for c in munged:munge slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client; do
    command -v "${c%%:*}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "${c%%:*}" >/dev/null 2>&1 \
      || need="$need ${c#*:}"
  done
  [ -z "$need" ] && return 0
  [ "$(id -u)" = 0 ] || die "missing:$need; run as root, or: sudo apt-get install$need"
  command -v apt-get >/dev/null || die "missing:$need and no apt-get to install it"
  say "installing:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null || die "apt-get install$need failed"
}

# a TCP port nobody listens on, from 20000..59999
free_port() {
  local used p i
  used=$(ss -Htanl 2>/dev/null | awk '{print $4}' | sed 's/.*://')
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    [ "$p" = "${1:-}" ] && continue
    grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
  done
  die "no free TCP port found"
}

write_conf() {
  local ctl_port=$1 d_port=$2 mpi=$3 mem
  local first_id=$(( (RANDOM * 32768 + RANDOM) % 50000000 + 1000 ))
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  [ -n "$mem" ] && [ "$mem" -gt 0 ] || die "cannot read MemTotal from /proc/meminfo"
  cat >"$conf.tmp" <<EOF
# Generated by jobs/slurm_local.sh for $node on $(date -u +%FT%TZ); one node, one partition.
ClusterName=sernetlocal
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# our own munged; cred_expire is also how long a requeued job waits before it may start again
AuthInfo=socket=$dir/munge/munge.sock,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=$mpi
# job ids start at a random number: instances side by side (two tests under ctest -j 2) must not
# share ids, PMIx names its client directories /tmp/spmix_appdir_<uid>_<job>.<step>
FirstJobId=$first_id
JobRequeue=1
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MinJobAge=600
InactiveLimit=0
KillWait=5
MessageTimeout=10
SlurmdTimeout=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$conf.tmp" "$conf"
}

node_state() {
  SLURM_CONF=$conf timeout 5 sinfo -h -N -n "$node" -o %t 2>/dev/null | head -n1
}

do_start() {
  local p d ok=1 ctl_port d_port mpi st i resumed=0
  [ "$(id -u)" = 0 ] || die "must run as root (slurmd starts jobs as their users)"
  install_missing
  export PATH=$PATH:/usr/sbin:/sbin

  if [ -e "$dir" ]; then
    for d in munged slurmctld slurmd; do daemon_pid $d >/dev/null || ok=0; done
    if [ $ok = 1 ] && cluster_answers; then
      say "already running ($conf)"
      echo "export SLURM_CONF=$conf"
      return 0
    fi
    say "$dir holds a stopped or half-started instance; cleaning it up first"
    SERNET_SLURM_KEEP=0 do_stop
  fi
  [ ${#dir} -le 60 ] || die "SERNET_SLURM_DIR=$dir is too long for Unix socket paths (keep it <= 60 chars)"
  mkdir -p "$dir"/{munge,state,spool,log} || die "cannot create $dir"
  chmod 0755 "$dir" && chmod 0700 "$dir/munge"

  # MUNGE: a fresh key and a private daemon on a private socket
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none || die "cannot write the MUNGE key"
  chmod 0400 "$dir/munge/munge.key"
  env "$marker" munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
    --log-file="$dir/log/munged.log" >"$dir/log/munged.out" 2>&1 \
    || { cat "$dir/log/munged.out" "$dir/log/munged.log" >&2 2>/dev/null; do_stop; die "munged did not start"; }
  for ((i = 0; i < 50; i++)); do
    munge -n -S "$dir/munge/munge.sock" 2>/dev/null | unmunge -S "$dir/munge/munge.sock" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ $i -lt 50 ] || { cat "$dir/log/munged.log" >&2; do_stop; die "munged does not answer on $dir/munge/munge.sock"; }

  ctl_port=$(free_port) || exit 1
  d_port=$(free_port "$ctl_port") || exit 1
  write_conf "$ctl_port" "$d_port" none
  # PMIx for MPI when this Slurm has the plugin
  if SLURM_CONF=$conf timeout 10 srun --mpi=list 2>&1 | grep -qw pmix; then
    mpi=pmix
    write_conf "$ctl_port" "$d_port" pmix
  else
    mpi=none
    say "warning: this Slurm has no pmix MPI plugin (srun --mpi=list); MpiDefault=none"
  fi

  env "$marker" slurmctld -f "$conf" -i >"$dir/log/slurmctld.out" 2>&1 \
    || { cat "$dir/log/slurmctld.out" "$dir/log/slurmctld.log" >&2 2>/dev/null; do_stop; die "slurmctld did not start"; }
  env "$marker" slurmd -f "$conf" -N "$node" >"$dir/log/slurmd.out" 2>&1 \
    || { cat "$dir/log/slurmd.out" "$dir/log/slurmd.log" >&2 2>/dev/null; do_stop; die "slurmd did not start"; }

  for ((i = 0; i < wait_s * 2; i++)); do
    st=$(node_state)
    case $st in
      idle) break ;;
      down*|drain*|drng*)
        if [ $resumed = 0 ]; then
          SLURM_CONF=$conf scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1
          resumed=1
        fi ;;
    esac
    for d in slurmctld slurmd; do
      daemon_pid $d >/dev/null || [ $i -lt 4 ] || {
        tail -n 20 "$dir/log/$d.log" >&2 2>/dev/null; do_stop; die "$d exited (log above)"; }
    done
    sleep 0.5
  done
  if [ "$st" != idle ]; then
    say "node $node is '${st:-unknown}' after ${wait_s}s, not idle; last log lines:"
    tail -n 15 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null
    SLURM_CONF=$conf scontrol show node "$node" >&2 2>/dev/null
    do_stop
    die "Slurm did not become ready"
  fi
  say "running: node $node idle, $cpus CPUs, MpiDefault=$mpi, ports $ctl_port/$d_port, dir $dir"
  echo "export SLURM_CONF=$conf"
}

case ${1:-} in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  -h|--help|help) usage ;;
  *) echo "slurm_local: unknown or missing command '${1:-}'" >&2; usage ;;
esac
