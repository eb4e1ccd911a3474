#!/usr/bin/env bash
# sernet score on ad-hoc image files: test images of the synthetic set are written out as PNG,
# grey PNG, RGBA PNG, JPEG and BMP files at OTHER sizes (48x48, 40x56, 64x24), ingested into a
# dataset with `sernet ingest` and scored by `sernet infer --batch 1`; `sernet score` on the same
# files must print exactly the same scores, repaired pixel counts and neighbours (threads 1 on
# both sides). Also: --jobs (concurrent images, same output), the maps it writes, the API example program, undecodable and missing files
# (error naming the file, the others still scored, exit 1), a model/dataset size mismatch, usage.
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
# one value per line of a whole dataset
values() { h5dump -y -m "${3:-%.9g}" -d "$2" "$1" | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | tr -s ' ,' '\n\n' | grep -v '^$'; }

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || die "synth"
"$bin" train --data "$tmp/syn.h5" --category weave --quiet --set image_size=32 --set seg_width=4 \
  --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 \
  --set calib_samples=16 --set seed=3 --set threads=1 --stage all --out "$tmp/m.h5" >/dev/null 2>"$tmp/err" \
  || die "train"

# --- image files of other sizes and kinds from the synthetic set's pixels ---------------------------
h5dump -d /weave/train/images -b LE -o "$tmp/train.bin" "$tmp/syn.h5" >/dev/null 2>"$tmp/err" || die "h5dump train"
h5dump -d /weave/test/images -b LE -o "$tmp/test.bin" "$tmp/syn.h5" >/dev/null 2>"$tmp/err" || die "h5dump test"
root=$tmp/tree
"$py" - "$tmp" "$root/weave" <<'EOF' 2>"$tmp/err" || die "writing image files"
import os, sys
from PIL import Image
tmp, cat = sys.argv[1], sys.argv[2]
S = 32
def images(name):
    b = open(os.path.join(tmp, name), "rb").read()
    n = len(b) // (S * S * 3)
    return [Image.frombytes("RGB", (S, S), b[i * S * S * 3:(i + 1) * S * S * 3]) for i in range(n)]
train, test = images("train.bin"), images("test.bin")
os.makedirs(cat + "/train/good"); os.makedirs(cat + "/test/good")
for i in range(16):
    train[i * 7].resize((48, 48), Image.BILINEAR).save("%s/train/good/%03d.png" % (cat, i))
# test/good: one file per kind, the defective test images of the set among them
picks = [0, 10, 25, 41, 47, 52, 55, 58, 59]
kinds = [("a_rgb48.png", (48, 48), "RGB", "PNG"), ("b_grey40x56.png", (40, 56), "L", "PNG"),
         ("c_rgba64x24.png", (64, 24), "RGBA", "PNG"), ("d_q90.jpg", (48, 48), "RGB", "JPEG"),
         ("e_grey.jpeg", (40, 56), "L", "JPEG"), ("f_rgb.bmp", (48, 48), "RGB", "BMP"),
         ("g_rgb32.png", (32, 32), "RGB", "PNG"), ("h_q75.JPG", (56, 40), "RGB", "JPEG"),
         ("i_up96.png", (96, 96), "RGB", "PNG")]
for k, (name, size, mode, fmt) in zip(picks, kinds):
    im = test[k].resize(size, Image.BILINEAR).convert(mode)
    if mode == "RGBA":
        im.putalpha(Image.linear_gradient("L").resize(size))
    kw = {"quality": 75 if "q75" in name else 90} if fmt == "JPEG" else {}
    im.save("%s/test/good/%s" % (cat, name), fmt, **kw)
EOF
"$bin" ingest --root "$root" --category weave --size 32 --out "$tmp/d.h5" >/dev/null 2>"$tmp/err" || die "ingest"
"$bin" infer --model "$tmp/m.h5" --data "$tmp/d.h5" --out "$tmp/r.h5" --batch 1 --quiet \
  --set threads=1 >/dev/null 2>"$tmp/err" || die "infer"

