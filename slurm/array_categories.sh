#!/usr/bin/env bash
# One job per category of a dataset, as a Slurm job array: each array task runs its category's
# whole pipeline (ingest -> train -> infer -> eval -> export) and survives time limits by
# checkpoint, requeue and resume; finished stages are not redone after a requeue.
#
#   slurm/array_categories.sh --root ROOT --out DIR [options]     (submits; prints the array job id)
#
#   --root ROOT          folder with one MVTec-AD-layout category per sub-folder (ROOT/NAME/train/good)
#   --out DIR            DIR/NAME/{data.h5,model.h5,results.h5,panels/,done.*}, DIR/logs/
#   --categories a,b,c   only these (default: every ROOT/*/train/good, sorted)
#   --max-parallel M     at most M categories at once (sbatch --array=...%M)
#   --stages LIST        comma list out of ingest,train,infer,eval,export (default: all)
#   --nodes N --ntasks-per-node T --cpus-per-task C --time T    shape of every array task
#                        (defaults: 1 node, 4 tasks, 8 CPUs per task, 12:00:00)
#   --sbatch-args "..."  extra sbatch options (partition, account, ...)
#   --ingest-args "..."  extra sernet ingest options (e.g. "--size 128 --skip-bad")
#   --set KEY=VALUE      configuration override for ingest and train (repeatable)
#   --dry-run            print the sbatch command, submit nothing
# Configuration per category: configs/NAME.ini when it exists, else configs/default.ini.
#
# Stages: sernet ingest, train --stage all, infer, eval, export. Train and infer are requeued and
# resumed on SIGUSR1/SIGTERM (train --resume from the model file, infer --resume from its .tmp);
# a first run (restart 0) starts them afresh.
# (Run by Slurm as "array_categories.sh --task DIR" for each array element.)
set -uo pipefail

if [ "${1:-}" = --task ]; then
  # ---------------- one array element: one category ---------------------------------------------
  out=${2:?}
  . "${SERNET_HOME:?SERNET_HOME is set by the submit side}/slurm/common.sh" || exit 1
  idx=${SLURM_ARRAY_TASK_ID:?not an array task}
  cat=$(sed -n "$((idx + 1))p" "$out/categories.txt")
  root=$(cat "$out/root.txt")
  stages=$(cat "$out/stages.txt")
  read -r -a ingest_args <"$out/ingest_args.txt"
  sets=()
  while IFS= read -r kv; do [ -n "$kv" ] && sets+=(--set "$kv"); done <"$out/sets.txt"
  [ -n "$cat" ] || { sn_log "no category number $idx in $out/categories.txt"; exit 1; }
  work=$out/$cat
  mkdir -p "$work"
  config=$SN_HOME/configs/$cat.ini
  [ -f "$config" ] || config=$SN_HOME/configs/default.ini
  sn_log "category $cat (array index $idx), config $config, restart ${SLURM_RESTART_COUNT:-0}"

  # a signal during a short stage: let it finish (or fail), then requeue; it reruns if not done
  pending=0
  trap 'pending=1; sn_log "signal received; requeueing after this stage"' USR1 TERM
  requeue_now() {
    sn_log "requeueing ($cat)"
    scontrol requeue "$SLURM_JOB_ID" || { sn_log "scontrol requeue failed"; exit 1; }
    sleep 300; exit 0
  }
  want() { [[ ,$stages, == *,$1,* ]] && [ ! -e "$work/done.$1" ]; }
  short_stage() {   # short_stage NAME sernet-args...
    local name=$1 rc
    shift
    want "$name" || return 0
    sn_run "$@"; rc=$?
    [ $rc = 0 ] && touch "$work/done.$name"
    [ $pending = 1 ] && requeue_now
    [ $rc = 0 ] || { sn_log "$name failed with status $rc"; exit $rc; }
  }
  long_stage() {    # long_stage NAME RESUME-FLAG sernet-args... (checkpointing command)
    local name=$1 flag=$2 rc
    shift 2
    want "$name" || return 0
    [ $pending = 1 ] && requeue_now
    # shellcheck disable=SC2086
    sn_run_requeue "$@" $flag; rc=$?
    trap 'pending=1; sn_log "signal received; requeueing after this stage"' USR1 TERM
    [ $rc = 0 ] || { sn_log "$name failed with status $rc"; exit $rc; }
    touch "$work/done.$name"
  }

  # infer: a requeued run continues the .tmp (--resume also starts afresh when there is none)
  if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then infer_flag=--resume; else infer_flag=--force; fi
  short_stage ingest ingest --root "$root" --category "$cat" --out "$work/data.h5" --config "$config" --force "${ingest_args[@]}" "${sets[@]}"
  long_stage train "$(sn_resume_flag "$work/model.h5")" train --stage all --config "$config" "${sets[@]}" --data "$work/data.h5" --out "$work/model.h5"
  long_stage infer "$infer_flag" infer --model "$work/model.h5" --data "$work/data.h5" --out "$work/results.h5"
  short_stage eval eval --results "$work/results.h5" --data "$work/data.h5"
  short_stage export export --results "$work/results.h5" --data "$work/data.h5" --out "$work/panels"
  sn_log "category $cat: all stages done"
  exit 0
