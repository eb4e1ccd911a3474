#!/usr/bin/env bash
# sernet phash: every reference row through the command line (1 and 2 ranks), and bad input:
# undecodable files are reported one by one on stderr, the others still hashed, exit status 1.
# sernet index: same index on 1 and 3 ranks, refusal without --force, clear errors.
# sernet similar: training images find themselves; same answers on 2 ranks; bad files.
set -u
bin=${SERNET_BIN:?}
shared=${SERNET_SHARED_DIR:-../shared}
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# no arguments: usage error
"$bin" phash >/dev/null 2>"$tmp/err"; [ $? = 2 ] && ok || bad "phash without files: want exit 2"

# bad input that needs no data: a text file, a missing file, an empty file
printf 'not an image\n' >"$tmp/text.png"; : >"$tmp/empty.jpg"
"$bin" phash "$tmp/text.png" "$tmp/missing.png" "$tmp/empty.jpg" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && ok || bad "all-bad input: exit $rc, want 1"
[ ! -s "$tmp/out" ] && ok || bad "all-bad input printed hashes"
for f in text.png missing.png empty.jpg; do
  grep -q "$f" "$tmp/err" && ok || bad "stderr does not name $f"
done

# sernet index: the stored index does not depend on the number of ranks and equals the one
# written by synth/ingest; errors are clear
if "$bin" synth --out "$tmp/s.h5" --size 32 >/dev/null 2>"$tmp/err"; then
  h5dump -d /weave/train/phash -d /flange/train/phash "$tmp/s.h5" >"$tmp/dump0" 2>/dev/null
  "$bin" index "$tmp/s.h5" >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc = 1 ] && grep -q "already exists" "$tmp/err" && ok || bad "index after synth without --force: exit $rc"
  "$bin" index --force "$tmp/s.h5" >"$tmp/out" 2>"$tmp/err" && grep -q "120 hashes" "$tmp/out" && ok || { bad "index on 1 rank"; cat "$tmp/err"; }
  h5dump -d /weave/train/phash -d /flange/train/phash "$tmp/s.h5" >"$tmp/dump1" 2>/dev/null
  [ -s "$tmp/dump0" ] && cmp -s "$tmp/dump0" "$tmp/dump1" && ok || bad "index written by synth differs from sernet index"
  if command -v mpiexec >/dev/null; then
    mpiexec -n 3 --oversubscribe "$bin" index --force "$tmp/s.h5" >/dev/null 2>"$tmp/err" && ok || { bad "index on 3 ranks"; cat "$tmp/err"; }
    h5dump -d /weave/train/phash -d /flange/train/phash "$tmp/s.h5" >"$tmp/dump3" 2>/dev/null
    [ -s "$tmp/dump1" ] && cmp -s "$tmp/dump1" "$tmp/dump3" && ok || bad "index differs between 1 and 3 ranks"
  fi
  "$bin" index --category nosuch "$tmp/s.h5" >/dev/null 2>"$tmp/err"; [ $? = 1 ] && grep -q nosuch "$tmp/err" && ok || bad "unknown category not named"
else
  bad "synth failed: $(head -1 "$tmp/err")"
fi
"$bin" index "$tmp/text.png" >/dev/null 2>"$tmp/err"; [ $? = 1 ] && grep -q "text.png" "$tmp/err" && ok || bad "index of a non-dataset: want exit 1 naming the file"
"$bin" index >/dev/null 2>&1; [ $? = 2 ] && ok || bad "index without a file: want exit 2"

ref="$shared/reference/phash_imagehash431.tsv"
if [ ! -f "$ref" ]; then
  echo "skipped: no ../shared"
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ] || exit 1
  exit 77