# --- score equals infer on the ingested files ---------------------------------------------------------
ok "score a folder" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --threads 1 \"$root/weave/test/good\" >\"$tmp/s.txt\" 2>\"$tmp/err\""
values "$tmp/r.h5" /scores >"$tmp/want_scores"
values "$tmp/r.h5" /repaired_pixels "%d" >"$tmp/want_rep"
values "$tmp/r.h5" /neighbor "%d" >"$tmp/want_nbr"
ls "$root/weave/train/good" | LC_ALL=C sort | sed 's|^|train/good/|' >"$tmp/train_names"
awk -F'\t' 'NR==FNR{idx[$0]=NR-1; next} {print idx[$3]}' "$tmp/train_names" "$tmp/s.txt" >"$tmp/got_nbr"
n=$(wc -l <"$tmp/want_scores")
ok "9 files ingested and 9 lines printed" "[ \"$n\" = 9 ] && [ \$(wc -l <\"$tmp/s.txt\") = 9 ]"
ok "lines in the dataset's order (byte order of names)" "diff <(cut -f1 \"$tmp/s.txt\" | xargs -n1 basename) <(ls \"$root/weave/test/good\" | LC_ALL=C sort) >\"$tmp/err\""
ok "scores equal infer's (PNG, grey, RGBA, JPEG, BMP; other sizes)" "diff <(cut -f2 \"$tmp/s.txt\") \"$tmp/want_scores\" >\"$tmp/err\""
ok "repaired pixels equal infer's" "diff <(cut -f5 \"$tmp/s.txt\") \"$tmp/want_rep\" >\"$tmp/err\""
ok "neighbours equal infer's" "diff \"$tmp/got_nbr\" \"$tmp/want_nbr\" >\"$tmp/err\""
ok "the repair module was exercised" "awk -F'\t' '\$5 > 0 {r=1} END {exit !r}' \"$tmp/s.txt\""
ok "a repair over more than half of the images is warned on stderr (tau 0), none at tau 1" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --threads 1 --set repair_threshold=0 \"$root/weave/test/good\" >/dev/null 2>\"$tmp/err\" && grep -q 'warning: the repair replaced more than half of 9 of 9 scored images.*repair_threshold=1' \"$tmp/err\" && \"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --threads 1 --set repair_threshold=1 \"$root/weave/test/good\" >/dev/null 2>\"$tmp/err\" && ! grep -q 'more than half' \"$tmp/err\""
# files given one by one, in another order, with the default thread count of the configuration
ok "files one by one: the same line per file" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --set threads=1 \"$root/weave/test/good/d_q90.jpg\" \"$root/weave/test/good/b_grey40x56.png\" >\"$tmp/s2.txt\" 2>\"$tmp/err\" && grep -F -x -f \"$tmp/s2.txt\" \"$tmp/s.txt\" | wc -l | grep -qx 2"

# several images at once (threads sharing one inspector): the same lines, in the input order
ok "--jobs 3: the same lines in the same order" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --threads 1 --jobs 3 \"$root/weave/test/good\" \"$root/weave/test/good\" >\"$tmp/s4.txt\" 2>\"$tmp/err\" && diff <(cat \"$tmp/s.txt\" \"$tmp/s.txt\") \"$tmp/s4.txt\" >\"$tmp/err\""

