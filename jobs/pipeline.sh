#!/usr/bin/env bash
# One dataset end to end, in one go: ingest -> train -> infer -> eval -> export, every stage
# through jobs/run.sh (mpirun on this machine, srun inside a Slurm allocation, e.g. salloc).
# For separate, dependency-chained batch jobs use slurm/submit_pipeline.sh instead.
#
#   jobs/pipeline.sh --out DIR (--root ROOT --category NAME | --synth) [options]
#
#   --out DIR          DIR/data.h5, model.h5, results.h5, panels/
#   --root ROOT --category NAME    a category folder in MVTec AD layout
#   --synth            the embedded synthetic dataset (sernet synth) instead; --category picks
#                      weave (default) or flange
#   --config FILE      default: configs/NAME.ini if it exists, else configs/default.ini
#   --size S           image side for ingest/synth (default: the config's image_size)
#   --test-copies K    with --synth: a test split K times as large (sernet synth --test-copies)
#   -n RANKS           MPI ranks (default: SERNET_RANKS, the allocation's tasks, or 1)
#   --stages LIST      comma list out of ingest,train,infer,eval,export (default: all)
#   --set KEY=VALUE    configuration override for ingest/synth and train (repeatable)
#   --resume           continue an interrupted train (when its model file exists) or infer
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
die() { echo "pipeline: $*" >&2; exit 2; }

out='' root='' category='' synth=0 config='' size='' copies='' ranks=() stages=ingest,train,infer,eval,export resume=0 sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?}; shift 2 ;;
    --root) root=${2:?}; shift 2 ;;
    --category) category=${2:?}; shift 2 ;;
    --synth) synth=1; shift ;;
    --config) config=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --test-copies) copies=${2:?}; shift 2 ;;
    -n) ranks=(-n "${2:?}"); shift 2 ;;
    --stages) stages=${2:?}; shift 2 ;;
    --set) sets+=(--set "${2:?}"); shift 2 ;;
    --resume) resume=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "pipeline: unknown option '$1'" >&2; usage ;;
  esac
done
[ -n "$out" ] || die "--out DIR is required"
if [ $synth = 0 ]; then
  [ -n "$root" ] && [ -n "$category" ] || die "give --root ROOT --category NAME, or --synth"
  [ -z "$copies" ] || die "--test-copies is for --synth"
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
mkdir -p "$out"
data=$out/data.h5 model=$out/model.h5 results=$out/results.h5
export HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE}
run() { "$here/jobs/run.sh" "${ranks[@]}" "$@"; }
resume_flag() { [ $resume = 1 ] && [ -e "$1" ] && echo --resume; return 0; }
catopt=()
[ $synth = 1 ] && catopt=(--category "${category:-weave}")
sizeopt=()
[ -n "$size" ] && sizeopt=(--size "$size")
copyopt=()
[ -n "$copies" ] && copyopt=(--test-copies "$copies")

# shellcheck disable=SC2046
for s in ${stages//,/ }; do
  echo "== pipeline: $s" >&2
  case $s in
    ingest)
      if [ $synth = 1 ]; then run synth --out "$data" --force --config "$config" "${sizeopt[@]}" "${copyopt[@]}" "${sets[@]}"
      else run ingest --root "$root" --category "$category" --out "$data" --force --config "$config" "${sizeopt[@]}" "${sets[@]}"; fi ;;
    train) run train --stage all --config "$config" "${sets[@]}" --data "$data" --out "$model" "${catopt[@]}" $(resume_flag "$model") ;;
    # infer uses the model's configuration; --resume also starts a fresh run when nothing exists
    infer) run infer --model "$model" --data "$data" --out "$results" "${catopt[@]}" $([ $resume = 1 ] && echo --resume || echo --force) ;;
    eval) run eval --results "$results" --data "$data" ;;   # the category comes from the results file
    export) run export --results "$results" --data "$data" --out "$out/panels" ;;
  esac
done
echo "pipeline: done; outputs in $out" >&2
