#!/usr/bin/env bash
# valgrind memcheck over a fast subset of the unit tests (part of jobs/test.sh): the library and
# these tests are built in build-vg without -march=native (valgrind cannot decode AVX-512) and
# run two at a time; any memcheck error or definite leak fails. Tests that start MPI are left
# out: Open MPI's start-up allocations show up as leaks that cannot be attributed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SERNET_VG_BUILD_DIR:-$here/build-vg}
tests=${SERNET_VG_TESTS:-"test_config test_image test_components test_repair test_panel test_rng test_metrics test_phash test_perlin test_anomaly_map test_nn_kernels"}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSERNET_WERROR=ON -DSERNET_NATIVE=OFF \
  -DSERNET_TORCH_TESTS=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j 2 --target $tests 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
mkdir -p "$build/valgrind"
run_one() {
  local t=$1 log=$build/valgrind/$1.log start=$SECONDS
  if (cd "$build" && SERNET_SOURCE_DIR=$here valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite "./$t" >"$log" 2>&1); then
    echo "valgrind: $t clean ($((SECONDS - start)) s)"
  else
    echo "valgrind: $t FAILED (log: $log)"; grep -A12 '^==[0-9]*== [A-Z]' "$log" | head -40; return 1
  fi
}
export -f run_one; export build here
# shellcheck disable=SC2086
printf '%s\n' $tests | xargs -P 2 -I{} bash -c 'run_one {}'