# --- maps ------------------------------------------------------------------------------------------
mp=$tmp/maps
ok "maps: grey S x S PNGs" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --threads 1 --maps \"$mp\" --map-max 2 \"$root/weave/test/good\" >\"$tmp/s3.txt\" 2>\"$tmp/err\""
ok "maps: 6th column names each written file" "[ \$(cut -f6 \"$tmp/s3.txt\" | xargs ls 2>/dev/null | wc -l) = 9 ]"
ok "maps: the first 5 columns unchanged" "diff <(cut -f1-5 \"$tmp/s3.txt\") \"$tmp/s.txt\" >\"$tmp/err\""
"$py" - "$tmp/s3.txt" >"$tmp/maps_check" 2>"$tmp/err" <<'EOF'
import sys
from PIL import Image
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    im = Image.open(f[5])
    # the brightest pixel is the score: grey = round(255 * min(score / 2, 1))
    want = round(255 * min(float(f[1]) / 2, 1))
    print(im.size == (32, 32) and im.mode == "L" and abs(max(im.getdata()) - want) <= 1)
EOF
ok "maps: 32x32 grey, brightest pixel = 255 * score / map-max" "[ \$(grep -c True \"$tmp/maps_check\") = 9 ]"
ok "maps: --heat --full-size: RGB at each input's size" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --threads 1 --maps \"$tmp/heat\" --heat --full-size \"$root/weave/test/good/b_grey40x56.png\" \"$root/weave/test/good/i_up96.png\" >/dev/null 2>\"$tmp/err\" && $py -c \"from PIL import Image; a=Image.open('$tmp/heat/b_grey40x56.png'); b=Image.open('$tmp/heat/i_up96.png'); assert a.size==(40,56) and b.size==(96,96) and a.mode=='RGB'\" 2>\"$tmp/err\""

# --- the API example program ----------------------------------------------------------------------
ex=${SERNET_BUILD_DIR:-$(dirname "$bin")}/inspect_example
if [ -x "$ex" ]; then
  f=$root/weave/test/good/a_rgb48.png
  ok "example program: same score as sernet score" "\"$ex\" \"$tmp/m.h5\" \"$tmp/d.h5\" \"$f\" >\"$tmp/ex.txt\" 2>\"$tmp/err\" && [ \"\$(head -1 \"$tmp/ex.txt\" | cut -f2)\" = \"score \$(grep -F \"$f\" \"$tmp/s.txt\" | cut -f2)\" ] && grep -q 'from memory' \"$tmp/ex.txt\""
else
  ok "example program built ($ex)" "false"
fi

