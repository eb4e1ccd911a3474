#!/usr/bin/env bash
# The generated reference pages (docs/cli.md, docs/config.md) must match the program.
set -u
bin=${SERNET_BIN:?} bench=${SERNET_BENCH_BIN:?} src=${SERNET_SOURCE_DIR:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
bash "$src/jobs/gen_docs.sh" "$bin" "$tmp" "$bench" || { echo "FAIL: gen_docs.sh"; echo "0 passed, 1 failed"; exit 1; }
for page in cli.md config.md; do
  if diff -u "$src/docs/$page" "$tmp/$page" >"$tmp/diff"; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL: docs/$page is out of date (run jobs/gen_docs.sh):"; head -20 "$tmp/diff"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
