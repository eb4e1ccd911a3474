#!/usr/bin/env bash
# sernet ingest from plain folders (--good, --test-good, --defect, --masks): the same image files
# laid out in MVTec AD folders and in plain folders (masks matched by stem, flat or per type, named
# <stem>.png or <stem>_mask.png) give the same dataset, at 1 and 2 ranks; the errors: defective
# images without masks (listed), a mask of another size, a mask shared by two types, an empty
# folder, a type called 'good', and the option combinations that make no sense.
set -u
bin=${SERNET_BIN:?}
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
command -v h5diff >/dev/null || { echo "skipped: h5diff not installed"; exit 77; }
"$py" -c "import PIL" 2>/dev/null || { echo "skipped: no Pillow in $py"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
mpi() { mpiexec -n "$1" --oversubscribe "${@:2}"; }

# 7 good training images, 3 good test images, types 'hole' (3) and 'scratch' (2) with masks;
# scratch/000.png shares its stem with hole/000.png.
"$py" - "$tmp" <<'EOF' 2>"$tmp/err" || { echo "FAIL: writing images"; cat "$tmp/err"; exit 1; }
import os, random, sys
from PIL import Image
t = sys.argv[1]
rng = random.Random(5)
def img(path, w=40, h=36):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.frombytes("RGB", (w, h), bytes(rng.randrange(256) for _ in range(w * h * 3))).save(path)
def mask(path, w=40, h=36):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    m = Image.new("L", (w, h), 0)
    x, y = rng.randrange(w - 12), rng.randrange(h - 12)
    m.paste(255, (x, y, x + 12, y + 12))
    m.save(path)
mv = t + "/mvtec/parts"
for i in range(7):
    img(f"{mv}/train/good/{i:03d}.png")
for i in range(3):
    img(f"{mv}/test/good/{i:03d}.png")
for typ, n in (("hole", 3), ("scratch", 2)):
    for i in range(n):
        img(f"{mv}/test/{typ}/{i:03d}.png")
        mask(f"{mv}/ground_truth/{typ}/{i:03d}_mask.png")
EOF
mv=$tmp/mvtec/parts
# plain folders: links to the same files; masks per type, some named <stem>.png
mkdir -p "$tmp/f/good" "$tmp/f/test_good" "$tmp/f/defect/hole" "$tmp/f/defect/scratch" "$tmp/f/masks/hole" "$tmp/f/masks/scratch"
cp "$mv"/train/good/* "$tmp/f/good/"
cp "$mv"/test/good/* "$tmp/f/test_good/"
cp "$mv"/test/hole/* "$tmp/f/defect/hole/"
cp "$mv"/test/scratch/* "$tmp/f/defect/scratch/"
cp "$mv"/ground_truth/hole/000_mask.png "$tmp/f/masks/hole/000.png"
cp "$mv"/ground_truth/hole/00[12]_mask.png "$tmp/f/masks/hole/"
cp "$mv"/ground_truth/scratch/* "$tmp/f/masks/scratch/"

ok "MVTec layout ingests" "\"$bin\" ingest --root \"$tmp/mvtec\" --category parts --size 32 --out \"$tmp/a.h5\" >/dev/null 2>\"$tmp/err\""
for np in 1 2; do
  ok "np $np: plain folders ingest" "mpi $np \"$bin\" ingest --good \"$tmp/f/good\" --test-good \"$tmp/f/test_good\" --defect \"$tmp/f/defect\" --masks \"$tmp/f/masks\" --category parts --size 32 --out \"$tmp/b$np.h5\" >\"$tmp/log\" 2>\"$tmp/err\""
  ok "np $np: the same images, masks, labels, types and names as the MVTec layout" "h5diff --exclude-attribute /parts \"$tmp/a.h5\" \"$tmp/b$np.h5\" /parts /parts >\"$tmp/err\" 2>&1"
done
ok "summary line counts" "grep -q 'parts: 7 train, 8 test (5 defective, 5 with masks, 2 defect types)' \"$tmp/log\""
"$bin" info "$tmp/b1.h5" >"$tmp/info" 2>"$tmp/err"
ok "info lists the types" "grep -q 'defect types: good (3) hole (3) scratch (2)' \"$tmp/info\""

# flat defect folder, flat masks with unique stems, no test-good: type 'defect'
mkdir -p "$tmp/g/defect" "$tmp/g/masks"
cp "$mv"/test/hole/001.png "$tmp/g/defect/a.png"; cp "$mv"/ground_truth/hole/001_mask.png "$tmp/g/masks/a_mask.png"
cp "$mv"/test/hole/002.png "$tmp/g/defect/b.png"; cp "$mv"/ground_truth/hole/002_mask.png "$tmp/g/masks/b.png"
ok "flat defect and mask folders" "\"$bin\" ingest --good \"$tmp/f/good\" --defect \"$tmp/g/defect\" --masks \"$tmp/g/masks\" --category flat --size 32 --out \"$tmp/c.h5\" >\"$tmp/log\" 2>\"$tmp/err\" && grep -q '7 train, 2 test (2 defective, 2 with masks, 1 defect types)' \"$tmp/log\""
"$bin" info "$tmp/c.h5" >"$tmp/info" 2>"$tmp/err"
ok "the folder's own files are of type 'defect'" "grep -q 'defect types: good (0) defect (2)' \"$tmp/info\""
# mask rows: h5dump of rows [first, first + 2) without the header
rows() { h5dump -y -d "$2" -s "$3,0,0" -c "2,32,32" "$1" | sed -n '/DATA {/,/^ *}/p'; }
ok "flat masks match by stem (a_mask.png and b.png): the masks of hole/001 and hole/002" "[ \"\$(rows \"$tmp/a.h5\" /parts/test/masks 4)\" = \"\$(rows \"$tmp/c.h5\" /flat/test/masks 0)\" ] && [ \"\$(rows \"$tmp/a.h5\" /parts/test/masks 3)\" != \"\$(rows \"$tmp/c.h5\" /flat/test/masks 0)\" ]"
ok "without --masks: no masks, still labelled defective" "\"$bin\" ingest --good \"$tmp/f/good\" --defect \"$tmp/g/defect\" --category flat --size 32 --out \"$tmp/d.h5\" >\"$tmp/log\" 2>\"$tmp/err\" && grep -q '2 test (2 defective, 0 with masks' \"$tmp/log\""

# errors: nothing written, message names the folder/file and the rule
rm "$tmp/f/masks/scratch/001_mask.png" "$tmp/f/masks/hole/000.png"
"$bin" ingest --good "$tmp/f/good" --defect "$tmp/f/defect" --masks "$tmp/f/masks" --category parts --size 32 --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "missing masks: exit 1, every image without a mask listed, nothing written" "[ \$? = 1 ] && grep -q '2 of 5 defective images have no mask' \"$tmp/err\" && grep -q 'defect/hole/000.png' \"$tmp/err\" && grep -q 'defect/scratch/001.png' \"$tmp/err\" && [ ! -e \"$tmp/e.h5\" ] && ! ls \"$tmp\" | grep -q 'e.h5.'"
cp "$mv"/ground_truth/scratch/001_mask.png "$tmp/f/masks/scratch/"
mkdir -p "$tmp/h"; cp "$mv"/ground_truth/hole/001_mask.png "$tmp/h/000.png"
"$py" -c "from PIL import Image; Image.new('L', (20, 20), 255).save('$tmp/f/masks/hole/000.png')"
"$bin" ingest --good "$tmp/f/good" --defect "$tmp/f/defect" --masks "$tmp/f/masks" --category parts --size 32 --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "mask of another size: exit 1 naming mask, image and both sizes" "[ \$? = 1 ] && grep -q 'masks/hole/000.png: mask is 20x20 but its image .*defect/hole/000.png is 40x36' \"$tmp/err\" && [ ! -e \"$tmp/e.h5\" ]"
rm -rf "$tmp/s"; mkdir -p "$tmp/s/defect/hole" "$tmp/s/defect/scratch" "$tmp/s/masks"
cp "$mv"/test/hole/000.png "$tmp/s/defect/hole/"; cp "$mv"/test/scratch/000.png "$tmp/s/defect/scratch/"; cp "$mv"/ground_truth/hole/000_mask.png "$tmp/s/masks/"
"$bin" ingest --good "$tmp/f/good" --defect "$tmp/s/defect" --masks "$tmp/s/masks" --category parts --size 32 --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "one flat mask for two types' images: refused" "[ \$? = 1 ] && grep -q 'is the mask of both' \"$tmp/err\" && grep -q 'one subfolder per type' \"$tmp/err\""
mkdir -p "$tmp/empty"
"$bin" ingest --good "$tmp/empty" --category parts --size 32 --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "empty --good folder: exit 1 naming it" "[ \$? = 1 ] && grep -q -- \"--good $tmp/empty: no images\" \"$tmp/err\""
"$bin" ingest --good "$tmp/f/good" --defect "$tmp/empty" --category parts --size 32 --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "empty --defect folder: exit 1 naming it" "[ \$? = 1 ] && grep -q -- \"--defect $tmp/empty: no images\" \"$tmp/err\""
mkdir -p "$tmp/gd/good"; cp "$mv"/test/hole/000.png "$tmp/gd/good/"
"$bin" ingest --good "$tmp/f/good" --defect "$tmp/gd" --category parts --size 32 --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "a defect type called 'good': refused" "[ \$? = 1 ] && grep -q \"may not be called 'good'\" \"$tmp/err\""
"$bin" ingest --root "$tmp/mvtec" --good "$tmp/f/good" --category parts --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "--root with --good: usage error (exit 2)" "[ \$? = 2 ] && grep -q 'give one' \"$tmp/err\""
"$bin" ingest --good "$tmp/f/good" --masks "$tmp/f/masks" --category parts --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "--masks without --defect: usage error" "[ \$? = 2 ] && grep -q -- '--masks needs --defect' \"$tmp/err\""
"$bin" ingest --defect "$tmp/f/defect" --category parts --out "$tmp/e.h5" >/dev/null 2>"$tmp/err"
ok "--defect without --good: usage error" "[ \$? = 2 ] && grep -q -- '--good is required' \"$tmp/err\""
ok "no file left behind by the refused runs" "[ ! -e \"$tmp/e.h5\" ] && ! ls \"$tmp\" | grep -q '^e.h5'"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