printf 'not an image' >"$tmp/broken.png"
# --- decision thresholds: sernet calibrate, verdicts, --json, --fail-on-defect ---------------------
m=$tmp/m.h5
sc="\"$bin\" score --model \"$m\" --data \"$tmp/d.h5\" --threads 1"
ok "no thresholds: a warning says how to set them" "eval $sc \"$root/weave/test/good\" >/dev/null 2>\"$tmp/err\" && grep -q 'no decision thresholds.*sernet calibrate' \"$tmp/err\""
ok "no thresholds: --fail-on-defect is an error (exit 1), raw scores still printed" "eval $sc --fail-on-defect \"$root/weave/test/good\" >\"$tmp/nt.txt\" 2>\"$tmp/err\"; [ \$? = 1 ] && grep -q 'needs thresholds' \"$tmp/err\""
cp "$m" "$tmp/m_before.h5"
ok "calibrate on 16 good images at --fpr 0.25" "\"$bin\" calibrate --model \"$m\" --data \"$tmp/d.h5\" --threads 1 --fpr 0.25 \"$root/weave/train/good\" >\"$tmp/cal.txt\" 2>\"$tmp/err\" && grep -q 'image threshold' \"$tmp/cal.txt\" && [ ! -e \"$m.tmp\" ]"
eval $sc "$root/weave/train/good" >"$tmp/good.txt" 2>/dev/null
want=$(cut -f2 "$tmp/good.txt" | sort -g -r | sed -n 5p)   # floor(0.25 * 16) + 1 = 5th largest
got=$(h5dump -a /thresholds/image -m %.9g "$m" | awk '/\(0\)/{print $2}')
ok "image threshold = the 5th largest of the 16 good scores ($got vs $want)" "awk -v a=$got -v b=$want 'BEGIN{exit !(a == b || (a - b)^2 < 1e-14 * b * b)}'"
ok "the model still infers the same scores after the rewrite" "\"$bin\" infer --model \"$m\" --data \"$tmp/d.h5\" --out \"$tmp/r2.h5\" --batch 1 --quiet --set threads=1 >/dev/null 2>\"$tmp/err\" && diff <(values \"$tmp/r.h5\" /scores) <(values \"$tmp/r2.h5\" /scores) >\"$tmp/err\""
ok "score with thresholds: columns 1-5 unchanged, then normalised score and verdict" "eval $sc \"$root/weave/test/good\" >\"$tmp/v.txt\" 2>\"$tmp/err\" && diff <(cut -f1-5 \"$tmp/v.txt\") \"$tmp/s.txt\" >\"$tmp/err\" && awk -F'\t' -v t=$got '{n = \$2 / t; if ((\$6 - n)^2 > 1e-10 * n * n + 1e-20 || \$7 != (n > 1 ? \"defect\" : \"good\")) bad = 1} END {exit bad || NR != 9}' \"$tmp/v.txt\""
ok "score with thresholds: both verdicts occur on this set" "cut -f7 \"$tmp/v.txt\" | grep -qx defect && cut -f7 \"$tmp/v.txt\" | grep -qx good"
ok "infer with thresholds: /verdicts and /normalized_scores equal score's columns" "\"$bin\" infer --model \"$m\" --data \"$tmp/d.h5\" --out \"$tmp/r3.h5\" --batch 1 --set threads=1 >\"$tmp/i3.txt\" 2>\"$tmp/err\" && grep -q 'judged defect at image threshold' \"$tmp/i3.txt\" && diff <(values \"$tmp/r3.h5\" /verdicts %d) <(cut -f7 \"$tmp/v.txt\" | sed 's/defect/1/; s/good/0/') >\"$tmp/err\" && paste <(values \"$tmp/r3.h5\" /normalized_scores) <(cut -f6 \"$tmp/v.txt\") | awk '{d = \$1 - \$2; if (d * d > 1e-10 * \$2 * \$2) bad = 1} END {exit bad || NR != 9}' && [ \"\$(h5dump -a /defects \"$tmp/r3.h5\" | awk '/\\(0\\)/{print \$2}')\" = \"\$(grep -c defect \"$tmp/v.txt\")\" ]"
ok "score --fail-on-defect: exit 3 when an image is a defect" "eval $sc --fail-on-defect \"$root/weave/test/good\" >/dev/null 2>&1; [ \$? = 3 ]"
ok "score --json: one object per image, same verdicts, defect masks beside the maps" "eval $sc --json --maps \"$tmp/jm\" \"$root/weave/test/good\" >\"$tmp/j.txt\" 2>\"$tmp/err\" && $py - \"$tmp/j.txt\" \"$tmp/v.txt\" <<'PY' 2>\"$tmp/err\"
import json, sys
from PIL import Image
tsv = [l.rstrip('\\n').split('\\t') for l in open(sys.argv[2])]
js = [json.loads(l) for l in open(sys.argv[1])]
assert len(js) == len(tsv) == 9
for j, t in zip(js, tsv):
    assert j['path'] == t[0] and j['verdict'] == t[6] and abs(j['score'] - float(t[1])) <= 1e-6 * float(t[1])
    d = Image.open(j['map'][:-4] + '_defect.png')
    assert set(d.getdata()) <= {0, 255} and sum(1 for v in d.getdata() if v) == j['defect_pixels']
