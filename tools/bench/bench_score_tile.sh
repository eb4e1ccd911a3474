#!/usr/bin/env bash
# Cost of tiling (`sernet score --tile`) at S = 256, default architecture (seg_width 32,
# rec_width 64): a 1024 x 1024 image made of 4 x 4 synthetic test images is scored
#   (a) as its 16 tiles cut out as 256 x 256 files, scored one by one (no tiling),
#   (b) with --tile --overlap 0 (the same 16 tiles, stitched),
#   (c) with --tile at the default overlap 64 (5 x 5 = 25 tiles),
#   (d) as (b) with --jobs 2 (two tiles at once, one thread each),
# all with --threads 1, and prints score's summary lines (wall and process CPU time per image).
# (a) and (b) run the same 16 network passes, so their difference is the cost of the tiling
# itself (cutting, stitching, the max over the stitched map); (c) shows what the overlap costs.
#   tools/bench/bench_score_tile.sh [path/to/sernet]
# The model (1 step per stage; latency does not depend on the weights) is trained as in
# tools/bench/bench_score.sh and kept in SERNET_BENCH_DIR when set. Needs /usr/bin/python3 with Pillow
# and h5dump.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$here/build/sernet}
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ -n "${SERNET_BENCH_DIR:-}" ]; then
  tmp=$SERNET_BENCH_DIR
  mkdir -p "$tmp"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi
if [ ! -f "$tmp/m.h5" ]; then
  "$bin" synth --out "$tmp/syn.h5" --size 256 --set seed=1 --force >/dev/null 2>&1
  h5dump -d /weave/train/images -b LE -o "$tmp/train.bin" "$tmp/syn.h5" >/dev/null
  rm -rf "$tmp/small"
  "$py" - "$tmp" <<'EOF'
import os, sys
from PIL import Image
tmp, S = sys.argv[1], 256
b = open(os.path.join(tmp, "train.bin"), "rb").read()
os.makedirs(tmp + "/small/weave/train/good")
for i in range(8):
    Image.frombytes("RGB", (S, S), b[i * S * S * 3:(i + 1) * S * S * 3]).save(
        "%s/small/weave/train/good/%03d.png" % (tmp, i))
EOF
  "$bin" ingest --root "$tmp/small" --category weave --size 256 --out "$tmp/small.h5" --force >/dev/null 2>&1
  t0=$(date +%s)
  "$bin" train --data "$tmp/small.h5" --category weave --quiet --stage all --out "$tmp/m.h5" \
    --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=8 --set threads=2 >/dev/null 2>&1
  echo "bench_score_tile: model trained (1 step per stage) in $(( $(date +%s) - t0 )) s"
fi
if [ ! -f "$tmp/big/big1024.png" ]; then
  h5dump -d /weave/test/images -b LE -o "$tmp/test.bin" "$tmp/syn.h5" >/dev/null
  rm -rf "$tmp/big" "$tmp/tiles"
  "$py" - "$tmp" <<'EOF'
import os, sys
from PIL import Image
tmp, S = sys.argv[1], 256
b = open(os.path.join(tmp, "test.bin"), "rb").read()
big = Image.new("RGB", (4 * S, 4 * S))
os.makedirs(tmp + "/big"); os.makedirs(tmp + "/tiles")
for k in range(16):
    im = Image.frombytes("RGB", (S, S), b[k * 3 * S * S * 3:(k * 3 + 1) * S * S * 3])
    big.paste(im, ((k % 4) * S, (k // 4) * S))
    im.save("%s/tiles/%02d.png" % (tmp, k))
big.save(tmp + "/big/big1024.png")
EOF
fi
echo "bench_score_tile: $("$bin" version 2>/dev/null | head -1); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
sc() { "$bin" score --model "$tmp/m.h5" --data "$tmp/syn.h5" --threads 1 "$@" 2>"$tmp/err" >"$tmp/out"; grep '^score:' "$tmp/err"; }
echo "bench_score_tile: (a) 16 tiles of 256 x 256 one by one: $(sc "$tmp/tiles")"
echo "bench_score_tile: (b) 1024 x 1024 --tile --overlap 0 (16 tiles): $(sc --tile --overlap 0 "$tmp/big/big1024.png")"
echo "bench_score_tile: (c) 1024 x 1024 --tile (overlap 64, 25 tiles): $(sc --tile "$tmp/big/big1024.png")"
echo "bench_score_tile: (d) 1024 x 1024 --tile --overlap 0 --jobs 2 (16 tiles, 2 at once): $(sc --tile --overlap 0 --jobs 2 "$tmp/big/big1024.png")"
