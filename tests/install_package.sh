#!/usr/bin/env bash
# The installed package works for an outside program: `cmake --install` into a temporary prefix
# puts libsernet.so, exactly the public headers (include/sernet/: common, image, preprocess,
# thresholds, inspect), sernet.pc and the CMake package there; the API example
# (docs/examples/inspect_example.c) is then built OUTSIDE the tree twice -- with
# `pkg-config --cflags --libs sernet` and with a CMake project using find_package(sernet) -- and
# both programs score an image with a small trained model exactly as `sernet score` does.
# The installed library's exported symbols all carry the sn_ prefix.
# ctest-labels: install
set -u
bin=${SERNET_BIN:?}
build=${SERNET_BUILD_DIR:?}
src=${SERNET_SOURCE_DIR:?}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
for t in cc pkg-config cmake nm python3; do
  command -v $t >/dev/null || { echo "skipped: $t not installed"; exit 77; }
done
[ -e "$build/libsernet.so" ] || { echo "skipped: no libsernet.so (configured with -DSERNET_SHARED=OFF)"; exit 77; }
if grep -q '^SERNET_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  # a sanitizer-built library cannot be loaded by the plain outside programs this test builds
  echo "skipped: sanitizer build"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -20 "$tmp/err" 2>/dev/null; fi; }
die() { echo "FAIL: $1"; tail -30 "$tmp/err" 2>/dev/null; echo "$pass passed, $((fail+1)) failed"; exit 1; }

pre=$tmp/prefix
cmake --install "$build" --prefix "$pre" >"$tmp/install.log" 2>"$tmp/err" || die "cmake --install"
libdir=$(dirname "$(find "$pre" -name 'libsernet.so' | head -1)")
ok "libsernet.so installed (in $libdir)" "[ -e \"$libdir/libsernet.so\" ]"
ok "no static library installed" "[ -z \"\$(find \"$pre\" -name 'libsernet.a')\" ]"
ok "installed headers are exactly the public API" "[ \"\$(cd \"$pre/include/sernet\" && ls | tr '\n' ' ')\" = 'common.h image.h inspect.h inspect_tile.h preprocess.h thresholds.h tile.h ' ]"
nm -D --defined-only "$libdir/libsernet.so" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' | grep -v '^sn_' >"$tmp/bad"
ok "installed library exports only sn_ symbols (unprefixed: $(tr '\n' ' ' <"$tmp/bad"))" "[ ! -s \"$tmp/bad\" ]"

# --- a small model, its dataset and one image file --------------------------------------------
"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || die "synth"
"$bin" train --data "$tmp/syn.h5" --category weave --quiet --set image_size=32 --set seg_width=4 \
  --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 \
  --set calib_samples=16 --set seed=3 --set threads=1 --stage all --out "$tmp/m.h5" >/dev/null 2>"$tmp/err" \
  || die "train"
# a 40x40 RGB PNG (zlib only, no imaging library): a smooth pattern with a bright square
python3 - "$tmp/img.png" <<'PY' 2>"$tmp/err" || die "writing the PNG"
import struct, sys, zlib
W = H = 40
rows = b"".join(b"\0" + bytes(((x * 5 + y * 3) % 256 if not (10 <= x < 18 and 12 <= y < 20) else 250)
                              for x in range(W) for _ in range(3)) for y in range(H))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
"$bin" score --model "$tmp/m.h5" --data "$tmp/syn.h5" --category weave --threads 1 "$tmp/img.png" >"$tmp/s.txt" 2>"$tmp/err" \
  || die "sernet score"
want="score $(cut -f2 "$tmp/s.txt")"
# the example prints: IMAGE \t score S \t neighbour ... ; then "IMAGE (from memory) \t score S"
same() { [ "$(head -1 "$1" | cut -f2)" = "$want" ] && [ "$(sed -n 2p "$1" | cut -f2)" = "$want" ]; }

# --- outside program 1: pkg-config ------------------------------------------------------------
export PKG_CONFIG_PATH=$libdir/pkgconfig
ok "pkg-config knows sernet" "pkg-config --exists sernet && [ \"\$(pkg-config --modversion sernet)\" = \"\$(\"$bin\" --version | head -1 | awk '{print \$2}')\" ]"
ok "pkg-config --cflags names the installed include dir" "pkg-config --cflags sernet | grep -q -- \"-I$pre/include\""
cp "$src/docs/examples/inspect_example.c" "$tmp/outside.c"
ok "build with pkg-config --cflags --libs sernet" "cc -std=c11 -Wall -Wextra -Werror -o \"$tmp/ex_pc\" \"$tmp/outside.c\" \$(pkg-config --cflags --libs sernet) 2>\"$tmp/err\""
ok "pkg-config program runs against the installed library and scores like sernet score ($want)" \
  "LD_LIBRARY_PATH=\"$libdir\" \"$tmp/ex_pc\" \"$tmp/m.h5\" \"$tmp/syn.h5\" \"$tmp/img.png\" >\"$tmp/pc.txt\" 2>\"$tmp/err\" && same \"$tmp/pc.txt\""
ok "it loaded the installed library, not the build's" "LD_LIBRARY_PATH=\"$libdir\" ldd \"$tmp/ex_pc\" | grep -q \"$libdir/libsernet.so\""

# --- outside program 2: CMake find_package(sernet) ---------------------------------------------
mkdir -p "$tmp/proj"
cp "$tmp/outside.c" "$tmp/proj/outside.c"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(outside LANGUAGES C)
find_package(sernet 0.1 REQUIRED)
add_executable(outside outside.c)
target_link_libraries(outside PRIVATE sernet::sernet)
CM
ok "configure a CMake project with find_package(sernet)" "cmake -S \"$tmp/proj\" -B \"$tmp/proj/b\" -DCMAKE_PREFIX_PATH=\"$pre\" >\"$tmp/err\" 2>&1"
ok "build it" "cmake --build \"$tmp/proj/b\" >\"$tmp/err\" 2>&1"
ok "CMake program runs (no LD_LIBRARY_PATH) and scores like sernet score" \
  "\"$tmp/proj/b/outside\" \"$tmp/m.h5\" \"$tmp/syn.h5\" \"$tmp/img.png\" >\"$tmp/cm.txt\" 2>\"$tmp/err\" && same \"$tmp/cm.txt\""
ok "a private header is not reachable from outside" "printf '#include <sernet/model.h>\nint main(void){return 0;}\n' >\"$tmp/priv.c\" && ! cc -c -o /dev/null \"$tmp/priv.c\" \$(pkg-config --cflags sernet) 2>/dev/null"
ok "the public headers compile as C++" "! command -v c++ >/dev/null || { printf '#include <sernet/inspect.h>\n#include <sernet/image.h>\nint main(){sn_inspect_options o; sn_inspect_options_init(&o); return o.threads != 1;}\n' >\"$tmp/cpp.cc\" && c++ -Wall -Werror -o \"$tmp/cpp\" \"$tmp/cpp.cc\" \$(pkg-config --cflags --libs sernet) 2>\"$tmp/err\" && LD_LIBRARY_PATH=\"$libdir\" \"$tmp/cpp\"; }"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
