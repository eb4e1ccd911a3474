#!/usr/bin/env bash
# The whole pipeline on the synthetic set with jobs/pipeline.sh (mpirun, 2 ranks), tiny budget at
# S = 32: synth -> train (both stages) -> infer -> eval -> export; then the outputs users look at
# exist and are consistent: a complete results file, metrics in the JSON and in /metrics, the
# report with its curves, one valid PNG panel per test image; an interrupted inference resumes
# through the script's --resume.
set -u
bin=${SERNET_BIN:?} src=${SERNET_SOURCE_DIR:?}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SERNET_BIN=$bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -15 "$tmp/log" 2>/dev/null; fi; }
command -v h5dump >/dev/null || { echo "skipped: h5dump not installed"; exit 77; }
attr() { h5dump -a "$2" "$1" 2>/dev/null | awk '/\(0\)/{print $2; exit}'; }
pngs_ok() { # every file is a PNG by its signature
  local n=0 f
  while IFS= read -r f; do
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || { echo "  not a PNG: $f"; return 1; }
    n=$((n + 1))
  done < <(find "$1" -name '*.png')
  [ "$n" -eq "$2" ] || { echo "  $n PNG files in $1, expected $2"; return 1; }
}
sets="--set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set threads=1"
# shellcheck disable=SC2086
ok "jobs/pipeline.sh: synth, train, infer, eval, export on 2 ranks" "bash \"$src/jobs/pipeline.sh\" --out \"$tmp/p\" --synth --category weave --size 32 -n 2 $sets >\"$tmp/log\" 2>&1"
ok "results file complete, every row done" "[ \"\$(attr \"$tmp/p/results.h5\" /complete)\" = 1 ] && [ \"\$(attr \"$tmp/p/results.h5\" /n_test)\" = 60 ]"
ok "metrics in the JSON and in the results file" "/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert 0 <= m[\"image_auroc\"] <= 1 and 0 <= m[\"pixel_auroc\"] <= 1 and m[\"n_images\"] == 60' \"$tmp/p/results_metrics.json\" && [ -n \"\$(attr \"$tmp/p/results.h5\" /metrics/image_auroc)\" ]"
ok "the metrics table was printed" "grep -q 'image AUROC' \"$tmp/log\" && grep -q 'AUPRO' \"$tmp/log\""
ok "the report with its curves and worst cases" "[ -s \"$tmp/p/results_report/report.md\" ] && ls \"$tmp/p/results_report/\"*.svg >/dev/null && pngs_ok \"$tmp/p/results_report\" 10"
ok "one valid PNG panel per test image, in the dataset's layout" "pngs_ok \"$tmp/p/panels\" 60 && [ -d \"$tmp/p/panels/test/good\" ] && [ -s \"$tmp/p/panels/index.md\" ]"
# resume through the script: interrupt inference, then --resume
rm -f "$tmp/p/results.h5"
SERNET_INFER_DELAY_MS=300 bash "$src/jobs/pipeline.sh" --out "$tmp/p" --synth --category weave -n 2 --stages infer >"$tmp/ilog" 2>&1 &
pid=$!
for i in $(seq 2400); do grep -q 'rows done' "$tmp/ilog" 2>/dev/null && break; sleep 0.05; done
pkill -KILL -f "infer --model $tmp/p/model.h5" 2>/dev/null
wait $pid 2>/dev/null
ok "interrupted inference left its rows" "[ -e \"$tmp/p/results.h5.tmp\" ] && [ ! -e \"$tmp/p/results.h5\" ]"
ok "jobs/pipeline.sh --resume finishes it" "bash \"$src/jobs/pipeline.sh\" --out \"$tmp/p\" --synth --category weave -n 2 --stages infer,eval --resume >\"$tmp/log\" 2>&1 && [ \"\$(attr \"$tmp/p/results.h5\" /complete)\" = 1 ] && grep -q 'rows already done' \"$tmp/log\""
# --test-copies reaches sernet synth (a larger synthetic test split); with --root it is refused
ok "jobs/pipeline.sh --synth --test-copies 2: twice the test split" "bash \"$src/jobs/pipeline.sh\" --out \"$tmp/k\" --synth --size 32 --test-copies 2 --stages ingest >\"$tmp/log\" 2>&1 && h5ls \"$tmp/k/data.h5/weave/test/images\" | grep -q '{120, 32, 32, 3}'"
ok "jobs/pipeline.sh --root --test-copies: exit 2" "bash \"$src/jobs/pipeline.sh\" --out \"$tmp/k2\" --root \"$tmp\" --category p --test-copies 2 >\"$tmp/log\" 2>&1; [ \$? = 2 ] && grep -q 'test-copies is for --synth' \"$tmp/log\""
echo "$pass passed, $fail failed"
[ $fail = 0 ]
