#!/usr/bin/env bash
# The demo command: set up (install missing packages, configure, build), make the embedded
# synthetic inspection dataset, then exercise what the pipeline has so far. It grows with the
# pipeline; today: the dataset, a look at it, and both U-Nets trained for a few steps on
# 2 MPI ranks' worth of threads with the loss printed as it goes down.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=${SERNET_DEMO_OUT:-$here/out/demo}
bin=$here/build/sernet

SERNET_BUILD_DIR=$here/build bash "$here/jobs/setup.sh"
mkdir -p "$out"
"$bin" --version

echo "== 1. the embedded synthetic dataset (2 ranks)"
mpirun -np 2 --oversubscribe "$bin" synth --out "$out/synth.h5" --size 128 --seed 1 --force
"$bin" info "$out/synth.h5" | head -n 25
"$bin" synth --preview "$out/synth_examples.png" --size 128 --seed 1 --force >/dev/null

echo "== 2. pseudo-anomalies the nets train on"
mpirun -np 2 --oversubscribe "$bin" pseudo --data "$out/synth.h5" --category weave --kind ppa --count 4 --out "$out/pseudo_ppa" >/dev/null
mpirun -np 2 --oversubscribe "$bin" pseudo --data "$out/synth.h5" --category flange --kind dpa --count 4 --out "$out/pseudo_dpa" >/dev/null

echo "== 3. the engine: both U-Nets on a fixed batch, loss going down"
"$bin" toytrain --steps 30 --size 64 --width 8

echo
echo "demo outputs in $out:"
echo "  synth.h5             the synthetic dataset (sernet info $out/synth.h5)"
echo "  synth_examples.png   a grid of training and test images with their defect masks"
echo "  pseudo_ppa/, pseudo_dpa/   sheets: clean | mask | pseudo-anomalous"
