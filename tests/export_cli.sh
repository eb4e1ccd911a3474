#!/usr/bin/env bash
# sernet export end to end on a small synthetic dataset with a results file written by the
# fixture tests/test_export.c (--fixture): one panel per test image in the dataset's folder
# layout, 5 tiles wide, byte-identical files on 1 and 2 ranks, --threshold changes the
# prediction tiles, --only/--limit, the index, and bad inputs failing with exit 1.
set -u
bin=${SERNET_BIN:?}
fixture=${SERNET_BUILD_DIR:?}/test_export
[ -x "$fixture" ] || { echo "skipped: $fixture not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; [ -s "$tmp/err" ] && cat "$tmp/err"; fi; }
# PNG width and height from the IHDR chunk (bytes 16..23, big endian).
png_wh() { od -An -tu1 -j16 -N8 "$1" | awk '{printf "%d %d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'; }
run2() { mpiexec -n 2 --oversubscribe "$@"; }

"$bin" synth --out "$tmp/syn.h5" --size 64 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
M=$("$fixture" --fixture "$tmp/syn.h5" "$tmp/res.h5" --category weave 2>"$tmp/err") || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
: >"$tmp/err"
common="--results $tmp/res.h5 --data $tmp/syn.h5"

ok "1 rank runs" "\"$bin\" export $common --out \"$tmp/a\" >\"$tmp/log\" 2>\"$tmp/err\""
ok "reports the count and the place" "grep -q \"$M panels written to $tmp/a\" \"$tmp/log\""
ok "one panel per test image ($M)" "[ \$(find \"$tmp/a\" -name '*.png' | wc -l) = $M ]"
ok "mirrored layout: test/good/000.png" "[ -f \"$tmp/a/test/good/000.png\" ]"
ok "every panel lies in test/<type>/" "[ \$(find \"$tmp/a/test\" -mindepth 2 -maxdepth 2 -name '*.png' | wc -l) = $M ]"
first=$(find "$tmp/a/test" -name '*.png' | sort | head -1)
ok "panel is 5 x 64 + 6 x 4 wide, 4 + 11 + 64 + 4 high" "[ \"\$(png_wh \"$first\")\" = '344 83' ]"
ok "all panels the same size" "[ \$(for f in \$(find \"$tmp/a\" -name '*.png'); do png_wh \$f; done | sort -u | wc -l) = 1 ]"
ok "panels decode (sernet phash reads them)" "\"$bin\" phash \$(find \"$tmp/a\" -name '*.png') >/dev/null 2>\"$tmp/err\""
ok "index lists every panel" "[ \$(grep -c '^| [0-9]' \"$tmp/a/index.md\") = $M ]"
ok "index sorted by score" "grep '^| [0-9]' \"$tmp/a/index.md\" | awk -F'|' '{print \$6}' | sort -g -r -c"
ok "no temporary files left" "[ -z \"\$(find \"$tmp/a\" -name '*.tmp*')\" ]"

ok "2 ranks run" "run2 \"$bin\" export $common --out \"$tmp/b\" >/dev/null 2>\"$tmp/err\""
ok "same files on 1 and 2 ranks (byte-identical)" "diff -r \"$tmp/a\" \"$tmp/b\" >/dev/null"

ok "--threshold 1e9" "\"$bin\" export $common --out \"$tmp/c\" --threshold 1e9 --only defective --limit 3 >\"$tmp/log\" 2>\"$tmp/err\""
ok "--only defective --limit 3: 3 panels" "[ \$(find \"$tmp/c\" -name '*.png' | wc -l) = 3 ] && [ -z \"\$(find \"$tmp/c\" -path '*/good/*' -name '*.png')\" ]"
f3=$(cd "$tmp/c" && find test -name '*.png' | sort | head -1)
ok "--threshold changes the prediction tile" "! cmp -s \"$tmp/a/$f3\" \"$tmp/c/$f3\""
ok "--only good" "\"$bin\" export $common --out \"$tmp/d\" --only good >/dev/null 2>\"$tmp/err\" && [ \$(find \"$tmp/d\" -name '*.png' | wc -l) = \$(find \"$tmp/a/test/good\" -name '*.png' | wc -l) ]"

"$fixture" --fixture "$tmp/syn.h5" "$tmp/res_nm.h5" --category weave --no-metrics >/dev/null
ok "no /metrics: falls back to the repair masks and says so once" "\"$bin\" export --results \"$tmp/res_nm.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/e\" --limit 2 >/dev/null 2>\"$tmp/err2\" && [ \$(grep -c 'repair masks' \"$tmp/err2\") = 1 ]"

# a real results file: a tiny model trained and run by sernet infer at S = 32
"$bin" synth --out "$tmp/s32.h5" --size 32 --set seed=3 >/dev/null 2>&1
tr="--data $tmp/s32.h5 --category weave --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set seed=3 --set threads=1"
ok "tiny model trained and inferred" "\"$bin\" train $tr --stage all --out \"$tmp/m.h5\" >/dev/null 2>\"$tmp/err\" && \"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/s32.h5\" --category weave --set threads=1 --out \"$tmp/r32.h5\" >/dev/null 2>\"$tmp/err\""
ok "export of sernet infer's results" "\"$bin\" export --results \"$tmp/r32.h5\" --data \"$tmp/s32.h5\" --out \"$tmp/i\" --quiet >\"$tmp/log\" 2>\"$tmp/err\""
n32=$(grep -c '^| [0-9]' "$tmp/i/index.md" 2>/dev/null)
ok "one panel per row of the results file, 184 x 51" "[ \$(find \"$tmp/i\" -name '*.png' | wc -l) = \"$n32\" ] && [ \"$n32\" -gt 0 ] && [ \"\$(png_wh \"$tmp/i/test/good/000.png\")\" = '184 51' ]"
ok "the results of weave against the 64-pixel dataset are refused" "! \"$bin\" export --results \"$tmp/r32.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/x\" >/dev/null 2>&1"

# bad inputs: exit 1 and a message naming the problem, at 1 and 2 ranks
bad() { # name, expected text, command...
  local name=$1 text=$2; shift 2
  "$@" >/dev/null 2>"$tmp/err"; local rc=$?
  ok "$name: exit 1" "[ $rc = 1 ]"
  ok "$name: says '$text'" "grep -q -- \"$text\" \"$tmp/err\""
}
"$fixture" --fixture "$tmp/syn.h5" "$tmp/res_inc.h5" --category weave --incomplete >/dev/null
"$bin" synth --out "$tmp/syn48.h5" --size 48 >/dev/null 2>&1
: >"$tmp/blocker"
bad "missing results" "missing.h5" "$bin" export --results "$tmp/missing.h5" --data "$tmp/syn.h5" --out "$tmp/x"
bad "incomplete results" "not complete" "$bin" export --results "$tmp/res_inc.h5" --data "$tmp/syn.h5" --out "$tmp/x"
bad "other image size" "but the dataset has" "$bin" export --results "$tmp/res.h5" --data "$tmp/syn48.h5" --out "$tmp/x"
bad "missing dataset" "nosuch.h5" "$bin" export --results "$tmp/res.h5" --data "$tmp/nosuch.h5" --out "$tmp/x"
bad "unwritable --out" "blocker" "$bin" export $common --out "$tmp/blocker/x"
bad "np2 incomplete results" "not complete" run2 "$bin" export --results "$tmp/res_inc.h5" --data "$tmp/syn.h5" --out "$tmp/x"
bad "np2 unwritable --out" "blocker" run2 "$bin" export $common --out "$tmp/blocker/x"
# a panel that cannot be written on one rank only (synth names end in the test index, rank 1 of 2
# owns the last item): agreed across ranks, the file named
last=$(cd "$tmp/a" && find test -name '*.png' | sort -t/ -k3 | tail -1)
mkdir -p "$tmp/z/$last"
bad "np2 panel write fails on rank 1" "$last" run2 "$bin" export $common --out "$tmp/z"
ok "nothing written for rejected inputs" "[ ! -e \"$tmp/x\" ]"
"$bin" export $common --out "$tmp/y" --only bad >/dev/null 2>&1
ok "bad --only is a usage error" "[ $? = 2 ]"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
