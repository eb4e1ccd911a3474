#!/usr/bin/env bash
# The test command: set up (install, configure, build with -Werror), run the whole CTest
# suite, then build the tests with AddressSanitizer + UBSan and run them again.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SERNET_WITH_TORCH=1

SERNET_BUILD_DIR=$here/build SERNET_CMAKE_ARGS="-DSERNET_WERROR=ON" bash "$here/jobs/setup.sh"
(cd "$here/build" && ctest --output-on-failure -j 2)

echo "== sanitizer build (ASan + UBSan) =="
SERNET_BUILD_DIR=$here/build-asan SERNET_BUILD_TYPE=Debug \
  SERNET_CMAKE_ARGS="-DSERNET_WERROR=ON -DSERNET_SANITIZE=ON -DSERNET_TORCH_TESTS=OFF" \
  bash "$here/jobs/setup.sh"
# Open MPI's own allocations are not ours to fix; leaks are checked on sernet's code by the
# unit tests, which do not need an MPI launcher.
(cd "$here/build-asan" && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j 2 -E "_np[23]$")
