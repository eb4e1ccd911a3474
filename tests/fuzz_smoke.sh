#!/usr/bin/env bash
# Smoke run of the libFuzzer targets (fuzz/, docs/hardening.md): build them with clang + ASan +
# UBSan (jobs/fuzz.sh, build dir <source>/build-fuzz, kept between runs), replay the saved crash
# inputs of fuzz/regressions/, then fuzz each target for a few seconds from the seed corpus.
# Fails on any crash, leak, sanitizer report, failed property check, timeout or out-of-memory.
set -uo pipefail
src=${SERNET_SOURCE_DIR:?SERNET_SOURCE_DIR not set}
secs=${SERNET_FUZZ_SMOKE_SECONDS:-8}

if ! command -v clang >/dev/null; then
  echo "skipped: clang not installed"
  exit 77
fi
# The fuzz targets are sanitizer builds of their own: run them once, from the regular build's
# suite, not again from the ASan suite.
if [ -n "${SERNET_BUILD_DIR:-}" ] && grep -q "^SERNET_SANITIZE:BOOL=ON" "$SERNET_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  echo "skipped: the fuzz smoke runs from the non-sanitizer build's suite (its targets are ASan+UBSan builds)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
failn=0
SERNET_FUZZ_BUILD="$src/build-fuzz" SERNET_FUZZ_WORK="$work" \
  bash "$src/jobs/fuzz.sh" "$secs" image config dataset hashindex model results >"$work/out.txt" 2>&1
rc=$?
cat "$work/out.txt"
for t in image config dataset hashindex model results; do
  if grep -q "^fuzz $t: $secs s" "$work/out.txt" && ! grep -q "^fuzz $t: FAILED" "$work/out.txt"; then
    pass=$((pass + 1))
  else
    echo "FAIL: fuzz target $t"
    failn=$((failn + 1))
  fi
done
if [ $rc -ne 0 ] && [ $failn -eq 0 ]; then
  echo "FAIL: jobs/fuzz.sh exited with $rc"
  failn=1
fi
echo "$pass passed, $failn failed"
[ $failn -eq 0 ]
