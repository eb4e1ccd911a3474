#!/usr/bin/env bash
# sernet score --tile on large images, against the tiles scored one by one: a tiny model (S = 32)
# is trained; Python PIL writes mosaics of test-image pieces larger than S and cuts their tiles out
# as 32 x 32 PNG files, which plain `sernet score` scores one by one (32 x 32 is not resized).
#  - 96 x 64 at --overlap 0 (3 x 2 tiles, no overlap): score = the largest tile score, neighbour
#    of that tile, repaired pixels = their sum, the 96 x 64 map PNG = the tile map PNGs pasted;
#  - 60 x 44 at --overlap 16 (3 x 2 tiles at x 0, 16, 28 and y 0, 12: the last column and row
#    aligned to the edges, overlapping by more than 16): the map PNG = the tile maps averaged in the test (within 1 grey level,
#    as the PNGs are rounded), score <= the largest tile score; grey input; --jobs;
#  - thresholds: defect mask at the image's size;
#  - errors: overlap not a multiple of 16 or >= S, an image smaller than a tile (the others
#    still scored, exit 1, no map for it), --overlap without --tile, --tile with --full-size.
# (Bit-exact maps through the API: tests/test_inspect_tile.c.)
set -u
bin=${SERNET_BIN:?}
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
command -v h5dump >/dev/null || { echo "skipped: h5dump not installed"; exit 77; }
"$py" -c "import PIL" 2>/dev/null || { echo "skipped: no Pillow in $py"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
die() { echo "FAIL: $1"; cat "$tmp/err" 2>/dev/null | tail -20; echo "$pass passed, $((fail+1)) failed"; exit 1; }

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || die "synth"
"$bin" train --data "$tmp/syn.h5" --category weave --quiet --set image_size=32 --set seg_width=4 \
  --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 \
  --set calib_samples=16 --set seed=3 --set threads=1 --stage all --out "$tmp/m.h5" >/dev/null 2>"$tmp/err" \
  || die "train"
h5dump -d /weave/test/images -b LE -o "$tmp/test.bin" "$tmp/syn.h5" >/dev/null 2>"$tmp/err" || die "h5dump"

# --- the large images and their tiles -------------------------------------------------------------
"$py" - "$tmp" <<'EOF' 2>"$tmp/err" || die "writing images"
import os, sys
from PIL import Image
tmp = sys.argv[1]
S = 32
b = open(os.path.join(tmp, "test.bin"), "rb").read()
n = len(b) // (S * S * 3)
test = [Image.frombytes("RGB", (S, S), b[i * S * S * 3:(i + 1) * S * S * 3]) for i in range(n)]
def mosaic(w, h, seed):
    im = Image.new("RGB", (w, h))
    k = seed
    for y in range(0, h, 16):
        for x in range(0, w, 16):
            im.paste(test[(k * 7) % n].crop((8, 8, 24, 24)), (x, y))
            k += 1
    return im
def cut(im, xs, ys, prefix):
    os.makedirs(os.path.join(tmp, prefix))
    k = 0
    for y in ys:
        for x in xs:
            im.crop((x, y, x + S, y + S)).save(os.path.join(tmp, prefix, "t%d_%d_%d.png" % (k, x, y)))
            k += 1
a = mosaic(96, 64, 1)
a.save(os.path.join(tmp, "a96x64.png"))
cut(a, [0, 32, 64], [0, 32], "ta")
b2 = mosaic(60, 44, 5)
b2.save(os.path.join(tmp, "b60x44.png"))
b2.convert("L").save(os.path.join(tmp, "b60x44_grey.png"))
cut(b2, [0, 16, 28], [0, 12], "tb")
cut(b2.convert("L"), [0, 16, 28], [0, 12], "tbg")
Image.new("RGB", (64, 20)).save(os.path.join(tmp, "thin64x20.png"))
EOF
sc="\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --threads 1"

# --- no overlap: exact ----------------------------------------------------------------------------
ok "tiles of a96x64 scored one by one" "eval $sc --json --maps \"$tmp/mta\" \"$tmp/ta\" >\"$tmp/ta.json\" 2>\"$tmp/err\""
ok "a96x64 scored with --tile --overlap 0" "eval $sc --json --tile --overlap 0 --maps \"$tmp/ma\" \"$tmp/a96x64.png\" >\"$tmp/a.json\" 2>\"$tmp/err\""
ok "no overlap: score = the top tile's, its neighbour, repaired = sum, map = tile maps pasted" "$py - \"$tmp\" <<'EOF' 2>\"$tmp/err\"
import json, os, sys
from PIL import Image
tmp = sys.argv[1]
tiles = [json.loads(l) for l in open(os.path.join(tmp, 'ta.json'))]
a = json.loads(open(os.path.join(tmp, 'a.json')).read())
assert len(tiles) == 6 and a['tiles'] == 6 and a['width'] == 96 and a['height'] == 64, (len(tiles), a)
top = max(tiles, key=lambda t: t['score'])
assert a['score'] == top['score'], (a['score'], top['score'])
assert a['neighbour'] == top['neighbour'] and a['hamming'] == top['hamming']
assert a['repaired_pixels'] == sum(t['repaired_pixels'] for t in tiles)
assert len(set(t['neighbour'] for t in tiles)) > 1  # the tiles found their own training images
m = Image.open(a['map'])
assert m.size == (96, 64) and m.mode == 'L'
want = Image.new('L', (96, 64))
for t in tiles:
    _, x, y = os.path.basename(t['path'])[:-4].split('_')
    want.paste(Image.open(t['map']), (int(x), int(y)))
assert list(m.getdata()) == list(want.getdata())
EOF"

# --- overlap 16, last tiles at the edges: averaged ------------------------------------------------
check_overlap() { # $1 tiles json, $2 image json
  "$py" - "$1" "$2" <<'EOF'
import json, os, sys
from PIL import Image
tiles = [json.loads(l) for l in open(sys.argv[1])]
a = json.loads(open(sys.argv[2]).read())
assert len(tiles) == 6 and a['tiles'] == 6 and (a['width'], a['height']) == (60, 44), a
top = max(t['score'] for t in tiles)
assert a['score'] <= top * (1 + 1e-6), (a['score'], top)
sums = [[0.0] * 60 for _ in range(44)]
cnt = [[0] * 60 for _ in range(44)]
for t in tiles:
    _, x, y = os.path.basename(t['path'])[:-4].split('_')
    x, y = int(x), int(y)
    px = list(Image.open(t['map']).getdata())
    for j in range(32):
        for i in range(32):
            sums[y + j][x + i] += px[j * 32 + i]
            cnt[y + j][x + i] += 1
m = Image.open(a['map'])
assert m.size == (60, 44)
got = list(m.getdata())
worst = max(abs(got[y * 60 + x] - sums[y][x] / cnt[y][x]) for y in range(44) for x in range(60))
assert worst <= 1.0, worst
assert min(min(r) for r in cnt) == 1 and max(max(r) for r in cnt) == 6  # x 28..31: 3 tiles, y 12..31: 2
# the brightest pixel is the score (--map-max 2)
assert abs(max(got) - round(255 * min(a['score'] / 2, 1))) <= 1
EOF
}
ok "tiles of b60x44 scored one by one" "eval $sc --json --map-max 2 --maps \"$tmp/mtb\" \"$tmp/tb\" >\"$tmp/tb.json\" 2>\"$tmp/err\""
ok "b60x44 with --tile --overlap 16" "eval $sc --json --tile --overlap 16 --map-max 2 --maps \"$tmp/mb\" \"$tmp/b60x44.png\" >\"$tmp/b.json\" 2>\"$tmp/err\""
ok "overlap 16: map = tile maps averaged, score <= top tile score" "check_overlap \"$tmp/tb.json\" \"$tmp/b.json\" 2>\"$tmp/err\""
ok "grey image: its grey tiles" "eval $sc --json --map-max 2 --maps \"$tmp/mtbg\" \"$tmp/tbg\" >\"$tmp/tbg.json\" 2>\"$tmp/err\" && eval $sc --json --tile --overlap 16 --map-max 2 --maps \"$tmp/mbg\" \"$tmp/b60x44_grey.png\" >\"$tmp/bg.json\" 2>\"$tmp/err\" && check_overlap \"$tmp/tbg.json\" \"$tmp/bg.json\" 2>\"$tmp/err\""
ok "tab-separated line: same numbers as --json" "eval $sc --tile --overlap 16 \"$tmp/b60x44.png\" >\"$tmp/b.txt\" 2>\"$tmp/err\" && $py -c \"import json,sys; a=json.load(open('$tmp/b.json')); f=open('$tmp/b.txt').read().rstrip('\n').split('\t'); assert float(f[1])==a['score'] and f[2]==a['neighbour'] and int(f[3])==a['hamming'] and int(f[4])==a['repaired_pixels'], f\" 2>\"$tmp/err\""
ok "--jobs 2: the same lines" "eval $sc --tile --overlap 16 \"$tmp/b60x44.png\" \"$tmp/a96x64.png\" \"$tmp/b60x44_grey.png\" >\"$tmp/j1.txt\" 2>\"$tmp/err\" && eval $sc --jobs 2 --tile --overlap 16 \"$tmp/b60x44.png\" \"$tmp/a96x64.png\" \"$tmp/b60x44_grey.png\" >\"$tmp/j2.txt\" 2>\"$tmp/err\" && diff \"$tmp/j1.txt\" \"$tmp/j2.txt\" >\"$tmp/err\" && [ \$(wc -l <\"$tmp/j1.txt\") = 3 ]"
ok "default overlap (S/4 rounded down to 16 = 0 for S = 32): 4 tiles for 60 x 44" "eval $sc --json --tile \"$tmp/b60x44.png\" 2>\"$tmp/err\" | grep -q '\"tiles\": 4'"
ok "--tile: a repair over more than half of the whole image is warned (tau 0), none at tau 1" "eval $sc --tile --overlap 16 --set repair_threshold=0 \"$tmp/b60x44.png\" >/dev/null 2>\"$tmp/err\" && grep -q 'replaced more than half of 1 of 1 scored images' \"$tmp/err\" && eval $sc --tile --overlap 16 --set repair_threshold=1 \"$tmp/b60x44.png\" >/dev/null 2>\"$tmp/err\" && ! grep -q 'more than half' \"$tmp/err\""

# --- thresholds: the defect mask at the image's size ----------------------------------------------
cp "$tmp/m.h5" "$tmp/mt.h5"
ok "thresholds: verdict and a 60 x 44 defect mask" "\"$bin\" calibrate --model \"$tmp/mt.h5\" --threshold 0.5 --pixel-threshold 0.3 >/dev/null 2>\"$tmp/err\" && \"$bin\" score --model \"$tmp/mt.h5\" --data \"$tmp/syn.h5\" --threads 1 --tile --overlap 16 --json --maps \"$tmp/mv\" \"$tmp/b60x44.png\" >\"$tmp/v.json\" 2>\"$tmp/err\" && $py -c \"
import json
from PIL import Image
a = json.load(open('$tmp/v.json'))
d = Image.open(a['map'][:-4] + '_defect.png')
assert d.size == (60, 44) and sum(1 for v in d.getdata() if v) == a['defect_pixels']
assert a['verdict'] == ('defect' if a['score'] > 0.5 else 'good')
\" 2>\"$tmp/err\""

# --- calibrate --tile: thresholds from tiled scores of good images ----------------------------------
mkdir "$tmp/good"
cp "$tmp/a96x64.png" "$tmp/b60x44.png" "$tmp/b60x44_grey.png" "$tmp/good/"
cp "$tmp/m.h5" "$tmp/mc.h5"
ok "calibrate --tile --overlap 16 --fpr 0.34 on 3 large good images" "\"$bin\" calibrate --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --threads 1 --tile --overlap 16 --fpr 0.34 \"$tmp/good\" >\"$tmp/cal.txt\" 2>\"$tmp/err\" && grep -q 'tiled (overlap 16)' \"$tmp/cal.txt\""
eval $sc --tile --overlap 16 "$tmp/good" >"$tmp/g.txt" 2>/dev/null
want=$(cut -f2 "$tmp/g.txt" | sort -g -r | sed -n 2p)   # floor(0.34 * 3) + 1 = 2nd largest
got=$(h5dump -a /thresholds/image -m %.9g "$tmp/mc.h5" | awk '/\(0\)/{print $2}')
ok "image threshold = the 2nd largest tiled score ($got vs $want)" "[ -n \"$want\" ] && awk -v a=$got -v b=$want 'BEGIN{exit !(a == b || (a - b)^2 < 1e-14 * b * b)}'"
ok "score --tile with tiled thresholds: no tiling warning; without --tile: warned" "\"$bin\" score --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --threads 1 --tile --overlap 16 \"$tmp/good\" >/dev/null 2>\"$tmp/err\" && ! grep -q 'calibrated on' \"$tmp/err\" && \"$bin\" score --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --threads 1 \"$tmp/good\" >/dev/null 2>\"$tmp/err\" && grep -q 'calibrated on tiled images.*calibrate again without --tile' \"$tmp/err\""
ok "calibrate --tile: an image smaller than a tile fails the calibration, model unchanged" "cp \"$tmp/mc.h5\" \"$tmp/mc_keep.h5\" && ! \"$bin\" calibrate --model \"$tmp/mc.h5\" --data \"$tmp/syn.h5\" --threads 1 --tile \"$tmp/good\" \"$tmp/thin64x20.png\" >/dev/null 2>\"$tmp/err\" && grep -q 'thin64x20.png.*smaller than a tile' \"$tmp/err\" && cmp -s \"$tmp/mc.h5\" \"$tmp/mc_keep.h5\""

# --- bad input ---------------------------------------------------------------------------------------
ok "--overlap 8: not a multiple of 16, exit 1, nothing written" "! eval $sc --tile --overlap 8 --maps \"$tmp/e1\" \"$tmp/b60x44.png\" >\"$tmp/o.txt\" 2>\"$tmp/err\" && grep -q 'overlap 8: must be 0 or a positive multiple of 16' \"$tmp/err\" && [ ! -s \"$tmp/o.txt\" ] && [ ! -e \"$tmp/e1\" ]"
ok "--overlap 32: not below the tile size 32" "! eval $sc --tile --overlap 32 \"$tmp/b60x44.png\" >/dev/null 2>\"$tmp/err\" && grep -q 'overlap 32: must be smaller than the tile size 32' \"$tmp/err\""
eval $sc --tile --overlap 16 --maps "$tmp/e2" "$tmp/b60x44.png" "$tmp/thin64x20.png" "$tmp/a96x64.png" >"$tmp/t.txt" 2>"$tmp/t.err"
rc=$?
ok "an image smaller than a tile: error naming it and what to do, exit 1" "[ $rc = 1 ] && grep 'error: ' \"$tmp/t.err\" | grep -q 'thin64x20.png: image of 64 x 20 pixels is smaller than a tile of 32 x 32.*without tiling'"
ok "an image smaller than a tile: the others scored, no map for it" "[ \$(wc -l <\"$tmp/t.txt\") = 2 ] && [ -e \"$tmp/e2/b60x44.png\" ] && [ -e \"$tmp/e2/a96x64.png\" ] && [ ! -e \"$tmp/e2/thin64x20.png\" ]"
ok "usage: --overlap without --tile is exit 2" "eval $sc --overlap 16 \"$tmp/b60x44.png\" >/dev/null 2>\"$tmp/err\"; [ \$? = 2 ] && grep -q 'needs --tile' \"$tmp/err\""
ok "usage: --tile with --full-size is exit 2" "eval $sc --tile --full-size --maps \"$tmp/e3\" \"$tmp/b60x44.png\" >/dev/null 2>\"$tmp/err\"; [ \$? = 2 ] && [ ! -e \"$tmp/e3\" ]"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
