#!/usr/bin/env bash
# Build the libFuzzer targets (fuzz/, clang + ASan + UBSan) in a separate build directory and run
# each for a while. Usage:
#   jobs/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 300 s; targets: image config
#                                                       dataset hashindex model results)
# Env: SERNET_FUZZ_BUILD (build dir, default <repo>/build-fuzz), SERNET_FUZZ_JOBS (make -j, 2),
#      SERNET_FUZZ_WORK (where corpora, artifacts and logs go; default the build dir).
# Work corpora grow in $SERNET_FUZZ_BUILD/corpus/<target> (seeded from fuzz/corpus/<target> and,
# for config, configs/*.ini); crash inputs land in $SERNET_FUZZ_BUILD/artifacts/<target>/; the
# libFuzzer log of each run is $SERNET_FUZZ_BUILD/logs/<target>.log. One summary line per target:
#   fuzz <target>: <s> s, <execs> execs (<rate>/s), cov <n>, ft <n>, corpus <n>, crashes <n>
# Before fuzzing, every saved crash input of fuzz/regressions/<target>/ is replayed once.
# Exit status 1 if any target crashed, leaked, hit UB, timed out or ran out of memory.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-300}
shift || true
targets=${*:-image config dataset hashindex model results}
build=${SERNET_FUZZ_BUILD:-$here/build-fuzz}
work=${SERNET_FUZZ_WORK:-$build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1

command -v clang >/dev/null || { echo "fuzz: clang not installed (apt-get install clang libclang-rt-14-dev)"; exit 77; }
mkdir -p "$build"
(
  flock 9
  if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSERNET_FUZZ=ON \
      -DSERNET_SANITIZE=ON -DSERNET_TORCH_TESTS=OFF >"$build/configure.log" 2>&1 \
      || { cat "$build/configure.log"; exit 1; }
  fi
  cmake --build "$build" -j "${SERNET_FUZZ_JOBS:-2}" --target fuzz_all >"$build/build.log" 2>&1 \
    || { grep -E "error|Error" "$build/build.log" | head -40; exit 1; }
) 9>"$build/.lock" || { echo "fuzz: build failed (see $build/build.log)"; exit 1; }

# Leaks are checked after every input (libFuzzer); not at exit, where Open MPI's start-up
# allocations (in plugins already unloaded) cannot be attributed or suppressed. Huge allocations requested by
# a file header are refused (NULL) instead of killing the run, so their error path is fuzzed too.
export ASAN_OPTIONS="detect_leaks=1:leak_check_at_exit=0:allocator_may_return_null=1:max_allocation_size_mb=1024:abort_on_error=1:symbolize=1"
export LSAN_OPTIONS="suppressions=$here/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

mkdir -p "$work"
"$build/fuzz/fuzz_seeds" "$work/seeds" >/dev/null || { echo "fuzz: seed writer failed"; exit 1; }
fail=0
for t in $targets; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target $t"; fail=1; continue; }
  corpus="$work/corpus/$t"
  mkdir -p "$corpus" "$work/artifacts/$t" "$work/logs"
  seeds=()
  for d in "$here/fuzz/corpus/$t" "$work/seeds/$t"; do [ -d "$d" ] && seeds+=("$d"); done
  [ "$t" = config ] && seeds+=("$here/configs")
  dict=()
  [ -f "$here/fuzz/$t.dict" ] && dict=(-dict="$here/fuzz/$t.dict")
  log="$work/logs/$t.log"
  if [ -d "$here/fuzz/regressions/$t" ]; then
    if "$bin" -runs=1 "$here/fuzz/regressions/$t"/* >"$work/logs/$t.regressions.log" 2>&1; then
      echo "fuzz $t: $(ls "$here/fuzz/regressions/$t" | wc -l) saved crash inputs replayed, all refused cleanly"
    else
      echo "fuzz $t: FAILED on a saved crash input, log $work/logs/$t.regressions.log"
      grep -E "ERROR|SUMMARY|fuzz check failed|runtime error|Running:" "$work/logs/$t.regressions.log" | tail -5
      fail=1
    fi
  fi
  "$bin" "${dict[@]}" -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$t/" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'exec/s: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  ncorp=$(find "$corpus" -type f | wc -l)
  crashes=$(find "$work/artifacts/$t" -type f | wc -l)
  echo "fuzz $t: $secs s, ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus $ncorp, crashes $crashes"
  if [ $rc -ne 0 ] || ! grep -q "Done [0-9]* runs" "$log"; then
    echo "fuzz $t: FAILED (exit $rc), log $log:"
    grep -E "ERROR|SUMMARY|fuzz check failed|runtime error|Test unit written" "$log" | head -20
    fail=1
  fi
done
exit $fail
