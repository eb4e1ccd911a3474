#!/usr/bin/env bash
# tests/README.md indexes every test file with its module (the CTest label module:<name>): a
# test file missing from the table, a row naming a file that does not exist, or a module outside
# the listed ones fails.
set -u
src=${SERNET_SOURCE_DIR:?}
cd "$src/tests" || exit 1
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; fi; }
rows=$(sed -n 's/^| `\([a-z0-9_]*\.\(c\|sh\)\)` | \([a-z]*\) |.*/\1 \3/p' README.md)
files=$(ls test_*.c mpi_*.c *.sh | sort)
listed=$(cut -d' ' -f1 <<<"$rows" | sort)
missing=$(comm -23 <(echo "$files") <(echo "$listed") | tr '\n' ' ')
stale=$(comm -13 <(echo "$files") <(echo "$listed") | tr '\n' ' ')
ok "every test file is in tests/README.md (missing: $missing)" "[ -z \"$missing\" ]"
ok "every row of tests/README.md names an existing test file (stale: $stale)" "[ -z \"$stale\" ]"
mods="core nn io format pseudo anomaly train infer api eval report config ingest dist cli pipeline app"
bad=$(cut -d' ' -f2 <<<"$rows" | sort -u | while read -r m; do [[ " $mods " == *" $m "* ]] || echo "$m"; done | tr '\n' ' ')
ok "every module is one of the listed ones (unknown: $bad)" "[ -z \"$bad\" ]"
ok "the table is not empty" "[ $(wc -l <<<"$rows") -ge 10 ]"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
