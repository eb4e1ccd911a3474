#!/usr/bin/env bash
# METHOD.md §4 "The repair module must fire": on a short budget (configs/demo.ini with
# epochs_seg=12: 12 epochs of the segmentation stage on the synthetic set at 128x128, 2 ranks), the calibrated
# threshold must give a recall of at least 0.3 on fresh PPA samples. The reconstruction stage is
# cut to one epoch: calibration runs between the stages.
# ctest-labels: slow
set -u
bin=${SERNET_BIN:?}
src=${SERNET_SOURCE_DIR:?}
command -v h5dump >/dev/null || { echo "skipped: h5dump (hdf5-tools) not installed"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
mpiexec -n 2 --oversubscribe "$bin" synth --out "$tmp/synth.h5" --size 128 --seed 1 >/dev/null 2>"$tmp/err" \
  && ok || { bad "synth: $(tail -1 "$tmp/err")"; }
SERNET_PROGRESS=lines mpiexec -n 2 --oversubscribe "$bin" train --config "$src/configs/demo.ini" \
  --set epochs_seg=12 --set epochs_rec=1 --data "$tmp/synth.h5" --category weave --out "$tmp/model.h5" --stage all \
  >"$tmp/out" 2>"$tmp/err" && ok || { bad "train: $(tail -3 "$tmp/err")"; }
attr() { h5dump -a "/calib/$1" "$tmp/model.h5" 2>/dev/null | sed -n 's/^ *(0): *//p' | head -1; }
recall=$(attr recall) tau=$(attr tau)
echo "calibrated tau $tau, recall $recall"
[ -n "$recall" ] && awk -v r="$recall" 'BEGIN{exit !(r >= 0.3)}' && ok || bad "recall '$recall' at tau '$tau': want >= 0.3"
grep -q "train calib: tau" "$tmp/out" && ok || bad "no calibration line in the training output"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