fi

# ---------------- submit side ------------------------------------------------------------------
set -e
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
die() { echo "array_categories: $*" >&2; exit 2; }

root='' out='' cats='' maxp='' stages=ingest,train,infer,eval,export nodes=1 tpn=4 cpt=8 tl=12:00:00 extra='' dry=0 iargs='' sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --categories) cats=${2:?}; shift 2 ;;
    --max-parallel) maxp=${2:?}; shift 2 ;;
    --stages) stages=${2:?}; shift 2 ;;
    --nodes) nodes=${2:?}; shift 2 ;;
    --ntasks-per-node) tpn=${2:?}; shift 2 ;;
    --cpus-per-task) cpt=${2:?}; shift 2 ;;
    --time) tl=${2:?}; shift 2 ;;
    --sbatch-args) extra=${2?}; shift 2 ;;
    --ingest-args) iargs=${2?}; shift 2 ;;
    --set) [[ ${2:-} == *=* ]] || die "--set needs KEY=VALUE"; sets+=("$2"); shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "array_categories: unknown option '$1'" >&2; usage ;;
  esac
done
[ -n "$root" ] && [ -n "$out" ] || die "--root ROOT and --out DIR are required"
[ -d "$root" ] || die "$root is not a directory"
root=$(cd "$root" && pwd)
for s in ${stages//,/ }; do
  case $s in ingest|train|infer|eval|export) ;; *) die "unknown stage '$s' in --stages" ;; esac
done
if [ -n "$cats" ]; then
  list=${cats//,/ }
else
  list=$(cd "$root" && for d in */train/good; do [ -d "$d" ] && echo "${d%%/*}"; done | sort)
fi
n=0
for c in $list; do
  [ -d "$root/$c/train/good" ] || die "$root/$c/train/good does not exist"
  n=$((n + 1))
done
[ $n -gt 0 ] || die "no category found under $root (expected NAME/train/good folders)"

mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
printf '%s\n' $list >"$out/categories.txt"
echo "$root" >"$out/root.txt"
echo "$stages" >"$out/stages.txt"
echo "$iargs" >"$out/ingest_args.txt"
printf '%s\n' "${sets[@]}" >"$out/sets.txt"
export SERNET_HOME=$here
array="0-$((n - 1))${maxp:+%$maxp}"
# shellcheck disable=SC2206
cmd=(sbatch --parsable --job-name=sernet-cat --array="$array" --nodes="$nodes" --ntasks-per-node="$tpn"
     --cpus-per-task="$cpt" --time="$tl" --signal=B:USR1@120 --requeue --open-mode=append
     --chdir="$out" --output="$out/logs/%x-%A_%a.log" ${extra} "$here/slurm/array_categories.sh" --task "$out")
echo "array_categories: $n categories: $(tr '\n' ' ' <"$out/categories.txt")" >&2
if [ $dry = 1 ]; then echo "${cmd[*]}"; exit 0; fi
command -v sbatch >/dev/null || die "no sbatch on PATH"
id=$("${cmd[@]}") || die "sbatch failed"
echo "array_categories: submitted array job ${id%%;*} (tasks $array)" >&2
echo "${id%%;*}"
