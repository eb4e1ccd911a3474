#!/usr/bin/env bash
# Install what sernet needs (apt when root, otherwise print the command), then configure and
# build into ${SERNET_BUILD_DIR:-build}. Used by the demo and the test commands.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SERNET_BUILD_DIR:-$here/build}

PKGS="build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libblis-dev libopenblas-dev libpng-dev libjpeg62-turbo-dev libinih-dev libcjson-dev
      clang libclang-rt-14-dev libomp-dev valgrind"
if [ "${SERNET_WITH_TORCH:-0}" = 1 ]; then
  # the test suite's references: PyTorch parity, scikit-learn metrics, Pillow + SciPy (phash,
  # and the images score_cli writes), h5py (the checks that read sernet's HDF5 files directly)
  PKGS="$PKGS python3-torch python3-numpy python3-sklearn python3-scipy python3-pil python3-h5py"
fi

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: missing packages:$missing" >&2
    echo "setup: run: sudo apt-get install$missing" >&2
    exit 1
  fi
fi

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=${SERNET_BUILD_TYPE:-Release} \
      -DSERNET_GEMM=${SERNET_GEMM:-auto} ${SERNET_CMAKE_ARGS:-} >"$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
grep "sernet GEMM backend" "$build.configure.log" || true
cmake --build "$build" -j "$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
test -x "$build/sernet" || { echo "setup: build failed" >&2; exit 1; }
