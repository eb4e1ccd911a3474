#!/usr/bin/env bash
# An oversized configuration under a memory limit (ulimit -v, as a batch system's memory limit
# would impose): training fails at start-up with exit 1 and a message giving what the
# configuration needs (parameters, gradients and Adam moments per rank) and which key to lower.
# Skipped where the binary cannot run under a virtual-memory limit (sanitizer builds reserve
# terabytes of address space).
set -u
bin=${SERNET_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
limit=2500000 # KiB
( ulimit -v $limit; "$bin" --version >/dev/null 2>&1 ) || { echo "skipped: cannot run under ulimit -v (sanitizer build?)"; exit 77; }
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; cat "$tmp/err" 2>/dev/null | tail -3; fi; }
"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>&1
tr="--data $tmp/syn.h5 --category weave --quiet --set large_area=0.08 --set small_area=0.04 --set threads=1 --set epochs_seg=1"
ok "seg_width 1024 under a 2.4 GiB limit: exit 1" "( ulimit -v $limit; \"$bin\" train $tr --set seg_width=1024 --out \"$tmp/m.h5\" >/dev/null 2>\"$tmp/err\" ); [ \$? = 1 ]"
ok "the message gives the parameters and the memory they need, and the key to lower" "grep -q 'seg net of width 1024: 235997185 parameters; .* need 3.52 GiB per rank' \"$tmp/err\" && grep -q 'lower seg_width' \"$tmp/err\""
ok "no model file left behind" "[ ! -e \"$tmp/m.h5\" ] && [ ! -e \"$tmp/m.h5.tmp\" ]"
ok "the same limit trains a normal width" "( ulimit -v $limit; \"$bin\" train $tr --set seg_width=4 --out \"$tmp/ok.h5\" >/dev/null 2>\"$tmp/err\" )"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
