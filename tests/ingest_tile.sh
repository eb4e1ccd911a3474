#!/usr/bin/env bash
# sernet ingest --tile: large good images cut at native resolution into S x S training tiles.
# Python PIL writes a 60 x 44 RGB and a 96 x 64 grey image; at --size 32 --overlap 16 they give
# 3 x 2 and 5 x 3 tiles (the last column and row at the edges). Checked: names <file>@<x>,<y> in
# raster order, every stored tile equals the PIL crop of its image byte for byte, the hash index
# covers the tiles, 1 and 2 ranks write the same data, a model trains on the tiles and
# `sernet score --tile` repairs with them (neighbours are tiles); the MVTec layout's test images
# are left out with a note; errors: an image smaller than a tile (named, nothing written), a bad
# --overlap, --overlap without --tile, --tile with test folders.
set -u
bin=${SERNET_BIN:?}
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
command -v h5dump >/dev/null || { echo "skipped: h5dump not installed"; exit 77; }
command -v h5diff >/dev/null || { echo "skipped: h5diff not installed"; exit 77; }
"$py" -c "import PIL" 2>/dev/null || { echo "skipped: no Pillow in $py"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
die() { echo "FAIL: $1"; cat "$tmp/err" 2>/dev/null | tail -20; echo "$pass passed, $((fail+1)) failed"; exit 1; }
mpi() { mpiexec -n "$1" --oversubscribe "${@:2}"; }

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || die "synth"
h5dump -d /weave/train/images -b LE -o "$tmp/train.bin" "$tmp/syn.h5" >/dev/null 2>"$tmp/err" || die "h5dump"
"$py" - "$tmp" <<'EOF' 2>"$tmp/err" || die "writing images"
import os, sys
from PIL import Image
tmp = sys.argv[1]
S = 32
b = open(os.path.join(tmp, "train.bin"), "rb").read()
n = len(b) // (S * S * 3)
train = [Image.frombytes("RGB", (S, S), b[i * S * S * 3:(i + 1) * S * S * 3]) for i in range(n)]
def mosaic(w, h, seed):
    im = Image.new("RGB", (w, h))
    k = seed
    for y in range(0, h, 16):
        for x in range(0, w, 16):
            im.paste(train[(k * 11) % n].crop((4, 4, 20, 20)), (x, y))
            k += 1
    return im
os.makedirs(tmp + "/good"); os.makedirs(tmp + "/mv/weave/train/good"); os.makedirs(tmp + "/mv/weave/test/good")
os.makedirs(tmp + "/bad")
mosaic(60, 44, 1).save(tmp + "/good/a.png")
mosaic(96, 64, 2).convert("L").save(tmp + "/good/b.png")
mosaic(60, 44, 1).save(tmp + "/mv/weave/train/good/a.png")
mosaic(64, 64, 3).save(tmp + "/mv/weave/test/good/t.png")
mosaic(60, 44, 1).save(tmp + "/bad/a.png")
Image.new("RGB", (20, 40)).save(tmp + "/bad/c.png")
mosaic(200, 120, 4).save(tmp + "/large.png")
EOF
ing="ingest --good $tmp/good --category weave --size 32 --tile --overlap 16"

ok "ingest --tile --size 32 --overlap 16" "\"$bin\" $ing --out \"$tmp/t.h5\" >\"$tmp/out\" 2>\"$tmp/err\" && grep -q '21 training tiles of 32x32 (overlap >= 16) from 2 image(s)' \"$tmp/out\""
ok "names <file>@<x>,<y> in raster order" "h5dump -d /weave/train/names \"$tmp/t.h5\" | grep -o 'train/good/[a-z]*\\.png@[0-9]*,[0-9]*' | tr '\\n' ' ' | grep -qx 'train/good/a.png@0,0 train/good/a.png@16,0 train/good/a.png@28,0 train/good/a.png@0,12 train/good/a.png@16,12 train/good/a.png@28,12 train/good/b.png@0,0 train/good/b.png@16,0 train/good/b.png@32,0 train/good/b.png@48,0 train/good/b.png@64,0 train/good/b.png@0,16 train/good/b.png@16,16 train/good/b.png@32,16 train/good/b.png@48,16 train/good/b.png@64,16 train/good/b.png@0,32 train/good/b.png@16,32 train/good/b.png@32,32 train/good/b.png@48,32 train/good/b.png@64,32 '"
ok "every tile equals the PIL crop (RGB and grey), no resizing" "h5dump -d /weave/train/images -b LE -o \"$tmp/tiles.bin\" \"$tmp/t.h5\" >/dev/null && $py - \"$tmp\" <<'EOF' 2>\"$tmp/err\"
import sys
from PIL import Image
tmp = sys.argv[1]
b = open(tmp + '/tiles.bin', 'rb').read()
want = b''
a, g = Image.open(tmp + '/good/a.png').convert('RGB'), Image.open(tmp + '/good/b.png').convert('RGB')
for im, xs, ys in [(a, [0, 16, 28], [0, 12]), (g, [0, 16, 32, 48, 64], [0, 16, 32])]:
    for y in ys:
        for x in xs:
            want += im.crop((x, y, x + 32, y + 32)).tobytes()
assert len(b) == 21 * 32 * 32 * 3 and b == want
EOF"
ok "hash index of the 21 tiles" "h5dump -H -d /weave/train/phash \"$tmp/t.h5\" | grep -q '( 21 )'"
ok "2 ranks: the same data" "mpi 2 \"$bin\" $ing --out \"$tmp/t2.h5\" >/dev/null 2>\"$tmp/err\" && h5diff \"$tmp/t.h5\" \"$tmp/t2.h5\" /weave /weave >\"$tmp/err\""
ok "a model trains on the tiles" "\"$bin\" train --data \"$tmp/t.h5\" --category weave --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=8 --set batch_size=4 --set seed=3 --set threads=1 --stage all --out \"$tmp/m.h5\" >/dev/null 2>\"$tmp/err\""
ok "score --tile repairs with the most similar training tiles" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/t.h5\" --threads 1 --tile --overlap 16 --json \"$tmp/large.png\" >\"$tmp/s.json\" 2>\"$tmp/err\" && grep -q '\"neighbour\": \"train/good/[ab].png@[0-9]*,[0-9]*\"' \"$tmp/s.json\" && grep -q '\"tiles\": 84' \"$tmp/s.json\""
ok "MVTec layout: the test images are left out with a note" "\"$bin\" ingest --root \"$tmp/mv\" --category weave --size 32 --tile --overlap 16 --out \"$tmp/mv.h5\" >\"$tmp/out\" 2>\"$tmp/err\" && grep -q '1 test image(s) left out.*--size D.*infer --tile' \"$tmp/out\" && grep -q '6 train, 0 test' \"$tmp/out\""

# errors: nothing written
ok "an image smaller than a tile: named, nothing written" "! \"$bin\" ingest --good \"$tmp/bad\" --category weave --size 32 --tile --out \"$tmp/e1.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'c.png: image of 20 x 40 pixels is smaller than a tile of 32 x 32' \"$tmp/err\" && [ ! -e \"$tmp/e1.h5\" ] && [ ! -e \"$tmp/e1.h5.tmp\" ]"
ok "--overlap 24: a multiple of 16 is needed" "! \"$bin\" ingest --good \"$tmp/good\" --category weave --size 32 --tile --overlap 24 --out \"$tmp/e2.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'overlap 24: must be 0 or a positive multiple of 16' \"$tmp/err\" && [ ! -e \"$tmp/e2.h5\" ]"
ok "usage: --overlap without --tile is exit 2" "\"$bin\" ingest --good \"$tmp/good\" --category weave --size 32 --overlap 16 --out \"$tmp/e3.h5\" >/dev/null 2>&1; [ \$? = 2 ] && [ ! -e \"$tmp/e3.h5\" ]"
ok "usage: --tile with --test-good is exit 2" "\"$bin\" ingest --good \"$tmp/good\" --test-good \"$tmp/good\" --category weave --size 32 --tile --out \"$tmp/e4.h5\" >/dev/null 2>\"$tmp/err\"; [ \$? = 2 ] && grep -q 'no --test-good or --defect' \"$tmp/err\""

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
