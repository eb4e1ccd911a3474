#!/usr/bin/env bash
# CI check: every MPI call in src/ has its return value checked. The program sets
# MPI_ERRORS_RETURN, so an MPI failure is only seen through the return code; a call used as a
# statement of its own (`MPI_Allreduce(...);`, `(void)MPI_Barrier(...)`, `else MPI_Bcast(...)`)
# throws it away. Comments and string literals are ignored; MPI_Abort (does not return) and
# MPI_Wtime/MPI_Wtick (return a time, not a status) are exempt. A self-check first shows the
# scanner flags unchecked calls and accepts checked ones.
set -u
src=${SERNET_SOURCE_DIR:?}
py=$(command -v python3) || { echo "skipped: python3 not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/scan.py" <<'PY'
import re, sys
from csource import blank

EXEMPT = {"MPI_Abort", "MPI_Wtime", "MPI_Wtick"}


def unchecked(path):
    text = blank(open(path, encoding="utf-8", errors="replace").read())
    bad = []
    for m in re.finditer(r"\bMPI_[A-Za-z_0-9]+(?=\s*\()", text):
        name = m.group(0)
        if name in EXEMPT:
            continue
        before = text[:m.start()].rstrip()
        prev = before[-1:] if before else ";"
        word = re.search(r"([A-Za-z_]+)$", before)
        if prev in ";{}:)" or (word and word.group(1) in ("else", "do")):
            bad.append("%s:%d: %s(...) result not checked" % (path, text.count("\n", 0, m.start()) + 1, name))
    return bad

bad = []
for p in sys.argv[1:]:
    bad += unchecked(p)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; fi; }

# self-check on hand-written files
cat >"$tmp/bad.c" <<'C'
void f(MPI_Comm c, int *x)
{
    MPI_Barrier(c);
    if (*x) (void)MPI_Bcast(x, 1, MPI_INT, 0, c); else MPI_Allreduce(MPI_IN_PLACE, x, 1, MPI_INT, MPI_SUM, c);
    for (;;) MPI_Comm_rank(c, x);
}
C
cat >"$tmp/good.c" <<'C'
/* MPI_Barrier(c); in a comment */
int g(MPI_Comm c, int *x)
{
    const char *s = "MPI_Barrier(c);";
    double t = MPI_Wtime();
    if (MPI_Barrier(c) != MPI_SUCCESS || MPI_Allreduce(MPI_IN_PLACE, x, 1, MPI_INT, MPI_SUM,
                                                      c) != MPI_SUCCESS)
        MPI_Abort(c, 1);
    int rc = MPI_Bcast(x, 1, MPI_INT, 0, c);
    return rc == MPI_SUCCESS && s && t > 0 ? check(MPI_Comm_rank(c, x)) : 1;
}
C
PYTHONPATH="$src/tests/lib" "$py" "$tmp/scan.py" "$tmp/bad.c" >"$tmp/bad.out"
ok "self-check: 4 unchecked calls flagged in bad.c ($(wc -l <"$tmp/bad.out"))" "[ \"\$(grep -c 'not checked' \"$tmp/bad.out\")\" = 4 ] && grep -q 'bad.c:3: MPI_Barrier' \"$tmp/bad.out\" && grep -q 'bad.c:5: MPI_Comm_rank' \"$tmp/bad.out\""
ok "self-check: checked calls, comments and strings accepted" "PYTHONPATH=\"$src/tests/lib\" \"$py\" \"$tmp/scan.py\" \"$tmp/good.c\" >/dev/null"

# the sources
find "$src/src" -name '*.c' -o -name '*.h' | sort >"$tmp/files"
ok "sources found ($(wc -l <"$tmp/files") files)" "[ -s \"$tmp/files\" ]"
if PYTHONPATH="$src/tests/lib" "$py" "$tmp/scan.py" $(cat "$tmp/files") >"$tmp/src.out"; then pass=$((pass+1)); else
  fail=$((fail+1)); echo "FAIL: unchecked MPI calls in src/:"; sed "s#$src/##" "$tmp/src.out"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
