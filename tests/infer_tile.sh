#!/usr/bin/env bash
# sernet infer --tile: a model trained at S = 32 scores a dataset synthesised at 64 x 64 by tiling
# (overlap 16: 3 x 3 tiles, the last ones at the edges), the training tiles taken from the 32 x 32
# dataset the model was trained on (--train-data).
#  - --batch 1 at 1 rank: scores, neighbours and repaired pixels equal `sernet score --tile` on
#    the same test images written as 64 x 64 PNG files (bit-identical scores, threads 1);
#  - the results file is at the dataset's size (image_size 64, /maps [60, 64, 64]) with the
#    tiling in attributes, and `sernet eval` evaluates it against the dataset's 64 x 64 masks;
#  - 1 and 2 ranks give the same rows (checksums) at --batch 4;
#  - an interrupted tiled run (SIGTERM) resumes to the same rows; a complete or interrupted file
#    of another tiling or other training tiles is refused on --resume;
#  - errors: no --train-data while the dataset's own training images are 64 x 64, no --tile (the
#    message suggests it), --overlap not a multiple of 16, images smaller than a tile, usage.
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
values() { h5dump -y -m "${3:-%.9g}" -d "$2" "$1" | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | tr -s ' ,' '\n\n' | grep -v '^$'; }
attr() { h5dump -a "$2" "$1" | awk '/\(0\)/{print $2}' | tr -d '"'; }
mpi() { mpiexec -n "$1" --oversubscribe "${@:2}"; }

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || die "synth 32"
"$bin" synth --out "$tmp/big.h5" --size 64 --set seed=4 >/dev/null 2>"$tmp/err" || die "synth 64"
"$bin" synth --out "$tmp/other.h5" --size 32 --set seed=5 >/dev/null 2>"$tmp/err" || die "synth 32, seed 5"
mkdir -p "$tmp/g16" "$tmp/t16"
"$py" -c "
from PIL import Image
for i in range(3):
    Image.new('RGB', (16, 16), (40 * i, 90, 20)).save('$tmp/g16/%d.png' % i)
    Image.new('RGB', (16, 16), (90, 40 * i, 20)).save('$tmp/t16/%d.png' % i)
" 2>"$tmp/err" || die "16 x 16 images"
"$bin" ingest --good "$tmp/g16" --test-good "$tmp/t16" --category weave --size 16 --out "$tmp/small.h5" \
  >/dev/null 2>"$tmp/err" || die "ingest 16"
"$bin" train --data "$tmp/syn.h5" --category weave --quiet --set image_size=32 --set seg_width=4 \
  --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 \
  --set calib_samples=16 --set seed=3 --set threads=1 --stage all --out "$tmp/m.h5" >/dev/null 2>"$tmp/err" \
  || die "train"
inf="infer --model $tmp/m.h5 --data $tmp/big.h5 --category weave --quiet --set threads=1"

ok "infer --tile --overlap 16 --batch 1 --train-data" "\"$bin\" $inf --tile --overlap 16 --train-data \"$tmp/syn.h5\" --batch 1 --out \"$tmp/r1.h5\" >/dev/null 2>\"$tmp/err\""
ok "results at the dataset's size, tiling in attributes" "[ \"\$(attr \"$tmp/r1.h5\" /image_size)\" = 64 ] && [ \"\$(attr \"$tmp/r1.h5\" /tile)\" = 32 ] && [ \"\$(attr \"$tmp/r1.h5\" /tile_overlap)\" = 16 ] && h5dump -H -d /maps \"$tmp/r1.h5\" | grep -q '( 60, 64, 64 )' && h5dump -H -d /reconstructions \"$tmp/r1.h5\" | grep -q '( 60, 64, 64, 3 )'"

