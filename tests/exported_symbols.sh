#!/usr/bin/env bash
# The shared libsernet.so (what `cmake --install` installs for embedding programs) exports only
# sn_-prefixed symbols: `nm -D --defined-only` lists every dynamic symbol it defines, and any name
# without the prefix fails the test. The same filter run on the in-tree static library (which
# keeps every global symbol, e.g. the layer kernels conv_forward, bn_forward) must flag them, so
# the check is shown able to fail. Also: the installed headers' functions are all exported.
set -u
build=${SERNET_BUILD_DIR:?}
src=${SERNET_SOURCE_DIR:?}
command -v nm >/dev/null || { echo "skipped: nm not installed"; exit 77; }
lib=$build/libsernet.so
[ -e "$lib" ] || { echo "skipped: no $lib (configured with -DSERNET_SHARED=OFF)"; exit 77; }
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# names not carrying the prefix, one a line (the version script gives no version nodes)
unprefixed() { awk 'NF >= 3 {print $3}' | sed 's/@.*//' | grep -v '^sn_' | sort -u; }

nm -D --defined-only "$lib" >"$tmp/dyn" 2>"$tmp/err" || { echo "FAIL: nm -D $lib"; cat "$tmp/err"; exit 1; }
unprefixed <"$tmp/dyn" >"$tmp/bad"
ok "every exported symbol of $lib starts with sn_ ($(wc -l <"$tmp/dyn") exported; unprefixed: $(tr '\n' ' ' <"$tmp/bad"))" "[ ! -s \"$tmp/bad\" ]"
ok "the library exports the inspection API" "grep -qw sn_inspector_open \"$tmp/dyn\" && grep -qw sn_inspect_pixels \"$tmp/dyn\""
ok "no layer kernel is exported (conv_forward)" "! grep -qw conv_forward \"$tmp/dyn\""

# every function declared in the installed headers is exported
# (static inline helpers are compiled into the caller, not exported)
cat "$src"/include/sernet/*.h | grep -v 'static inline' | grep -o '\bsn_[a-z0-9_]* *(' | sed 's/ *($//' | sort -u >"$tmp/declared"
awk 'NF >= 3 {print $3}' "$tmp/dyn" | sed 's/@.*//' | sort -u >"$tmp/names"
comm -23 "$tmp/declared" "$tmp/names" >"$tmp/missing"
ok "every function of include/sernet/*.h is exported (missing: $(tr '\n' ' ' <"$tmp/missing"))" "[ ! -s \"$tmp/missing\" ]"

# the filter catches unprefixed names: the static library's global text symbols include some
nm --defined-only -g "$build/libsernet.a" 2>/dev/null | awk 'NF >= 3 && $2 == "T"' | unprefixed >"$tmp/static_bad"
ok "the check flags unprefixed names (static library: conv_forward among $(wc -l <"$tmp/static_bad"))" "grep -qx conv_forward \"$tmp/static_bad\""

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
