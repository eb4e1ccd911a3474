#!/usr/bin/env bash
# Damaged files are detected and reported, never silently used (docs/hardening.md):
#  - one flipped bit in a model tensor, a dataset image, a results row;
#  - one flipped bit in a bundle's hash index and training images (`sernet bundle`);
#  - truncated model, dataset, bundle and results files.
# A flipped bit is placed inside the stored bytes of a chosen dataset element: its bytes are
# dumped with h5dump and located in the file.
set -u
bin=${SERNET_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
command -v h5dump >/dev/null && command -v h5diff >/dev/null || { echo "skipped: h5dump/h5diff not installed"; exit 77; }
py=/usr/bin/python3; [ -x $py ] || py=python3
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
cut_half() { head -c $(( $(stat -c %s "$1") / 2 )) "$1" >"$2"; }

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
tr="--data $tmp/syn.h5 --category weave --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set seed=3 --set threads=1"
ok "train a tiny model" "\"$bin\" train $tr --stage all --out \"$tmp/m.h5\" >/dev/null 2>\"$tmp/err\""
inf="--category weave --set threads=1 --batch 4 --quiet"
ok "reference inference" "\"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/ref.h5\" >/dev/null 2>\"$tmp/err\""

# --- model ------------------------------------------------------------------------------------------
cp "$tmp/m.h5" "$tmp/mf.h5"
ok "flip a bit in /rec/tensors/E1.0.conv.weight" "flip \"$tmp/mf.h5\" /rec/tensors/E1.0.conv.weight"
ok "flipped model: infer refuses, naming the file and the tensor" "! \"$bin\" infer --model \"$tmp/mf.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'mf.h5.*E1.0.conv.weight' \"$tmp/err\" && [ ! -e \"$tmp/x.h5\" ]"
"$bin" train $tr --set epochs_seg=2 --out "$tmp/ck.h5" --stop-after 5 >/dev/null 2>&1
ok "flip a bit in a checkpoint's /seg/tensors/E2.0.conv.weight" "flip \"$tmp/ck.h5\" /seg/tensors/E2.0.conv.weight"
ok "flipped checkpoint: train --resume refuses, naming the tensor" "! \"$bin\" train $tr --set epochs_seg=2 --out \"$tmp/ck.h5\" --resume >/dev/null 2>\"$tmp/err\" && grep -q 'ck.h5.*E2.0.conv.weight' \"$tmp/err\""
cut_half "$tmp/m.h5" "$tmp/mt.h5"
ok "truncated model: infer refuses" "! \"$bin\" infer --model \"$tmp/mt.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'mt.h5.*\\(truncated\\|damaged\\)' \"$tmp/err\""

# --- dataset ----------------------------------------------------------------------------------------
cp "$tmp/syn.h5" "$tmp/df.h5"
ok "flip a bit in test image 5" "flip \"$tmp/df.h5\" /weave/test/images 5,0,0,0 1,32,32,3"
ok "flipped dataset: infer fails, naming the file and the dataset" "! \"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/df.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'df.h5.*test/images' \"$tmp/err\""
ok "flipped dataset: the failed run left no final file" "[ ! -e \"$tmp/x.h5\" ]"
cp "$tmp/syn.h5" "$tmp/dtr.h5"
ok "flip a bit in training image 7" "flip \"$tmp/dtr.h5\" /weave/train/images 7,0,0,0 1,32,32,3"
ok "flipped training image: train fails naming it" "! \"$bin\" train $tr --set epochs_seg=2 --data \"$tmp/dtr.h5\" --out \"$tmp/x2.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'dtr.h5.*train/images' \"$tmp/err\""
cut_half "$tmp/syn.h5" "$tmp/dt.h5"
ok "truncated dataset: infer refuses" "! \"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/dt.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'dt.h5.*\\(truncated\\|damaged\\)' \"$tmp/err\""

# --- bundle (tests/bundle_cli.sh has the rest) ------------------------------------------------------
ok "a bundle of the model" "\"$bin\" bundle --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --out \"$tmp/b.h5\" >/dev/null 2>\"$tmp/err\""
cp "$tmp/b.h5" "$tmp/bf.h5"
ok "flip a bit in the bundle's hash index" "flip \"$tmp/bf.h5\" /train/phash"
ok "flipped bundle hash index: infer refuses naming the part, no results" "! \"$bin\" infer --model \"$tmp/bf.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'bf.h5: bundle part /train/phash (training hash index): checksum mismatch' \"$tmp/err\" && [ ! -e \"$tmp/x.h5\" ]"
cp "$tmp/b.h5" "$tmp/bi.h5"
ok "flip a bit in the bundle's training image 7" "flip \"$tmp/bi.h5\" /train/images 7,0,0,0 1,32,32,3"
ok "flipped bundle training image: infer refuses naming the part" "! \"$bin\" infer --model \"$tmp/bi.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'bi.h5: bundle part /train/images (training images): checksum mismatch' \"$tmp/err\" && [ ! -e \"$tmp/x.h5\" ]"
cut_half "$tmp/b.h5" "$tmp/bt.h5"
ok "truncated bundle: infer refuses" "! \"$bin\" infer --model \"$tmp/bt.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'bt.h5.*\\(truncated\\|damaged\\)' \"$tmp/err\""

# --- results ----------------------------------------------------------------------------------------
cp "$tmp/ref.h5" "$tmp/rf.h5.tmp"
ok "flip a bit in row 5 of /maps of an interrupted file" "flip \"$tmp/rf.h5.tmp\" /maps 5,0,0 1,32,32"
ok "resume detects the damaged row and computes it again" "\"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/rf.h5\" --resume >/dev/null 2>\"$tmp/err\" && grep -q 'row 5 is damaged' \"$tmp/err\""
ok "the repaired file equals the reference" "h5diff \"$tmp/ref.h5\" \"$tmp/rf.h5\" /maps /maps >/dev/null && h5diff \"$tmp/ref.h5\" \"$tmp/rf.h5\" /checksums /checksums >/dev/null"
cut_half "$tmp/ref.h5" "$tmp/rt.h5.tmp"
ok "truncated interrupted results: resume refuses, naming it" "! \"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" $inf --out \"$tmp/rt.h5\" --resume >/dev/null 2>\"$tmp/err\" && grep -q 'rt.h5.tmp.*\\(truncated\\|damaged\\)' \"$tmp/err\""

echo "$pass passed, $fail failed"
[ $fail = 0 ]
