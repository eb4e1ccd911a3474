#!/usr/bin/env bash
# sernet bundle (docs/inspection.md, docs/formats.md "Bundle file"): one self-contained file in
# place of the model + dataset pair.
#  - created: nets without optimiser state, the model's category's training images, names and
#    hash index equal to the dataset's; `sernet info` reads it whole; no temporary left;
#  - equal to the pair: `sernet score` (tab and JSON lines), `sernet infer` (every results dataset,
#    at 1 and 2 ranks), the C API (inspect_example with NULL data), `sernet calibrate` (the same
#    thresholds, stored in the bundle; a model calibrated later is bundled again with its own;
#    eval --store-thresholds on results made with a bundle stores them in the bundle);
#  - refused, naming file and part, with nothing written: flipped bits in the hash index, a
#    training image, a tensor of each net, the root attributes and the thresholds; a truncated
#    bundle; a sample of random single-bit flips anywhere (each is refused or leaves the output
#    unchanged, never a silently different score); foreign files; a model whose category the
#    dataset lacks or a dataset other than its training set; another --category or image size at infer; a bundle plus --data; a model
#    without --data; an existing output; a full disk while writing.
set -u
bin=${SERNET_BIN:?}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
command -v h5dump >/dev/null && command -v h5diff >/dev/null || { echo "skipped: h5dump/h5diff not installed"; exit 77; }
py=/usr/bin/python3; [ -x $py ] || py=python3
tmp=$(mktemp -d)
mnts=()
cleanup() { for m in "${mnts[@]}"; do umount "$m" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
die() { echo "FAIL: $1"; tail -20 "$tmp/err" 2>/dev/null; echo "$pass passed, $((fail+1)) failed"; exit 1; }
mpi() { mpiexec -n "$1" --oversubscribe "${@:2}"; }
# every data set of two results files equal
same() {
  for d in scores maps seg_masks repair_masks reconstructions neighbor neighbor_distance repaired_pixels checksums done; do
    h5diff "$1" "$2" "/$d" "/$d" >/dev/null || { echo "  /$d differs between $1 and $2"; return 1; }
  done
}
# the strings of a string data set, one a line
names() { h5dump -y -d "$2" "$1" | sed -n '/DATA {/,$p' | grep -o '"[^"]*"' | sed 's/\\000//g'; }
# nothing under this output name: neither the file nor its temporary
none() { [ ! -e "$1" ] && [ ! -e "$1.tmp" ]; }
# flip FILE DATASET [START COUNT]: flip one bit in the middle of the stored bytes of the selection
flip() {
  local sel=()
  [ $# -ge 4 ] && sel=(-s "$3" -c "$4")
  h5dump -d "$2" "${sel[@]}" -b LE -o "$tmp/slice.bin" "$1" >/dev/null 2>&1 || return 1
  $py - "$1" "$tmp/slice.bin" <<'PY'
import sys
path, sl = sys.argv[1], open(sys.argv[2], "rb").read()
data = bytearray(open(path, "rb").read())
probe = sl[len(sl) // 2 - 32: len(sl) // 2 + 32] if len(sl) >= 64 else sl
pos = data.find(probe)
if pos < 0 or data.find(probe, pos + 1) >= 0:
    sys.exit("flip: bytes not found exactly once in " + path)
data[pos + len(probe) // 2] ^= 0x10
open(path, "wb").write(data)
PY
}
# fliptext FILE TEXT: flip one bit of the first byte of TEXT, which must occur exactly once
fliptext() {
  $py - "$1" "$2" <<'PY'
import sys
path, text = sys.argv[1], sys.argv[2].encode()
data = bytearray(open(path, "rb").read())
pos = data.find(text)
if pos < 0 or data.find(text, pos + 1) >= 0:
    sys.exit("fliptext: text not found exactly once in " + path)
data[pos] ^= 0x02
open(path, "wb").write(data)
PY
}

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || die "synth"
tr="--data $tmp/syn.h5 --category weave --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set seed=3 --set threads=1"
"$bin" train $tr --stage all --out "$tmp/m.h5" >/dev/null 2>"$tmp/err" || die "train"
# five test images of the set as PNG files (written with zlib: no imaging library needed)
# and 16 of its training images (for a dataset of the same category with fewer images)
h5dump -d /weave/test/images -s 0,0,0,0 -c 60,32,32,3 -b LE -o "$tmp/test.bin" "$tmp/syn.h5" >/dev/null 2>"$tmp/err" || die "h5dump"
h5dump -d /weave/train/images -s 0,0,0,0 -c 16,32,32,3 -b LE -o "$tmp/train.bin" "$tmp/syn.h5" >/dev/null 2>"$tmp/err" || die "h5dump"
$py - "$tmp" <<'PY' 2>"$tmp/err" || die "PNG files"
import os, struct, sys, zlib
tmp, S = sys.argv[1], 32
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
def write(src, picks, out):
    raw = open(src, "rb").read()
    os.makedirs(out)
    for k, i in enumerate(picks):
        px = raw[i * S * S * 3:(i + 1) * S * S * 3]
        rows = b"".join(b"\0" + px[y * S * 3:(y + 1) * S * 3] for y in range(S))
        open("%s/t%d.png" % (out, k), "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", S, S, 8, 2, 0, 0, 0))
                                                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
write(tmp + "/test.bin", [0, 12, 30, 45, 59], tmp + "/imgs")
write(tmp + "/train.bin", range(16), tmp + "/few")
PY

# --- create -------------------------------------------------------------------------------------------
ok "bundle: created, reported" "\"$bin\" bundle --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/b.h5\" >\"$tmp/out\" 2>\"$tmp/err\" && grep -q 'category weave, 32 x 32, 120 training images' \"$tmp/out\""
ok "bundle: no temporary file left" "[ -e \"$tmp/b.h5\" ] && [ ! -e \"$tmp/b.h5.tmp\" ]"
ok "bundle: format marker and version" "h5dump -a /format \"$tmp/b.h5\" | grep -q '\"sernet-bundle' && h5dump -a /format_version \"$tmp/b.h5\" | grep -q '(0): 1'"
ok "bundle: training images, names and hash index equal the dataset's" "h5diff \"$tmp/b.h5\" \"$tmp/syn.h5\" /train/images /weave/train/images >/dev/null && h5diff \"$tmp/b.h5\" \"$tmp/syn.h5\" /train/phash /weave/train/phash >/dev/null && diff <(names \"$tmp/b.h5\" /train/names) <(names \"$tmp/syn.h5\" /weave/train/names) >/dev/null"
ok "bundle: nets equal the model's, no optimiser state or loss curves" "h5diff \"$tmp/b.h5\" \"$tmp/m.h5\" /seg/tensors /seg/tensors >/dev/null && h5diff \"$tmp/b.h5\" \"$tmp/m.h5\" /rec/tensors /rec/tensors >/dev/null && ! h5dump -n \"$tmp/b.h5\" | grep -q 'adam\|loss'"
ok "bundle: only the model's category (no flange images)" "! h5dump -n \"$tmp/b.h5\" | grep -q flange && ! h5dump -n \"$tmp/b.h5\" | grep -q '/test'"
ok "bundle: every data set chunked with the Fletcher32 checksum" "[ \$(h5dump -p -H \"$tmp/b.h5\" | grep -c 'DATASET \"') -gt 90 ] && [ \$(h5dump -p -H \"$tmp/b.h5\" | grep -c 'DATASET \"') = \$(h5dump -p -H \"$tmp/b.h5\" | grep -c 'CHECKSUM FLETCHER32') ]"
ok "info describes the bundle and verifies it" "\"$bin\" info \"$tmp/b.h5\" >\"$tmp/out\" 2>\"$tmp/err\" && grep -q 'kind: sernet-bundle, format version 1' \"$tmp/out\" && grep -q 'bundle: category weave, 32x32 RGB, 120 training images' \"$tmp/out\" && grep -q 'decision thresholds: none' \"$tmp/out\" && grep -q 'every checksum verified' \"$tmp/out\""

# --- equal to the pair --------------------------------------------------------------------------------
ok "score: pair" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --category weave --threads 1 \"$tmp/imgs\" >\"$tmp/s_pair.txt\" 2>\"$tmp/err\""
ok "score: bundle without --data" "\"$bin\" score --model \"$tmp/b.h5\" --threads 1 \"$tmp/imgs\" >\"$tmp/s_b.txt\" 2>\"$tmp/err\""
ok "score: the same lines (score, neighbour, distance, repaired pixels)" "[ \$(wc -l <\"$tmp/s_pair.txt\") = 5 ] && diff \"$tmp/s_pair.txt\" \"$tmp/s_b.txt\" >\"$tmp/err\""
ok "score: the repair module was exercised" "awk -F'\t' '\$5 > 0 {r=1} END {exit !r}' \"$tmp/s_b.txt\""
ok "score --json --jobs 2: the same objects" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --category weave --threads 1 --json \"$tmp/imgs\" >\"$tmp/j1\" 2>\"$tmp/err\" && \"$bin\" score --model \"$tmp/b.h5\" --threads 1 --jobs 2 --json \"$tmp/imgs\" >\"$tmp/j2\" 2>\"$tmp/err\" && diff \"$tmp/j1\" \"$tmp/j2\" >\"$tmp/err\""
inf="--set threads=1 --batch 4 --quiet"
ok "infer: pair" "\"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --category weave $inf --out \"$tmp/r_pair.h5\" >/dev/null 2>\"$tmp/err\""
ok "infer: bundle, the dataset gives the test split (category from the bundle)" "\"$bin\" infer --model \"$tmp/b.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/r_b.h5\" >/dev/null 2>\"$tmp/err\""
ok "infer: every results data set equal" "same \"$tmp/r_pair.h5\" \"$tmp/r_b.h5\""
ok "infer: bundle at 2 ranks equal too" "mpi 2 \"$bin\" infer --model \"$tmp/b.h5\" --data \"$tmp/syn.h5\" --category weave $inf --out \"$tmp/r_b2.h5\" >/dev/null 2>\"$tmp/err\" && same \"$tmp/r_pair.h5\" \"$tmp/r_b2.h5\""
ok "infer: same model fingerprint recorded" "[ \"\$(h5dump -a /model_fingerprint \"$tmp/r_pair.h5\" | grep '(0)')\" = \"\$(h5dump -a /model_fingerprint \"$tmp/r_b.h5\" | grep '(0)')\" ]"
ex=${SERNET_BUILD_DIR:-$(dirname "$bin")}/inspect_example
if [ -x "$ex" ]; then
  ok "C API (sn_inspector_open with NULL data): the same output as with the pair" "\"$ex\" \"$tmp/m.h5\" \"$tmp/syn.h5\" \"$tmp\"/imgs/*.png >\"$tmp/e1\" 2>\"$tmp/err\" && \"$ex\" \"$tmp/b.h5\" - \"$tmp\"/imgs/*.png >\"$tmp/e2\" 2>\"$tmp/err\" && [ \$(wc -l <\"$tmp/e1\") = 6 ] && diff \"$tmp/e1\" \"$tmp/e2\" >\"$tmp/err\""
  ok "C API: a bundle with a dataset is refused" "! \"$ex\" \"$tmp/b.h5\" \"$tmp/syn.h5\" \"$tmp/imgs/t0.png\" >/dev/null 2>\"$tmp/err\" && grep -q 'b.h5 is a bundle' \"$tmp/err\""
else
  ok "example program built ($ex)" "false"
fi

# --- thresholds -------------------------------------------------------------------------------------
cp "$tmp/m.h5" "$tmp/mc.h5"; cp "$tmp/b.h5" "$tmp/bc.h5"
ok "calibrate: pair; says how to bundle again" "\"$bin\" calibrate --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --category weave --threads 1 --fpr 0.2 \"$tmp/imgs\" >\"$tmp/c1\" 2>\"$tmp/err\" && grep -q 'bundles made from .*mc.h5 before now lack these thresholds: make them again with .sernet bundle' \"$tmp/err\""
ok "calibrate: the bundle itself, no --data" "\"$bin\" calibrate --model \"$tmp/bc.h5\" --threads 1 --fpr 0.2 \"$tmp/imgs\" >\"$tmp/c2\" 2>\"$tmp/err\" && [ ! -e \"$tmp/bc.h5.tmp\" ]"
ok "calibrate: the same thresholds" "[ \"\$(cut -d: -f3- \"$tmp/c1\")\" = \"\$(cut -d: -f3- \"$tmp/c2\")\" ]"
ok "calibrated bundle: still verified whole, thresholds shown" "\"$bin\" info \"$tmp/bc.h5\" >\"$tmp/out\" 2>\"$tmp/err\" && grep -q 'decision thresholds: image' \"$tmp/out\""
ok "calibrated bundle: score gives the pair's verdicts" "\"$bin\" score --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --category weave --threads 1 \"$tmp/imgs\" >\"$tmp/v1\" 2>\"$tmp/err\" && \"$bin\" score --model \"$tmp/bc.h5\" --threads 1 \"$tmp/imgs\" >\"$tmp/v2\" 2>\"$tmp/err\" && diff \"$tmp/v1\" \"$tmp/v2\" >\"$tmp/err\" && grep -q 'good\|defect' \"$tmp/v2\""
ok "a bundle made before the model got thresholds has none: score says how to set them" "\"$bin\" score --model \"$tmp/b.h5\" --threads 1 \"$tmp/imgs/t0.png\" >/dev/null 2>\"$tmp/err\" && grep -q 'no decision thresholds.*calibrate --model .*b.h5 GOOD' \"$tmp/err\""
ok "bundle again (--force) from the calibrated model: its thresholds come along" "\"$bin\" bundle --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/b2.h5\" >\"$tmp/out\" 2>\"$tmp/err\" && grep -q 'with decision thresholds' \"$tmp/out\" && \"$bin\" score --model \"$tmp/b2.h5\" --threads 1 \"$tmp/imgs\" >\"$tmp/v3\" 2>\"$tmp/err\" && diff \"$tmp/v1\" \"$tmp/v3\" >\"$tmp/err\""
ok "infer with a calibrated bundle: the pair's verdicts" "\"$bin\" infer --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --category weave $inf --out \"$tmp/rv1.h5\" >/dev/null 2>\"$tmp/err\" && \"$bin\" infer --model \"$tmp/b2.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/rv2.h5\" >/dev/null 2>\"$tmp/err\" && h5diff \"$tmp/rv1.h5\" \"$tmp/rv2.h5\" /verdicts /verdicts >/dev/null && h5diff \"$tmp/rv1.h5\" \"$tmp/rv2.h5\" /normalized_scores /normalized_scores >/dev/null"

cp "$tmp/b.h5" "$tmp/be.h5"
ok "eval --store-thresholds on results made with a bundle: stored in the bundle" "\"$bin\" infer --model \"$tmp/be.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/re.h5\" >/dev/null 2>\"$tmp/err\" && \"$bin\" eval --results \"$tmp/re.h5\" --data \"$tmp/syn.h5\" --store-thresholds >\"$tmp/out\" 2>\"$tmp/err\" && grep -q 'thresholds: .*be.h5: image' \"$tmp/out\" && \"$bin\" info \"$tmp/be.h5\" 2>\"$tmp/err\" | grep -q 'decision thresholds: image .*eval F1-optimal'"

# --- bad input: refused, nothing written ------------------------------------------------------------
ok "existing output refused without --force, left as it was" "cp \"$tmp/b.h5\" \"$tmp/keep.h5\" && ! \"$bin\" bundle --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/b.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'b.h5: output file exists' \"$tmp/err\" && cmp -s \"$tmp/b.h5\" \"$tmp/keep.h5\" && [ ! -e \"$tmp/b.h5.tmp\" ]"
ok "a dataset file as the model: refused" "! \"$bin\" bundle --model \"$tmp/syn.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'syn.h5: not a sernet model file or bundle' \"$tmp/err\" && none \"$tmp/x.h5\""
ok "a model as the dataset: refused" "! \"$bin\" bundle --model \"$tmp/m.h5\" --data \"$tmp/m.h5\" --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'm.h5: not a sernet dataset file' \"$tmp/err\" && none \"$tmp/x.h5\""
ok "a bundle as the model: refused" "! \"$bin\" bundle --model \"$tmp/b.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'b.h5 is a bundle already' \"$tmp/err\" && none \"$tmp/x.h5\""
# a model of the other category, and its bundle
"$bin" train --data "$tmp/syn.h5" --category flange --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set seed=3 --set threads=1 --stage all --out "$tmp/mf.h5" >/dev/null 2>&1
"$bin" bundle --model "$tmp/mf.h5" --data "$tmp/syn.h5" --out "$tmp/bf.h5" >/dev/null 2>&1
ok "wrong category: a flange bundle cannot score weave (infer --category weave), no results" "! \"$bin\" infer --model \"$tmp/bf.h5\" --data \"$tmp/syn.h5\" --category weave $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q \"bf.h5 is a bundle of category 'flange'.*'weave'\" \"$tmp/err\" && none \"$tmp/x.h5\""
ok "wrong category: the C API's category option too" "! \"$bin\" score --model \"$tmp/bf.h5\" --category weave \"$tmp/imgs/t0.png\" >/dev/null 2>\"$tmp/err\" && grep -q \"bundle of category 'flange'\" \"$tmp/err\""
ok "wrong category: bundling a model with a dataset lacking its category" "$py - \"$tmp\" <<'PY' 2>\"$tmp/err\"
import sys
# a copy of the dataset whose category list names weave only: the flange model's category is absent
p = sys.argv[1]
d = bytearray(open(p + '/syn.h5', 'rb').read())
i = d.find(b'weave,flange')
assert i >= 0 and d.find(b'weave,flange', i + 1) < 0
d[i:i + 12] = b'weave\0\0\0\0\0\0\0'
open(p + '/weaveonly.h5', 'wb').write(d)
PY
! \"$bin\" bundle --model \"$tmp/mf.h5\" --data \"$tmp/weaveonly.h5\" --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q \"trained on category 'flange'.*no category 'flange'\" \"$tmp/err\" && none \"$tmp/x.h5\""
ok "a dataset of the model's category but not its training set (16 of 120 images): refused" "\"$bin\" ingest --good \"$tmp/few\" --category weave --size 32 --out \"$tmp/few.h5\" >/dev/null 2>\"$tmp/err\" && ! \"$bin\" bundle --model \"$tmp/m.h5\" --data \"$tmp/few.h5\" --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q \"few.h5 (category 'weave') holds 16 training images, but .*m.h5 was trained on 120 to 127 images\" \"$tmp/err\" && none \"$tmp/x.h5\""
ok "other image size at infer: refused, no results" "\"$bin\" synth --out \"$tmp/syn64.h5\" --size 64 --set seed=3 >/dev/null 2>&1 && ! \"$bin\" infer --model \"$tmp/b.h5\" --data \"$tmp/syn64.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q '32 x 32' \"$tmp/err\" && none \"$tmp/x.h5\""
ok "score: a bundle with --data is refused" "! \"$bin\" score --model \"$tmp/b.h5\" --data \"$tmp/syn.h5\" \"$tmp/imgs/t0.png\" >/dev/null 2>\"$tmp/err\" && grep -q 'b.h5 is a bundle: it carries its training images' \"$tmp/err\""
ok "score: a model without --data says to give it or bundle" "! \"$bin\" score --model \"$tmp/m.h5\" \"$tmp/imgs/t0.png\" >/dev/null 2>\"$tmp/err\" && grep -q 'm.h5 is a model file: give the dataset.*sernet bundle' \"$tmp/err\""
ok "usage: --model, --data and --out are required" "\"$bin\" bundle --model \"$tmp/m.h5\" >/dev/null 2>\"$tmp/err\"; [ \$? = 2 ]"

# --- damaged bundles: refused naming the part -------------------------------------------------------
damaged() { # name part description: score and infer refuse naming the file and the part
  ok "$1: score refuses naming '$2'" "! \"$bin\" score --model \"$tmp/d.h5\" --threads 1 \"$tmp/imgs/t0.png\" >/dev/null 2>\"$tmp/err\" && grep -q \"d.h5: bundle part $2 .*$3\" \"$tmp/err\""
  ok "$1: infer refuses, no results" "! \"$bin\" infer --model \"$tmp/d.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q \"d.h5: bundle part $2\" \"$tmp/err\" && none \"$tmp/x.h5\""
  ok "$1: info reports it (exit 1)" "! \"$bin\" info \"$tmp/d.h5\" >/dev/null 2>\"$tmp/err\" && grep -q \"d.h5: bundle part $2\" \"$tmp/err\""
}
cp "$tmp/b2.h5" "$tmp/d.h5"; ok "flip a bit in the hash index" "flip \"$tmp/d.h5\" /train/phash"
damaged "hash index" /train/phash "checksum mismatch"
cp "$tmp/b2.h5" "$tmp/d.h5"; ok "flip a bit in training image 7" "flip \"$tmp/d.h5\" /train/images 7,0,0,0 1,32,32,3"
damaged "training image" /train/images "checksum mismatch"
cp "$tmp/b2.h5" "$tmp/d.h5"; ok "flip a bit in a segmentation tensor" "flip \"$tmp/d.h5\" /seg/tensors/E2.0.conv.weight"
damaged "segmentation tensor" /seg "checksum mismatch"
cp "$tmp/b2.h5" "$tmp/d.h5"; ok "flip a bit in a reconstruction tensor" "flip \"$tmp/d.h5\" /rec/tensors/D1.0.conv.weight"
damaged "reconstruction tensor" /rec "checksum mismatch"
cp "$tmp/b2.h5" "$tmp/d.h5"; ok "flip a bit in the stored configuration (a root attribute)" "fliptext \"$tmp/d.h5\" 'epochs_seg = 1'"
damaged "configuration" / "checksum mismatch"
cp "$tmp/b2.h5" "$tmp/d.h5"; ok "flip a bit in the thresholds' source" "fliptext \"$tmp/d.h5\" 'held-out good images'"
damaged "thresholds" /thresholds "checksum mismatch"
head -c $(( $(stat -c %s "$tmp/b.h5") / 2 )) "$tmp/b.h5" >"$tmp/t.h5"
ok "truncated bundle: refused naming it" "! \"$bin\" score --model \"$tmp/t.h5\" \"$tmp/imgs/t0.png\" >/dev/null 2>\"$tmp/err\" && grep -q 't.h5.*truncated' \"$tmp/err\""
ok "truncated bundle: infer refuses, no results" "! \"$bin\" infer --model \"$tmp/t.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 't.h5.*truncated' \"$tmp/err\" && none \"$tmp/x.h5\""
# random single-bit flips anywhere in the file: each is refused, or (a flip in unused or
# redundant bytes) leaves every output line as it was; a different score is never printed
ok "30 random single-bit flips: each refused naming the file or without effect" "$py - \"$bin\" \"$tmp\" <<'PY' >\"$tmp/err\" 2>&1
import random, subprocess, sys
b, tmp = sys.argv[1], sys.argv[2]
src = open(tmp + '/b2.h5', 'rb').read()
cmd = [b, 'score', '--model', tmp + '/r.h5', '--threads', '1', tmp + '/imgs']
open(tmp + '/r.h5', 'wb').write(src)
ref = subprocess.run(cmd, capture_output=True, text=True).stdout
rng = random.Random(7)
out = {'refused': 0, 'no effect': 0}
for pos in sorted(rng.sample(range(len(src)), 30)):
    d = bytearray(src)
    d[pos] ^= 1 << rng.randrange(8)
    open(tmp + '/r.h5', 'wb').write(d)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 1 and 'r.h5' in r.stderr and not r.stdout:
        out['refused'] += 1
    elif r.returncode == 0 and r.stdout == ref:
        out['no effect'] += 1
    else:
        sys.exit('byte %d: exit %d, output %r, error %r' % (pos, r.returncode, r.stdout[:200], r.stderr[-300:]))
print(out)
sys.exit(0 if out['refused'] > 0 else 'no flip was refused')
PY"
grep -q refused "$tmp/err" && echo "  random flips: $(cat "$tmp/err")"

# --- a full disk while writing: nothing left -------------------------------------------------------
mkfs() { mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" 2>/dev/null && mnts+=("$1"); }
if [ "$(id -u)" = 0 ] && mkfs "$tmp/full" "$(( $(stat -c %s "$tmp/b.h5") / 2048 ))k"; then
  ok "full disk: exit 1 naming the file, neither the bundle nor its temporary left" "\"$bin\" bundle --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/full/b.h5\" >/dev/null 2>\"$tmp/err\"; [ \$? = 1 ] && grep -q 'full/b.h5' \"$tmp/err\" && none \"$tmp/full/b.h5\""
else
  echo "skipped: full-disk check (needs root and a tmpfs mount)"
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
