#!/usr/bin/env bash
# The quality benchmark under the name issue 14 and docs/quality.md give users: the whole pipeline
# (ingest -> train -> infer -> eval) on the synthetic and shared real sets, printed next to the
# Sobel and fixed-map baselines. The script itself lives with the other benchmarks in tools/bench/
# (its environment: SIZE, STEPS_SEG, STEPS_REC, CATEGORIES, ...; see its header).
#   jobs/bench_quality.sh [OUTDIR]
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/bench/bench_quality.sh" "$@"
