#!/usr/bin/env bash
# Compare anomaly-map compositions on one trained model, on a labelled set of your own.
#
#   jobs/compare_maps.sh --model MODEL.h5 --data DATA.h5 [--category NAME] [-n RANKS]
#                        [--out DIR] [--keep] [NAME:key=value[,key=value]...]...
#
# For each variant: sernet infer with its --set keys (through jobs/run.sh, so inside a Slurm
# allocation it runs by srun), then sernet eval against the test split of DATA.h5. Prints one
# Markdown row per variant: image AUROC, pixel AUROC, AUPRO and pixel AP; where the set has
# more than one defect type, a second table gives each type's image AUROC (that type's images
# against the good ones) per variant, which shows what a map gains on and where. The nets are not
# retrained; only keys that act at inference make sense here (box_size, msgms_scales,
# color_weight, repair_threshold, repair_register, ...). A key that shaped the trained nets is
# refused by sernet infer, naming it.
#
# Default variants (METHOD.md's map first; docs/quality.md "What limits AUPRO" says why these):
#   method:                         (no change: 4 MSGMS scales, box 21, colour weight 0.001)
#   scales2:msgms_scales=2
#   scales1:msgms_scales=1
#   box11:box_size=11
#   scales1_box11:msgms_scales=1,box_size=11
#   erode3:msgms_erode=3            (the coarse scales eroded before the resize: docs/quality.md)
#   score_scales1_box11:score_msgms_scales=1,score_box_size=11   (METHOD.md's map, the image
#                                   score from the tighter map: docs/quality.md)
#
# Choose on a labelled validation set, not on the set whose figures you report: which map is
# best depends on the defects (on this project's four sets it differs), and picking it from the
# figures you then quote overstates them.
#
# --out DIR   where results and eval JSON go (default: a temporary directory, removed at exit
#             unless --keep). Every variant writes DIR/<name>.h5 and DIR/<name>.json.
# -n RANKS    ranks per command (jobs/run.sh: default 1 outside Slurm, the allocation inside).
# Environment: SERNET_BIN (default: build/sernet of this checkout), as jobs/run.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
die() { echo "compare_maps.sh: $*" >&2; exit 2; }

model='' data='' category='' ranks='' out='' keep=0 variants=()
while [ $# -gt 0 ]; do
  case $1 in
    --model) [ $# -ge 2 ] || die "--model needs a file"; model=$2; shift 2 ;;
    --data) [ $# -ge 2 ] || die "--data needs a file"; data=$2; shift 2 ;;
    --category) [ $# -ge 2 ] || die "--category needs a name"; category=$2; shift 2 ;;
    -n) [ $# -ge 2 ] || die "-n needs a number"; ranks=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage 0 ;;
    -*) die "unknown option '$1'" ;;
    *) variants+=("$1"); shift ;;
  esac
done
[ -n "$model" ] || die "missing --model MODEL.h5"
[ -n "$data" ] || die "missing --data DATA.h5"
[ -f "$model" ] || die "$model: no such model file"
[ -f "$data" ] || die "$data: no such dataset file"
[ ${#variants[@]} -gt 0 ] || variants=("method:" "scales2:msgms_scales=2" "scales1:msgms_scales=1" \
  "box11:box_size=11" "scales1_box11:msgms_scales=1,box_size=11" "erode3:msgms_erode=3" \
  "score_scales1_box11:score_msgms_scales=1,score_box_size=11")

# Check every variant before running any: NAME:key=value[,key=value...], NAME unique.
declare -A seen=()
for v in "${variants[@]}"; do
  [[ $v == *:* ]] || die "variant '$v': expected NAME:key=value[,key=value...] (NAME: for no change)"
  name=${v%%:*} keys=${v#*:}
  [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "variant '$v': the name must be letters, digits, '_', '.' or '-'"
  [ -z "${seen[$name]:-}" ] || die "variant name '$name' given twice"
  seen[$name]=1
  if [ -n "$keys" ]; then
    IFS=, read -r -a kv <<<"$keys"
    for k in "${kv[@]}"; do
      [[ $k =~ ^[A-Za-z0-9_.]+=[^=]+$ ]] || die "variant '$name': '$k' is not key=value"
    done
  fi
done

if [ -z "$out" ]; then
  out=$(mktemp -d)
  [ "$keep" = 1 ] || trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
run=("$here/jobs/run.sh")
[ -z "$ranks" ] || run+=(-n "$ranks")
cat_args=()
[ -z "$category" ] || cat_args=(--category "$category")

field() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\([-0-9.eE+]*\),\{0,1\}$/\1/p" "$2" | head -1; }
# a figure with 3 decimals, or "-" where eval has none (no masks: no pixel figures)
num() { local v; v=$(field "$1" "$2"); if [ -n "$v" ]; then printf '%.3f' "$v"; else printf -- '-'; fi; }

# the per-type rows: one row per defect type of the first eval JSON (the good images have no
# image AUROC), one column per JSON given, "-" where a file lacks the type
type_rows() {
  awk 'FNR == 1 {f++; t = 0}
       /"types":/ {t = 1}
       t && /"name":/ {n = $2; gsub(/[",]/, "", n)}
       t && /"image_auroc":/ {v = $2; gsub(/,/, "", v)
         if (v != "null") { if (f == 1) order[++k] = n; val[f, n] = v }}
       END {for (i = 1; i <= k; i++) {
              printf "| %s |", order[i]
              for (j = 1; j <= f; j++)
                if ((j, order[i]) in val) printf " %.3f |", val[j, order[i]]; else printf " - |"
              printf "\n"}}' "$@"
}

printf '| variant | settings | image AUROC | pixel AUROC | AUPRO | pixel AP |\n|---|---|---|---|---|---|\n'
status=0 done_names=()
for v in "${variants[@]}"; do
  name=${v%%:*} keys=${v#*:} sets=()
  if [ -n "$keys" ]; then
    IFS=, read -r -a kv <<<"$keys"
    for k in "${kv[@]}"; do sets+=(--set "$k"); done
  fi
  log=$out/$name.log
  if ! "${run[@]}" infer --model "$model" --data "$data" "${cat_args[@]}" --out "$out/$name.h5" --force --quiet \
         "${sets[@]}" </dev/null >"$log" 2>&1 \
     || ! "${run[@]}" eval --results "$out/$name.h5" --data "$data" --json "$out/$name.json" --no-write-results \
         "${sets[@]}" </dev/null >>"$log" 2>&1; then
    echo "compare_maps.sh: variant '$name' failed:" >&2
    grep -m 3 -i 'error' "$log" >&2 || tail -3 "$log" >&2
    status=1; continue
  fi
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${keys:-METHOD.md map}" \
    "$(num image_auroc "$out/$name.json")" "$(num pixel_auroc "$out/$name.json")" \
    "$(num aupro "$out/$name.json")" "$(num pixel_ap "$out/$name.json")"
  done_names+=("$name")
done

# image AUROC per defect type: one row per type, one column per variant that ran
if [ ${#done_names[@]} -gt 0 ] && [ "$(type_rows "$out/${done_names[0]}.json" | wc -l)" -gt 1 ]; then
  printf '\nImage AUROC by defect type:\n\n| defect type |'
  for name in "${done_names[@]}"; do printf ' %s |' "$name"; done
  printf '\n|---|'
  for name in "${done_names[@]}"; do printf -- '---|'; done
  printf '\n'
  jsons=()
  for name in "${done_names[@]}"; do jsons+=("$out/$name.json"); done
  type_rows "${jsons[@]}"
fi
exit $status
