#!/usr/bin/env bash
# Parity of the C engine with PyTorch 1.13 (METHOD.md sections 1-2): `sernet-bench dump-engine` writes
# outputs, losses, gradients, parameters and BN statistics of 3 Adam steps plus an inference
# forward; tests/torch_parity.py repeats them with torch (tools/torch_ref.py) and compares.
# First a self-check of the comparer on dumps written by torch itself: a correct float64 dump
# must pass, dumps with a deliberate bug must fail.
set -u
bin=${SERNET_BENCH_BIN:?}
py=/usr/bin/python3
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! "$py" -c "import torch, numpy" >/dev/null 2>&1; then
  echo "skipped: python3-torch not installed"
  exit 77
fi
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/torch_parity.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

# Comparer self-check (seg, width 4, 32x32, batch 2, 3 steps: small, to stay fast).
selfcheck() { # mutation expected-status
  local d=$tmp/fake_$1
  if ! "$py" "$src/tests/torch_fake_dump.py" --net seg --width 4 --units 1 --size 32 --batch 2 \
       --steps 3 --seed 3 --mutate "$1" --out "$d" >"$d.log" 2>&1; then
    fail=$((fail+1)); echo "FAIL: torch_fake_dump --mutate $1"; cat "$d.log"; return
  fi
  "$py" "$src/tests/torch_parity.py" --dir "$d" --threads 2 >>"$d.log" 2>&1
  local got=$?
  if [ "$got" = "$2" ]; then pass=$((pass+1)); echo "ok: comparer self-check, $1 dump -> exit $got"
  else fail=$((fail+1)); echo "FAIL: comparer self-check, $1 dump: exit $got, want $2"; cat "$d.log"; fi
}
selfcheck none 0
selfcheck grad1pct 1
selfcheck concat 1

# The engine.
if ! "$bin" dump-engine --help >/dev/null 2>&1; then
  fail=$((fail+1)); echo "FAIL: $bin has no working dump-engine command"
  echo "$pass passed, $fail failed"; exit 1
fi
for cfg in "seg 8 1" "seg 8 2" "rec 8 1" "rec 4 2"; do
  set -- $cfg
  d=$tmp/$1_w$2_u$3
  echo "== $1 net, width $2, units $3, size 64, batch 2, 3 steps"
  if ! "$bin" dump-engine --net "$1" --width "$2" --units "$3" --size 64 --batch 2 --steps 3 \
       --seed 7 --out "$d" >"$d.log" 2>&1; then
    fail=$((fail+1)); echo "FAIL: dump-engine $cfg"; cat "$d.log"; continue
  fi
  if "$py" "$src/tests/torch_parity.py" --dir "$d" --threads 2; then pass=$((pass+1))
  else fail=$((fail+1)); echo "FAIL: parity $cfg"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
