#!/usr/bin/env bash
# sernet pseudo end to end on a small synthetic dataset: sheets written with the right size,
# the same bytes on 1 and 2 ranks and on a rerun, clean samples with p_anomaly = 0, errors.
set -u
bin=${SERNET_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; fi; }
# PNG width and height from the IHDR chunk (bytes 16..23, big endian).
png_wh() { od -An -tu1 -j16 -N8 "$1" | awk '{printf "%d %d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'; }

"$bin" synth --out "$tmp/syn.h5" --size 64 --set seed=3 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
ds="$tmp/syn.h5 --category weave"
for kind in ppa dpa; do
  ok "$kind: runs" "\"$bin\" pseudo --data $ds --kind $kind --count 5 --out \"$tmp/a\" --set pseudo.p_anomaly=1 >\"$tmp/log_$kind\" 2>\"$tmp/err\""
  ok "$kind: 5 sheets" "[ \$(ls \"$tmp/a\"/${kind}_*.png 2>/dev/null | wc -l) = 5 ]"
  ok "$kind: sheet is 3 x 64 + 8 wide, 64 high" "[ \"\$(png_wh \"$tmp/a/${kind}_000003.png\")\" = '200 64' ]"
  ok "$kind: log names each sheet" "[ \$(grep -c 'area' \"$tmp/log_$kind\") = 5 ]"
  ok "$kind: 2 ranks" "mpiexec -n 2 --oversubscribe \"$bin\" pseudo --data $ds --kind $kind --count 5 --out \"$tmp/b\" --set pseudo.p_anomaly=1 >/dev/null 2>\"$tmp/err\""
  ok "$kind: rerun" "\"$bin\" pseudo --data $ds --kind $kind --count 5 --out \"$tmp/c\" --set pseudo.p_anomaly=1 >/dev/null 2>\"$tmp/err\""
  for i in 0 1 2 3 4; do
    f=${kind}_00000$i.png
    ok "$kind: $f same on 2 ranks" "cmp -s \"$tmp/a/$f\" \"$tmp/b/$f\""
    ok "$kind: $f same on rerun" "cmp -s \"$tmp/a/$f\" \"$tmp/c/$f\""
  done
  ok "$kind: --start/--epoch select other samples" "\"$bin\" pseudo --data $ds --kind $kind --count 1 --start 3 --out \"$tmp/d\" --set pseudo.p_anomaly=1 >/dev/null && cmp -s \"$tmp/a/${kind}_000003.png\" \"$tmp/d/${kind}_000003.png\" && \"$bin\" pseudo --data $ds --kind $kind --count 1 --start 3 --epoch 1 --out \"$tmp/e\" --set pseudo.p_anomaly=1 >/dev/null && ! cmp -s \"$tmp/a/${kind}_000003.png\" \"$tmp/e/${kind}_000003.png\""
  ok "$kind: p_anomaly = 0 gives clean samples" "\"$bin\" pseudo --data $ds --kind $kind --count 3 --out \"$tmp/f\" --set pseudo.p_anomaly=0 >\"$tmp/log0\" && [ \$(grep -c ' clean\$' \"$tmp/log0\") = 3 ]"
done
ok "different kinds give different sheets" "! cmp -s \"$tmp/a/ppa_000000.png\" \"$tmp/a/dpa_000000.png\""
"$bin" pseudo --data "$tmp/syn.h5" --category weave --kind xyz --count 1 --out "$tmp/g" >/dev/null 2>&1
ok "bad --kind is a usage error" "[ $? = 2 ]"
"$bin" pseudo --data "$tmp/syn.h5" --category weave --kind ppa --out "$tmp/g" >/dev/null 2>&1
ok "missing --count is a usage error" "[ $? = 2 ]"
"$bin" pseudo --data "$tmp/missing.h5" --kind ppa --count 1 --out "$tmp/g" >/dev/null 2>"$tmp/err"
ok "missing dataset fails with exit 1" "[ $? = 1 ] && grep -q missing.h5 \"$tmp/err\""
: >"$tmp/blocker"
"$bin" pseudo --data "$tmp/syn.h5" --category weave --kind ppa --count 1 --out "$tmp/blocker/x" >/dev/null 2>"$tmp/err"
ok "unwritable output fails with exit 1 naming it" "[ $? = 1 ] && grep -q blocker \"$tmp/err\""
mpiexec -n 2 --oversubscribe "$bin" pseudo --data "$tmp/syn.h5" --category weave --kind ppa --count 2 --out "$tmp/blocker/x" >/dev/null 2>"$tmp/err"
ok "unwritable output on 2 ranks fails without hanging" "[ $? != 0 ]"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