fi
# every reference row, in order, tab-separated: hash<TAB>file
cut -f1 "$ref" | sed "s|^|$shared/data/|" >"$tmp/files"
awk -F'\t' -v d="$shared/data/" '{print $2 "\t" d $1}' "$ref" >"$tmp/want"
"$bin" phash $(cat "$tmp/files") >"$tmp/got" 2>"$tmp/err"; rc=$?
[ $rc = 0 ] && ok || { bad "reference files: exit $rc"; head -3 "$tmp/err"; }
if cmp -s "$tmp/got" "$tmp/want"; then ok; else
  bad "reference hashes differ: $(diff "$tmp/got" "$tmp/want" | grep -c '^<') lines"; diff "$tmp/got" "$tmp/want" | head -6; fi
# the same under 2 ranks (files shared out, rank 0 prints in order)
if command -v mpiexec >/dev/null; then
  mpiexec -n 2 --oversubscribe "$bin" phash $(head -40 "$tmp/files") >"$tmp/got2" 2>"$tmp/err"; rc=$?
  [ $rc = 0 ] && cmp -s "$tmp/got2" <(head -40 "$tmp/want") && ok || bad "2 ranks: exit $rc or different output"
fi
# mixed good and bad: the good ones are hashed, in order, the bad ones named, exit 1
good1=$(sed -n 1p "$tmp/files"); good2=$(sed -n 200p "$tmp/files")
head -c 300 "$good1" >"$tmp/truncated.png"
"$bin" phash "$good1" "$tmp/truncated.png" "$tmp/text.png" "$good2" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && ok || bad "mixed input: exit $rc, want 1"
{ sed -n 1p "$tmp/want"; sed -n 200p "$tmp/want"; } | cmp -s - "$tmp/out" && ok || { bad "mixed input: good files not hashed"; cat "$tmp/out"; }
grep -q "truncated.png" "$tmp/err" && grep -q "text.png" "$tmp/err" && ok || { bad "mixed input: bad files not named"; cat "$tmp/err"; }
[ "$(grep -c error "$tmp/err")" = 2 ] && ok || bad "mixed input: want one error line per bad file"
# sernet similar on real data: each training image file finds itself at distance 0
gl="$shared/data/glass"
if "$bin" ingest --root "$gl" --category glass --out "$tmp/g.h5" --size 64 >/dev/null 2>"$tmp/err"; then
  # ingest stores the training hashes itself
  "$bin" similar --data "$tmp/g.h5" "$gl"/glass/train/good/*.png >"$tmp/sim" 2>"$tmp/err"; rc=$?
  ntrain=$(ls "$gl"/glass/train/good/*.png | wc -l)
  self=$(awk -F'\t' '{n=split($1,p,"/"); if ($4 == "train/good/" p[n] && $5 == 0) c++} END{print c+0}' "$tmp/sim")
  [ $rc = 0 ] && [ "$self" = "$ntrain" ] && ok || { bad "similar: $self of $ntrain training images found themselves (exit $rc)"; head -3 "$tmp/sim"; }
  "$bin" similar --data "$tmp/g.h5" --test --k 3 >"$tmp/sim1" 2>"$tmp/err"
  ntest=$(find "$gl/glass/test" -type f | wc -l)
  [ "$(wc -l <"$tmp/sim1")" = $((3 * ntest)) ] && ok || bad "similar --test --k 3: $(wc -l <"$tmp/sim1") lines, want $((3 * ntest))"
  if command -v mpiexec >/dev/null; then
    mpiexec -n 2 --oversubscribe "$bin" similar --data "$tmp/g.h5" --test --k 3 >"$tmp/sim2" 2>"$tmp/err"
    cmp -s "$tmp/sim1" "$tmp/sim2" && ok || bad "similar differs on 2 ranks"
  fi
  "$bin" similar --data "$tmp/g.h5" "$tmp/text.png" "$gl"/glass/train/good/000.png >"$tmp/sim" 2>"$tmp/err"; rc=$?
  [ $rc = 1 ] && [ "$(wc -l <"$tmp/sim")" = 1 ] && grep -q text.png "$tmp/err" && ok || bad "similar with a bad file: exit $rc"
else
  bad "ingest of glass failed: $(head -1 "$tmp/err")"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
