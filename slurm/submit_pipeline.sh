#!/usr/bin/env bash
# Submit one dataset's pipeline as a chain of Slurm jobs, each starting only when the one before
# it succeeded (--dependency=afterok; a failure cancels the rest: --kill-on-invalid-dep=yes):
#
#   ingest -> train -> infer -> eval -> export
#
#   slurm/submit_pipeline.sh --out DIR (--root ROOT --category NAME | --synth) [options]
#
#   --out DIR           work directory: DIR/data.h5, model.h5, results.h5, panels/, logs/
#   --root ROOT --category NAME
#                       a category folder in MVTec AD layout (ROOT/NAME/train/good, ...)
#   --synth             the embedded synthetic dataset instead (sernet synth); --category picks
#                       weave (default) or flange for train and infer
#   --config FILE       configuration (default: configs/NAME.ini if it exists, else configs/default.ini)
#   --size S            image side for ingest/synth (default: the config's image_size)
#   --stages LIST       comma list out of ingest,train,infer,eval,export (default: all); a stage
#                       left out must have its output in DIR already
#   --nodes N --ntasks-per-node T --cpus-per-task C --time T
#                       shape of the train and infer jobs (defaults: the #SBATCH lines of
#                       slurm/train.sbatch and slurm/infer.sbatch); ingest, eval and export run on
#                       one node with T tasks of C CPUs when these are given
#   --sbatch-args "..." extra sbatch options for every job (partition, account, QoS, ...)
#   --dry-run           print the sbatch commands, submit nothing
#
# Stages: sernet ingest|synth, train --stage all, infer, eval, export. When the chain trains, the
# infer job starts a fresh results file (SERNET_FRESH=1: --force); a requeued infer resumes.
# The last line printed is "jobs: ingest=ID train=ID ...".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
die() { echo "submit_pipeline: $*" >&2; exit 2; }

out='' root='' category='' synth=0 config='' size='' stages=ingest,train,infer,eval,export dry=0
nodes='' tpn='' cpt='' time_limit='' extra='' sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?}; shift 2 ;;
    --root) root=${2:?}; shift 2 ;;
    --category) category=${2:?}; shift 2 ;;
    --synth) synth=1; shift ;;
    --config) config=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --set) [[ ${2:-} == *=* ]] || die "--set needs KEY=VALUE"; sets+=(--set "$2"); shift 2 ;;
    --stages) stages=${2:?}; shift 2 ;;
    --nodes) nodes=${2:?}; shift 2 ;;
    --ntasks-per-node) tpn=${2:?}; shift 2 ;;
    --cpus-per-task) cpt=${2:?}; shift 2 ;;
    --time) time_limit=${2:?}; shift 2 ;;
    --sbatch-args) extra=${2?}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "submit_pipeline: unknown option '$1'" >&2; usage ;;
  esac
done
[ -n "$out" ] || die "--out DIR is required"
if [ $synth = 1 ]; then
  [ -z "$root" ] || die "--synth and --root exclude each other"
else
  [ -n "$root" ] && [ -n "$category" ] || die "give --root ROOT --category NAME, or --synth"
  [ -d "$root/$category/train" ] || die "$root/$category/train does not exist (MVTec AD layout expected)"
fi
if [ -z "$config" ]; then
  if [ -n "$category" ] && [ -f "$here/configs/$category.ini" ]; then config=$here/configs/$category.ini
  else config=$here/configs/default.ini; fi
fi
[ -f "$config" ] || die "configuration $config not found"
for s in ${stages//,/ }; do
  case $s in ingest|train|infer|eval|export) ;; *) die "unknown stage '$s' in --stages" ;; esac
done
command -v sbatch >/dev/null || [ $dry = 1 ] || die "no sbatch on PATH (is this a Slurm login node? for a local test Slurm: jobs/slurm_local.sh start)"

mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
data=$out/data.h5 model=$out/model.h5 results=$out/results.h5
export SERNET_HOME=$here

# shellcheck disable=SC2206
common=(--parsable --kill-on-invalid-dep=yes --chdir="$out" --output="$out/logs/%x-%j.log" ${extra})
big=() small=()
[ -n "$nodes" ] && big+=(--nodes="$nodes")
[ -n "$tpn" ] && big+=(--ntasks-per-node="$tpn") && small+=(--nodes=1 --ntasks="$tpn")
[ -n "$cpt" ] && big+=(--cpus-per-task="$cpt") && small+=(--cpus-per-task="$cpt")
[ -n "$time_limit" ] && big+=(--time="$time_limit")

# the synthetic file holds two categories (weave, flange): train and infer need to be told which
catopt=()
[ $synth = 1 ] && catopt=(--category "${category:-weave}")
sizeopt=()
[ -n "$size" ] && sizeopt=(--size "$size")

# a model trained by this chain makes an earlier results file stale: start it afresh
fresh=()
[[ ,$stages, == *,train,* ]] && fresh=("--export=ALL,SERNET_FRESH=1")

prev='' summary=''
submit() {   # submit STAGE SBATCH-OPTIONS... -- SCRIPT ARGS...
  local stage=$1 id
  shift
  local opts=() dep=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  [ -n "$prev" ] && dep=(--dependency="afterok:$prev")
  if [ $dry = 1 ]; then
    echo "sbatch ${common[*]} ${dep[*]} ${opts[*]} $*"
    id="<$stage>"
  else
    id=$(sbatch "${common[@]}" "${dep[@]}" "${opts[@]}" "$@") || die "sbatch of the $stage stage failed"
    id=${id%%;*}
    echo "submitted $stage: job $id${prev:+ (after $prev)}" >&2
  fi
  prev=$id
  summary="$summary $stage=$id"
}

for s in ${stages//,/ }; do
  case $s in
    ingest)
      if [ $synth = 1 ]; then
        submit ingest "${small[@]}" --job-name=sernet-ingest -- "$here/slurm/ingest.sbatch" synth - "$data" --config "$config" "${sizeopt[@]}" "${sets[@]}"
      else
        submit ingest "${small[@]}" --job-name=sernet-ingest -- "$here/slurm/ingest.sbatch" "$root" "$category" "$data" --config "$config" "${sizeopt[@]}" "${sets[@]}"
      fi ;;
    train) submit train "${big[@]}" --job-name=sernet-train -- "$here/slurm/train.sbatch" "$config" "$data" "$model" "${catopt[@]}" "${sets[@]}" ;;
    infer) submit infer "${big[@]}" --job-name=sernet-infer "${fresh[@]}" -- "$here/slurm/infer.sbatch" "$model" "$data" "$results" "${catopt[@]}" ;;
    eval) submit eval "${small[@]}" --job-name=sernet-eval -- "$here/slurm/eval.sbatch" "$results" "$data" ;;
    export) submit export "${small[@]}" --job-name=sernet-export -- "$here/slurm/export.sbatch" "$results" "$data" "$out/panels" ;;
  esac
done
echo "jobs:$summary"