# the same images as PNG files, scored by sernet score --tile
h5dump -d /weave/test/images -b LE -o "$tmp/t64.bin" "$tmp/big.h5" >/dev/null 2>"$tmp/err" || die "h5dump"
"$py" - "$tmp" <<'EOF' 2>"$tmp/err" || die "writing PNG files"
import os, sys
from PIL import Image
tmp = sys.argv[1]
b = open(os.path.join(tmp, "t64.bin"), "rb").read()
S = 64
os.makedirs(os.path.join(tmp, "png"))
for i in range(len(b) // (S * S * 3)):
    Image.frombytes("RGB", (S, S), b[i * S * S * 3:(i + 1) * S * S * 3]).save(os.path.join(tmp, "png", "%03d.png" % i))
EOF
ok "score --tile on the PNG files" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --threads 1 --tile --overlap 16 \"$tmp/png\" >\"$tmp/s.txt\" 2>\"$tmp/err\""
ok "60 scores, equal to infer --tile's" "[ \$(wc -l <\"$tmp/s.txt\") = 60 ] && diff <(cut -f2 \"$tmp/s.txt\") <(values \"$tmp/r1.h5\" /scores) >\"$tmp/err\""
ok "repaired pixels equal" "diff <(cut -f5 \"$tmp/s.txt\") <(values \"$tmp/r1.h5\" /repaired_pixels %d) >\"$tmp/err\""
# synth names training image i train/good/<i, 3 digits>
ok "neighbours (the top tile's) and distances equal" "diff <(cut -f3,4 \"$tmp/s.txt\" | awk -F'\t' '{sub(\"train/good/\", \"\", \$1); print \$1 + 0 \"\t\" \$2}') <(paste <(values \"$tmp/r1.h5\" /neighbor %d) <(values \"$tmp/r1.h5\" /neighbor_distance %d)) >\"$tmp/err\""
ok "sernet eval on the tiled results (64 x 64 masks)" "\"$bin\" eval --results \"$tmp/r1.h5\" --data \"$tmp/big.h5\" --no-write-results >\"$tmp/ev.txt\" 2>\"$tmp/err\" && grep -q 'pixel AUROC' \"$tmp/ev.txt\""

# a second map for the image score (score_msgms_scales / score_box_size) is refused with tiles,
# by infer --tile and by score --tile (the inspection API), naming the keys
"$bin" $inf --tile --overlap 16 --train-data "$tmp/syn.h5" --set score_msgms_scales=1 --out "$tmp/sc.h5" >/dev/null 2>"$tmp/err"
ok "infer --tile with score_msgms_scales=1: exit 1 naming it, no file" "[ \$? = 1 ] && grep -q 'score_msgms_scales' \"$tmp/err\" && [ ! -e \"$tmp/sc.h5\" ]"
"$bin" score --model "$tmp/m.h5" --data "$tmp/syn.h5" --threads 1 --tile --overlap 16 --set score_box_size=11 "$tmp/png" >/dev/null 2>"$tmp/err"
ok "score --tile with score_box_size=11: exit 1 naming it" "[ \$? = 1 ] && grep -q 'score_box_size' \"$tmp/err\""

# ranks: same rows at a fixed --batch
ok "--batch 4 at 1 rank" "mpi 1 \"$bin\" $inf --tile --overlap 16 --train-data \"$tmp/syn.h5\" --batch 4 --out \"$tmp/a1.h5\" >/dev/null 2>\"$tmp/err\""
ok "--batch 4 at 2 ranks" "mpi 2 \"$bin\" $inf --tile --overlap 16 --train-data \"$tmp/syn.h5\" --batch 4 --out \"$tmp/a2.h5\" >/dev/null 2>\"$tmp/err\""
ok "1 and 2 ranks: identical rows (checksums)" "diff <(values \"$tmp/a1.h5\" /checksums %llu) <(values \"$tmp/a2.h5\" /checksums %llu) >\"$tmp/err\" && [ \$(values \"$tmp/a1.h5\" /checksums %llu | wc -l) = 60 ]"
ok "--batch 4 close to --batch 1" "paste <(values \"$tmp/a1.h5\" /scores) <(values \"$tmp/r1.h5\" /scores) | awk '{d = \$1 - \$2; if (d * d > 1e-8 * \$2 * \$2 + 1e-12) bad = 1} END {exit bad || NR != 60}'"

# resume: another tiling is refused
ok "--resume with another overlap: refused, names both" "! \"$bin\" $inf --tile --overlap 0 --train-data \"$tmp/syn.h5\" --batch 1 --out \"$tmp/r1.h5\" --resume >/dev/null 2>\"$tmp/err\" && grep -q 'made with --tile --overlap 16, this run asks for --tile --overlap 0' \"$tmp/err\""
cp "$tmp/r1.h5" "$tmp/r1_copy.h5"
ok "--resume with the same tiling: complete already, file untouched" "\"$bin\" $inf --tile --overlap 16 --train-data \"$tmp/syn.h5\" --batch 1 --out \"$tmp/r1.h5\" --resume >/dev/null 2>\"$tmp/err\" && cmp -s \"$tmp/r1.h5\" \"$tmp/r1_copy.h5\""

# an interrupted tiled run (SIGTERM at 2 ranks: the round finishes, rows kept) resumed at 1 rank
SERNET_INFER_DELAY_MS=400 mpiexec -n 2 --oversubscribe "$bin" infer --model "$tmp/m.h5" --data "$tmp/big.h5" \
  --category weave --set threads=1 --tile --overlap 16 --train-data "$tmp/syn.h5" --batch 4 --out "$tmp/k.h5" \
  >"$tmp/klog" 2>"$tmp/kerr" &
mpipid=$!
# wait up to 120 s for the first rows (sanitizers on a loaded machine are slow); the 400 ms per
# round leaves the kill several seconds before the last round even when this loop is starved
for i in $(seq 2400); do grep -q 'infer: [1-9][0-9]*/60 rows done' "$tmp/klog" 2>/dev/null && break; sleep 0.05; done
kill -TERM $mpipid 2>/dev/null
wait $mpipid 2>/dev/null
ok "SIGTERM: stopped with rows kept in the .tmp" "[ ! -e \"$tmp/k.h5\" ] && [ -e \"$tmp/k.h5.tmp\" ] && grep -q 'resume' \"$tmp/klog\" || { tail -n 4 \"$tmp/klog\" \"$tmp/kerr\"; false; }"
ok "--resume with other training tiles: refused, names the fingerprints" "! \"$bin\" $inf --tile --overlap 16 --train-data \"$tmp/other.h5\" --batch 4 --out \"$tmp/k.h5\" --resume >/dev/null 2>\"$tmp/err\" && grep -q 'other training tiles' \"$tmp/err\" && [ -e \"$tmp/k.h5.tmp\" ]"
ok "--resume: the resumed file equals the uninterrupted run (checksums)" "\"$bin\" $inf --tile --overlap 16 --train-data \"$tmp/syn.h5\" --batch 4 --out \"$tmp/k.h5\" --resume >/dev/null 2>\"$tmp/err\" && diff <(values \"$tmp/a1.h5\" /checksums %llu) <(values \"$tmp/k.h5\" /checksums %llu) >\"$tmp/err\""

# errors
ok "no --train-data: the dataset's own 64 x 64 training images cannot be tiles" "! \"$bin\" $inf --tile --out \"$tmp/e1.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'training images.*64 x 64.*--train-data' \"$tmp/err\" && [ ! -e \"$tmp/e1.h5\" ] && [ ! -e \"$tmp/e1.h5.tmp\" ]"
ok "no --tile: the size mismatch suggests --tile" "! \"$bin\" $inf --out \"$tmp/e2.h5\" >/dev/null 2>\"$tmp/err\" && grep -q '32 x 32.*64 x 64.*--tile' \"$tmp/err\" && [ ! -e \"$tmp/e2.h5.tmp\" ]"
ok "--overlap 8: a multiple of 16 is needed" "! \"$bin\" $inf --tile --overlap 8 --train-data \"$tmp/syn.h5\" --out \"$tmp/e3.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'big.h5.*overlap 8: must be 0 or a positive multiple of 16' \"$tmp/err\" && [ ! -e \"$tmp/e3.h5.tmp\" ]"
ok "--overlap 32: below the tile size" "! \"$bin\" $inf --tile --overlap 32 --train-data \"$tmp/syn.h5\" --out \"$tmp/e4.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'overlap 32: must be smaller than the tile size 32' \"$tmp/err\""
ok "16 x 16 images: smaller than a tile" "! \"$bin\" infer --model \"$tmp/m.h5\" --data \"$tmp/small.h5\" --category weave --quiet --tile --train-data \"$tmp/syn.h5\" --out \"$tmp/e5.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'small.h5.*16 x 16 pixels is smaller than a tile of 32 x 32' \"$tmp/err\" && [ ! -e \"$tmp/e5.h5.tmp\" ]"
ok "usage: --overlap without --tile is exit 2" "\"$bin\" $inf --overlap 16 --out \"$tmp/e6.h5\" >/dev/null 2>\"$tmp/err\"; [ \$? = 2 ] && grep -q 'need --tile' \"$tmp/err\""
ok "usage: --train-data without --tile is exit 2" "\"$bin\" $inf --train-data \"$tmp/syn.h5\" --out \"$tmp/e7.h5\" >/dev/null 2>\"$tmp/err\"; [ \$? = 2 ]"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