PY"
ok "calibrate --threshold: given numbers; a huge one makes every image good (exit 0)" "\"$bin\" calibrate --model \"$m\" --threshold 1e9 --pixel-threshold 1e9 >/dev/null 2>\"$tmp/err\" && eval $sc --fail-on-defect \"$root/weave/test/good\" >\"$tmp/g.txt\" 2>/dev/null && ! grep -q defect \"$tmp/g.txt\""
ok "calibrate: usage errors are exit 2" "\"$bin\" calibrate --model \"$m\" --threshold 1 x.png >/dev/null 2>&1; a=\$?; \"$bin\" calibrate --model \"$m\" --threshold -1 >/dev/null 2>&1; b=\$?; \"$bin\" calibrate --model \"$m\" >/dev/null 2>&1; [ \$a\$b\$? = 222 ]"
ok "calibrate: a file that is not a model is refused, nothing written" "! \"$bin\" calibrate --model \"$tmp/d.h5\" --threshold 1 >/dev/null 2>\"$tmp/err\" && grep -q 'd.h5.*not a sernet model' \"$tmp/err\" && [ ! -e \"$tmp/d.h5.tmp\" ]"
ok "calibrate: an unreadable good image fails the calibration, model unchanged" "cp \"$m\" \"$tmp/m_keep.h5\" && ! \"$bin\" calibrate --model \"$m\" --data \"$tmp/d.h5\" --threads 1 \"$root/weave/train/good\" \"$tmp/broken.png\" >/dev/null 2>\"$tmp/err\" && grep -q broken.png \"$tmp/err\" && cmp -s \"$m\" \"$tmp/m_keep.h5\""
cp "$tmp/m_before.h5" "$m"

# --- bad input --------------------------------------------------------------------------------------
printf 'not an image' >"$tmp/broken.png"
head -c 300 "$root/weave/test/good/d_q90.jpg" >"$tmp/truncated.jpg"
"$bin" score --model "$tmp/m.h5" --data "$tmp/d.h5" --threads 1 "$root/weave/test/good/a_rgb48.png" \
  "$tmp/broken.png" "$tmp/nothere.png" "$tmp/truncated.jpg" "$root/weave/test/good/g_rgb32.png" \
  >"$tmp/b.txt" 2>"$tmp/b.err"
rc=$?
ok "undecodable files: exit status 1" "[ $rc = 1 ]"
ok "undecodable files: the good images still scored" "[ \$(wc -l <\"$tmp/b.txt\") = 2 ] && grep -q a_rgb48 \"$tmp/b.txt\" && grep -q g_rgb32 \"$tmp/b.txt\""
ok "undecodable files: one error line naming each bad file" "[ \$(grep -c 'error: ' \"$tmp/b.err\") = 3 ] && grep 'error: ' \"$tmp/b.err\" | grep -q broken.png && grep 'error: ' \"$tmp/b.err\" | grep -q nothere.png && grep 'error: ' \"$tmp/b.err\" | grep -q truncated.jpg"
mkdir "$tmp/empty"
ok "a folder without images: error, exit 1" "! \"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" \"$tmp/empty\" >/dev/null 2>\"$tmp/err\" && grep -q 'empty.*no image files' \"$tmp/err\""
"$bin" synth --out "$tmp/syn48.h5" --size 48 --set seed=3 >/dev/null 2>&1
ok "model/dataset image size mismatch: clear error" "! \"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/syn48.h5\" \"$root/weave/test/good\" >/dev/null 2>\"$tmp/err\" && grep -q '32 x 32.*48 x 48' \"$tmp/err\""
ok "unknown category: names it and the file's categories" "! \"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/syn.h5\" --category nope \"$root/weave/test/good\" >/dev/null 2>\"$tmp/err\" && grep -q \"no category 'nope'.*weave,flange\" \"$tmp/err\""
ok "usage: no image is exit 2" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" >/dev/null 2>&1; [ \$? = 2 ]"
ok "usage: --heat without --maps is exit 2" "\"$bin\" score --model \"$tmp/m.h5\" --data \"$tmp/d.h5\" --heat x.png >/dev/null 2>&1; [ \$? = 2 ]"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
