#!/usr/bin/env bash
# Dataset files end to end through the sernet binary: the data written by ingest and synth is
# identical at 1, 2 and 3 ranks (h5diff: every dataset and attribute), the same synth seed gives
# the same bytes, and the real data sets under ../shared ingest with the expected counts.
set -u
bin=${SERNET_BIN:?}
shared=${SERNET_SHARED_DIR:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d /tmp/sn_data_ingest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
mpi() { local np=$1; shift; mpiexec -n "$np" --oversubscribe "$@"; }

# synth: rank-count invariance and same seed, same bytes
for np in 1 3; do
  mpi $np "$bin" synth --out "$tmp/synth$np.h5" --size 32 --seed 4 >/dev/null || bad "synth at $np ranks"
done
h5diff -q "$tmp/synth1.h5" "$tmp/synth3.h5" && ok || bad "synth differs between 1 and 3 ranks"
"$bin" synth --out "$tmp/synth1b.h5" --size 32 --seed 4 >/dev/null
cmp -s "$tmp/synth1.h5" "$tmp/synth1b.h5" && ok || bad "synth with the same seed is not byte-identical"
"$bin" synth --out "$tmp/synth5.h5" --size 32 --seed 5 >/dev/null
h5diff -q "$tmp/synth1.h5" "$tmp/synth5.h5" >/dev/null && bad "another seed gives the same data" || ok
# --test-copies: K copies of the test layout at 2 ranks; the first copy is the default split, the
# others are new images with the same types and masks; train split unchanged; bad K is a usage error
mpi 2 "$bin" synth --out "$tmp/synth_k3.h5" --size 32 --seed 4 --test-copies 3 >"$tmp/k3.txt" || bad "synth --test-copies 3"
grep -q "seed 4, 3 test copies)" "$tmp/k3.txt" && ok || bad "synth's summary does not name the copies"
/usr/bin/python3 - "$tmp/synth1.h5" "$tmp/synth_k3.h5" <<'PY' && ok || bad "synth --test-copies 3 (see above)"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
bad = []
for c in ("weave", "flange"):
    n = a[c + "/test/images"].shape[0]
    A, B = a[c + "/test/images"][:], b[c + "/test/images"][:]
    if B.shape[0] != 3 * n: bad.append("%s: %d test images, expected %d" % (c, B.shape[0], 3 * n))
    if not (A == B[:n]).all(): bad.append(c + ": the first copy is not the default split")
    for k in (1, 2):
        if not (A != B[k * n:(k + 1) * n]).any(axis=(1, 2, 3)).all(): bad.append("%s: copy %d repeats images" % (c, k + 1))
        if not (a[c + "/test/defect"][:] == b[c + "/test/defect"][k * n:(k + 1) * n]).all(): bad.append("%s: copy %d types" % (c, k + 1))
    m = b[c + "/test/masks"][:].reshape(3 * n, -1).any(1)
    if not (m == (b[c + "/test/defect"][:] != 0)).all(): bad.append(c + ": masks do not match the types")
    if not (a[c + "/train/images"][:] == b[c + "/train/images"][:]).all(): bad.append(c + ": train split changed")
for x in bad: print(x)
sys.exit(1 if bad else 0)
PY
"$bin" synth --out "$tmp/synth_k0.h5" --size 32 --test-copies 0 >/dev/null 2>"$tmp/err"; [ $? = 2 ] &&
  grep -q -- "--test-copies '0'" "$tmp/err" && [ ! -e "$tmp/synth_k0.h5" ] && ok || bad "--test-copies 0: exit 2 naming it"

if [ -z "$shared" ] || [ ! -d "$shared/data/glass/glass" ] || [ ! -d "$shared/data/mpdd/metal_plate" ]; then
  echo "skipped: no ../shared (real-data part)"
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ] || exit 1
  exit 77
fi

# glass at 1, 2, 3 ranks: identical data; counts as documented in its SOURCE.txt
for np in 1 2 3; do
  mpi $np "$bin" ingest --root "$shared/data/glass" --category glass --size 64 --out "$tmp/glass$np.h5" \
    >/dev/null || bad "ingest glass at $np ranks"
done
for np in 2 3; do
  h5diff -q "$tmp/glass1.h5" "$tmp/glass$np.h5" && ok || bad "glass differs between 1 and $np ranks"
done
"$bin" info "$tmp/glass1.h5" > "$tmp/glass.info" || bad "info glass"
grep -q "category glass: 64x64 RGB, 12 train, 86 test (6 normal, 80 defective, 80 with pixel masks)" \
  "$tmp/glass.info" && ok || { bad "glass counts"; cat "$tmp/glass.info"; }
grep -q "defect types: good (6) angle (24) edge (56)" "$tmp/glass.info" && ok || bad "glass defect types"

# mpdd metal_plate at 1 and 2 ranks
for np in 1 2; do
  mpi $np "$bin" ingest --root "$shared/data/mpdd" --category metal_plate --size 64 \
    --out "$tmp/mpdd$np.h5" >/dev/null || bad "ingest mpdd at $np ranks"
done
h5diff -q "$tmp/mpdd1.h5" "$tmp/mpdd2.h5" && ok || bad "mpdd differs between 1 and 2 ranks"
mpi 2 "$bin" info --check "$tmp/mpdd2.h5" > "$tmp/mpdd.info" || bad "info --check mpdd"
grep -q "category metal_plate: 64x64 RGB, 54 train, 107 test (26 normal, 81 defective, 81 with pixel masks)" \
  "$tmp/mpdd.info" && ok || { bad "mpdd counts"; cat "$tmp/mpdd.info"; }
# original sizes are kept
h5dump -d /metal_plate/train/orig_size -s 0,0 -c 1,2 "$tmp/mpdd1.h5" | grep -q "512, 512" && ok \
  || bad "mpdd original size not 512x512"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
