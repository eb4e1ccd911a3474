#!/usr/bin/env bash
# The test command: set up (install, configure, build with -Werror), run the whole CTest
# suite, then build the tests with AddressSanitizer + UBSan and run them again, then valgrind
# memcheck over a fast subset (jobs/valgrind.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SERNET_WITH_TORCH=1

# A test skipped for a missing tool or package fails the test command: jobs/setup.sh installs
# everything the suite uses. Accepted skips: no ../shared beside the clone (a user's clone),
# and the parts a sanitizer build leaves to the regular build.
# test_output BUILD_DIR TEST: that test's block of the full run's log (kept before any re-run)
test_output() {
  awk -v t="$2" '$0 ~ "Testing: " t "$" {f=1} f {print} f && /^Test (Passed|Failed|Skipped)/{exit}' \
    "$1/ctest_full.log" 2>/dev/null
}
check_skips() { # build dir, ctest log
  local t reason bad=0 full=$1/Testing/Temporary/LastTest.log
  [ -f "$full" ] && cp "$full" "$1/ctest_full.log" # the skipped run's own output, before any re-run
  for t in $(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (Skipped)$/\1/p' "$2"); do
    reason=$(test_output "$1" "$t" | grep -m1 -o 'skipped: .*')
    [ -n "$reason" ] || reason=$(cd "$1" && ctest -R "^$t\$" -V 2>&1 | grep -m1 -o 'skipped: .*' || echo "skipped: (no reason printed)")
    case $reason in
      *"no ../shared"*|*"sanitizer build"*|*"non-sanitizer build"*) echo "test.sh: $t $reason (accepted)" ;;
      *) echo "test.sh: FAIL: $t was $reason; jobs/setup.sh should install what it needs" >&2; bad=1
         test_output "$1" "$t" | tail -n 40 >&2 ;;
    esac
  done
  return $bad
}

SERNET_BUILD_DIR=$here/build SERNET_CMAKE_ARGS="-DSERNET_WERROR=ON" bash "$here/jobs/setup.sh"
(cd "$here/build" && ctest --output-on-failure -j 2) | tee "$here/build/ctest.log"
check_skips "$here/build" "$here/build/ctest.log"

echo "== sanitizer build (ASan + UBSan) =="
SERNET_BUILD_DIR=$here/build-asan SERNET_BUILD_TYPE=Debug \
  SERNET_CMAKE_ARGS="-DSERNET_WERROR=ON -DSERNET_SANITIZE=ON -DSERNET_TORCH_TESTS=OFF" \
  bash "$here/jobs/setup.sh"
# Tests that do not start MPI run with LeakSanitizer on; those that do run without it, because
# Open MPI's start-up allocations (in plugins unloaded before exit) cannot be attributed or
# suppressed. MPI tests at 2 and 3 ranks, tests labelled slow and the Slurm tests (plumbing, no
# new C paths) run in the Release build only.
(cd "$here/build-asan" &&
  LSAN_OPTIONS=suppressions=$here/tests/lsan.supp ASAN_OPTIONS=detect_leaks=1 \
    ctest --output-on-failure -j 2 -LE mpi &&
  ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j 2 -L mpi -LE slow -E "_np[23]$|^slurm_") \
  | tee "$here/build-asan/ctest.log"
check_skips "$here/build-asan" "$here/build-asan/ctest.log"

echo "== valgrind memcheck (fast subset) =="
bash "$here/jobs/valgrind.sh"
