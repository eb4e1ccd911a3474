#!/usr/bin/env bash
# CI check: one owner per file format (docs/formats.md "Who owns which format"). Only the
# format's own files -- src/format/*.c and their headers (sernet/dataset.h, hashindex_format.h,
# model_format.h, results_format.h, bundle.h, format.h in src/include/sernet/) -- may name an
# HDF5 path of a sernet file or read/write its identity attributes. The rule, on every other .c
# and .h under src/ (comments ignored):
#  1. no string literal that is an absolute HDF5 object path: "/" followed by a name or a %
#     conversion and no blank ("/scores", "/%s/train/images", "/metrics/type_names"); the root
#     "/" alone is allowed, and so are file-system paths (/proc/, /sys/, /dev/, /tmp, /etc/,
#     /usr/) and message text (a blank in the literal: "/metrics pixel_threshold is ...");
#  2. no "format" or "format_version" literal in an HDF5 attribute call (sn_h5_attr_*, H5A*):
#     the identity is sn_format_identify's (sernet/format.h) or the format's own check.
# Callers use the owners' constants and functions (SN_RESULTS_METRICS, sn_results_col_name,
# sn_model_group, sn_dataset_path, sn_hashindex_path ...). A self-check first shows the scanner
# flags such names and accepts the allowed ones.
set -u
src=${SERNET_SOURCE_DIR:?}
py=$(command -v python3) || { echo "skipped: python3 not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/scan.py" <<'PY'
import re, sys
from csource import blank

FS_PREFIXES = ("/proc/", "/sys/", "/dev/", "/tmp", "/etc/", "/usr/")
PATH = re.compile(r'^/[A-Za-z_%][^\s"]*$')
ATTR_CALL = re.compile(r'\b(sn_h5_attr_\w+|H5A\w+)\s*\(')


def literals(text):
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', text):
        yield m.start(), m.group(1)

def call_args(text, start):
    """The text of a call's argument list starting at the '(' index."""
    depth, i = 0, start
    while i < len(text):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
        elif text[i] == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        i += 1
    return text[start:]

def scan(path):
    text = blank(open(path, encoding="utf-8", errors="replace").read(), strings=False)
    bad = []
    line = lambda pos: text.count("\n", 0, pos) + 1
    for pos, lit in literals(text):
        if PATH.match(lit) and not lit.startswith(FS_PREFIXES):
            bad.append('%s:%d: HDF5 path "%s" outside its format\'s owner' % (path, line(pos), lit))
    for m in ATTR_CALL.finditer(text):
        args = call_args(text, m.end() - 1)
        for name in ("format", "format_version"):
            if '"%s"' % name in args:
                bad.append('%s:%d: identity attribute "%s" read or written outside src/format'
                           % (path, line(m.start()), name))
    return bad

bad = []
for p in sys.argv[1:]:
    bad += scan(p)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; fi; }

# self-check on hand-written files
cat >"$tmp/bad.c" <<'C'
static const char *COLS[] = {"/scores", "/maps"};
void f(sn_h5file *g, const char *cat, char *p, int64_t *v)
{
    snprintf(p, 64, "/%s/train/images", cat);
    sn_h5_attr_get_int(g, "/", "format_version", v);
    sn_h5_attr_set_str(g, "/metrics/type_names", "data",
                       "format");
}
C
cat >"$tmp/good.c" <<'C'
/* "/scores" in a comment; sn_h5_attr_get_int(g, "/", "format_version", v) too */
// "/maps"
void g(sn_h5file *f, cJSON *o, char *p)
{
    SN_ERR(SN_EFORMAT, "%s: /metrics pixel_threshold is not finite", f->path);
    FILE *s = fopen("/proc/self/status", "r");
    jadd(o, "format_version", 1); /* JSON, not HDF5 */
    sn_h5_attr_get_str(f, "/", "categories", &p);
    sn_results_read_col(f, d, SN_RES_SCORES, 0, 1, p);
    const char *q = "a/b", *e = "";
}
C
PYTHONPATH="$src/tests/lib" "$py" "$tmp/scan.py" "$tmp/bad.c" >"$tmp/bad.out"
ok "self-check: 6 names flagged in bad.c ($(grep -c . "$tmp/bad.out"))" "[ \"\$(grep -c . \"$tmp/bad.out\")\" = 6 ] && grep -q 'bad.c:4: HDF5 path \"/%s/train/images\"' \"$tmp/bad.out\" && grep -q 'bad.c:5: identity attribute \"format_version\"' \"$tmp/bad.out\" && grep -q 'bad.c:6: identity attribute \"format\"' \"$tmp/bad.out\""
ok "self-check: comments, messages, file-system paths, JSON keys and other attributes accepted" "PYTHONPATH=\"$src/tests/lib\" \"$py\" \"$tmp/scan.py\" \"$tmp/good.c\" >\"$tmp/good.out\" || { cat \"$tmp/good.out\"; false; }"

# the sources: everything under src/ but the owners
owners="src/format/ src/include/sernet/dataset.h src/include/sernet/hashindex_format.h \
src/include/sernet/model_format.h src/include/sernet/results_format.h src/include/sernet/bundle.h \
src/include/sernet/format.h"
(cd "$src" && find src -name '*.c' -o -name '*.h' | sort) >"$tmp/all"
cp "$tmp/all" "$tmp/files"
for o in $owners; do grep -v "^$o" "$tmp/files" >"$tmp/f2"; mv "$tmp/f2" "$tmp/files"; done
ok "sources found ($(wc -l <"$tmp/files") files outside the owners, $(( $(wc -l <"$tmp/all") - $(wc -l <"$tmp/files") )) owner files)" "[ -s \"$tmp/files\" ] && [ -d \"$src/src/format\" ]"
if (cd "$src" && PYTHONPATH="$src/tests/lib" "$py" "$tmp/scan.py" $(cat "$tmp/files")) >"$tmp/src.out"; then pass=$((pass+1)); else
  fail=$((fail+1)); echo "FAIL: HDF5 paths of a format named outside its owner:"; cat "$tmp/src.out"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
