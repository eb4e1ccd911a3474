#!/usr/bin/env bash
# The configuration key precision = bf16 end to end: `sernet infer` with it on a tiny trained model
# completes, records the key in the results file, and differs from float32 by little (scores within
# 0.05, checked with sernet-bench results-diff) but not by nothing; on a CPU without AVX512_BF16
# (simulated with SERNET_NO_BF16=1) it fails with an error naming the key and leaves no file; a bad
# value is refused naming the key; sernet-bench bench --precision both prints both and the
# comparison, and refuses bf16 for training. The bf16 runs are skipped (with a message) where the
# CPU lacks AVX512_BF16; the error paths run everywhere.
set -u
bin=${SERNET_BIN:?} bench=${SERNET_BENCH_BIN:?}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; tail -5 "$tmp/err" 2>/dev/null; fi; }
json() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.e+]*\).*/\1/p" "$1" | head -1; }
has_bf16=0
grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null && has_bf16=1

"$bin" synth --out "$tmp/syn.h5" --size 32 --set seed=3 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "0 passed, 1 failed"; exit 1; }
tr="--data $tmp/syn.h5 --category weave --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 --set calib_samples=16 --set seed=3 --set threads=1"
ok "train a tiny model" "\"$bin\" train $tr --stage all --out \"$tmp/m.h5\" >/dev/null 2>\"$tmp/err\""
inf="--model $tmp/m.h5 --data $tmp/syn.h5 --category weave --set threads=1 --batch 4 --quiet"

# --- errors, on any CPU -----------------------------------------------------------------------------
ok "no AVX512_BF16: infer fails naming the key, no output left" "! SERNET_NO_BF16=1 \"$bin\" infer $inf --set precision=bf16 --out \"$tmp/x.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'precision = bf16' \"$tmp/err\" && grep -q 'AVX512_BF16' \"$tmp/err\" && [ ! -e \"$tmp/x.h5\" ] && [ ! -e \"$tmp/x.h5.tmp\" ]"
ok "no AVX512_BF16: precision = fp32 still works" "SERNET_NO_BF16=1 \"$bin\" infer $inf --set precision=fp32 --out \"$tmp/f.h5\" >/dev/null 2>\"$tmp/err\""
ok "a bad value is refused naming the key and the choices" "! \"$bin\" infer $inf --set precision=fp16 --out \"$tmp/y.h5\" >/dev/null 2>\"$tmp/err\" && grep -q 'precision' \"$tmp/err\" && grep -q 'fp32' \"$tmp/err\" && [ ! -e \"$tmp/y.h5\" ]"
ok "bench: bf16 is refused for training" "! \"$bench\" bench --net seg --mode train --precision bf16 --size 32 --width 4 --batch 1 --iters 1 --warmup 0 >/dev/null 2>\"$tmp/err\" && grep -q 'precision' \"$tmp/err\""
ok "bench: no AVX512_BF16: bf16 fails naming the key" "! SERNET_NO_BF16=1 \"$bench\" bench --net seg --mode infer --precision bf16 --size 32 --width 4 --batch 1 --iters 1 --warmup 0 >/dev/null 2>\"$tmp/err\" && grep -q 'precision = bf16' \"$tmp/err\""

# --- bf16 inference ---------------------------------------------------------------------------------
if [ $has_bf16 = 1 ]; then
  ok "infer with precision = bf16" "\"$bin\" infer $inf --set precision=bf16 --out \"$tmp/b.h5\" >/dev/null 2>\"$tmp/err\""
  ok "the results file records precision = bf16" "h5dump -a /config \"$tmp/b.h5\" 2>/dev/null | grep -q 'precision = bf16'"
  ok "results-diff of fp32 and bf16" "\"$bench\" results-diff \"$tmp/f.h5\" \"$tmp/b.h5\" >\"$tmp/diff\" 2>\"$tmp/err\""
  ok "bf16 scores within 0.05 of fp32" "awk -v d=\"\$(json \"$tmp/diff\" score_max_abs_diff)\" 'BEGIN{exit !(d != \"\" && d <= 0.05)}'"
  ok "bf16 maps differ from fp32 (the bf16 path ran)" "awk -v d=\"\$(json \"$tmp/diff\" map_max_abs_diff)\" 'BEGIN{exit !(d > 0)}'"
  ok "results-diff of a file with itself is zero" "\"$bench\" results-diff \"$tmp/f.h5\" \"$tmp/f.h5\" | grep -q '\"map_max_abs_diff\": 0,'"
  ok "bench --precision both: two measurements and the comparison" "\"$bench\" bench --net rec --mode infer --precision both --size 32 --width 4 --batch 2 --iters 1 --warmup 0 >\"$tmp/bench\" 2>\"$tmp/err\" && grep -q '\"precision\": \"fp32\"' \"$tmp/bench\" && grep -q '\"precision\": \"bf16\"' \"$tmp/bench\" && grep -q '\"speedup\"' \"$tmp/bench\""
else
  echo "skipped: the bf16 inference checks (this CPU does not report AVX512_BF16)"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
