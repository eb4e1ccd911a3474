#!/usr/bin/env bash
# configs/default.ini must state exactly the built-in defaults, and every shipped
# configuration file must load and validate. (docs/config.md: tests/docs_check.sh.)
set -u
bin=${SERNET_BIN:?} src=${SERNET_SOURCE_DIR:?}
pass=0 fail=0
if diff <(grep -v '^;' "$src/configs/default.ini") <("$bin" config) >/dev/null; then pass=$((pass+1)); else
  fail=$((fail+1)); echo "FAIL: configs/default.ini differs from the built-in defaults:"; diff <(grep -v '^;' "$src/configs/default.ini") <("$bin" config); fi
for f in "$src"/configs/*.ini; do
  if "$bin" config --config "$f" >/dev/null; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $f does not load"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
