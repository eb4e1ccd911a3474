#!/usr/bin/env bash
# Single-image latency of the inspection API at S = 256 (default architecture: seg_width 32,
# rec_width 64), through `sernet score` (decode + preprocess + phash search + both nets + map,
# one image per call), with 1 and 2 OpenMP threads per image, and 2 images at once (--jobs 2).
#   tools/bench/bench_score.sh [path/to/sernet] [images=30]
# The latency does not depend on how well the nets are trained, so the model is trained for one
# step per stage on 8 images of the synthetic set (about a minute), then images of the synthetic
# test split are scored against the full synthetic dataset (120 training images, hash index).
# Needs /usr/bin/python3 with Pillow and h5dump (to write the PNG files). With SERNET_BENCH_DIR
# set, files are kept there and reused by the next run (the model is trained once).
# On a shared machine the wall time is inflated by other load; the CPU time per image is not.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$here/build/sernet}
n=${2:-30}
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
h5dump -d /weave/test/images -b LE -o "$tmp/test.bin" "$tmp/syn.h5" >/dev/null
rm -rf "$tmp/small" "$tmp/photos"
"$py" - "$tmp" "$n" <<'EOF'
import os, sys
from PIL import Image
tmp, n, S = sys.argv[1], int(sys.argv[2]), 256
def images(name, k):
    b = open(os.path.join(tmp, name), "rb").read()
    return [Image.frombytes("RGB", (S, S), b[i * S * S * 3:(i + 1) * S * S * 3]) for i in range(k)]
os.makedirs(tmp + "/small/weave/train/good"); os.makedirs(tmp + "/photos")
for i, im in enumerate(images("train.bin", 8)):
    im.save("%s/small/weave/train/good/%03d.png" % (tmp, i))
for i, im in enumerate(images("test.bin", n)):
    im.save("%s/photos/%03d.png" % (tmp, i))
EOF
"$bin" ingest --root "$tmp/small" --category weave --size 256 --out "$tmp/small.h5" --force >/dev/null 2>&1
t0=$(date +%s)
"$bin" train --data "$tmp/small.h5" --category weave --quiet --stage all --out "$tmp/m.h5" \
  --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=8 --set threads=2 >/dev/null 2>&1
echo "bench_score: model trained (1 step per stage) in $(( $(date +%s) - t0 )) s"
fi
n=$(ls "$tmp/photos" | wc -l)
echo "bench_score: $("$bin" version 2>/dev/null | head -1); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for cfg in "1 1" "2 1" "1 2"; do
  set -- $cfg
  "$bin" score --model "$tmp/m.h5" --data "$tmp/syn.h5" --threads "$1" --jobs "$2" "$tmp/photos" \
    >/dev/null 2>"$tmp/err"
  echo "bench_score: S = 256, $n images, --threads $1 --jobs $2: $(grep '^score:' "$tmp/err")"
done
