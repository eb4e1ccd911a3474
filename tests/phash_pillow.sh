#!/usr/bin/env bash
# Cross-check against Pillow 9.4 + SciPy (when /usr/bin/python3 has them; skipped otherwise):
# random images of random sizes (grey and RGB; noise, ramps, checkerboards, smooth waves,
# symmetric images) are written as PNG by Pillow, hashed by Python following ImageHash 4.3.1's
# phash steps on Pillow's own L conversion and LANCZOS resize, and by `sernet phash`.
set -u
bin=${SERNET_BIN:?}
py=/usr/bin/python3
if ! "$py" -c "import PIL, numpy, scipy.fftpack; assert PIL.__version__.startswith('9.')" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 without Pillow 9, numpy and scipy"; exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$py" - "$tmp" <<'PY' || { echo "FAIL: generator"; echo "0 passed, 1 failed"; exit 1; }
import sys, numpy as np, scipy.fftpack
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(20261128)
def phash(im):
    px = np.asarray(im.convert('L').resize((32, 32), Image.LANCZOS))
    d = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=0), axis=1)[:8, :8]
    bits = (d > np.median(d)).flatten()
    return '%016x' % int(''.join('1' if b else '0' for b in bits), 2)
with open(out + '/want.tsv', 'w') as f:
    for i in range(150):
        w = int(rng.integers(1, 64)) if i % 4 == 0 else int(rng.integers(1, 900))
        h = int(rng.integers(1, 64)) if i % 5 == 0 else int(rng.integers(1, 900))
        c = 1 if i % 2 else 3
        yy, xx = np.mgrid[0:h, 0:w]
        k = i % 5
        if k == 0: a = rng.integers(0, 256, (h, w, c))
        elif k == 1: a = np.stack([(xx * int(rng.integers(1, 9)) + yy * int(rng.integers(1, 9))) % 256 for _ in range(c)], -1)
        elif k == 2: a = np.stack([((xx // int(rng.integers(1, 20)) + yy // int(rng.integers(1, 20))) % 2) * 255 for _ in range(c)], -1)
        elif k == 3: a = np.stack([np.clip(128 + 100 * np.sin(xx / rng.uniform(3, 50)) * np.cos(yy / rng.uniform(3, 50)), 0, 255) for _ in range(c)], -1)
        else:
            n = min(w, h); a = rng.integers(0, 256, (n, n, c)); a = (a + a.transpose(1, 0, 2)) // 2
        a = a.astype(np.uint8)
        im = Image.fromarray(a[:, :, 0] if c == 1 else a)
        name = '%s/img%03d.png' % (out, i)
        im.save(name)
        f.write('%s\t%s\n' % (phash(im), name))
PY
"$bin" phash $(cut -f2 "$tmp/want.tsv") >"$tmp/got.tsv" 2>"$tmp/err"; rc=$?
n=$(wc -l <"$tmp/want.tsv")
diffs=$(paste "$tmp/got.tsv" "$tmp/want.tsv" | awk -F'\t' '$1 != $3' | wc -l)
paste "$tmp/got.tsv" "$tmp/want.tsv" | awk -F'\t' '$1 != $3' | head -5
if [ "$rc" = 0 ] && [ "$diffs" = 0 ] && [ "$(wc -l <"$tmp/got.tsv")" = "$n" ]; then
  echo "$n images match Pillow + SciPy"; echo "1 passed, 0 failed"; exit 0
fi
echo "FAIL: exit $rc, $diffs of $n hashes differ"; cat "$tmp/err" | head -3
echo "0 passed, 1 failed"; exit 1
