#!/usr/bin/env python3
"""Where a training step's time goes, per phase, from a `perf record --call-graph dwarf` profile.

Each sample is put in the first phase whose engine function appears on its call stack (so the
weight gradient, called from conv_backward, is told apart from the input gradient, and a
convolution forward from the layers around it), and the shares of all samples are printed.

    OMP_NUM_THREADS=1 perf record -F 300 --call-graph dwarf,32768 -o step.data \\
        build/sernet-bench bench --net rec --mode train --threads 1 --warmup 1 --iters 1
    python3 tools/bench/perf_phases.py step.data

The profile includes the warm-up iteration and the benchmark's set-up (listed under "other").
"""
import collections
import subprocess
import sys

# (phase, substrings of function names); the first match on the stack wins
PHASES = [
    ("conv weight gradient", ("conv_wgrad_direct", "backward_gemm", "conv_wgrad_gemm")),
    ("conv input gradient", ("conv_backward",)),
    ("conv forward", ("conv_forward",)),
    ("BatchNorm (+ReLU) backward", ("bn_backward",)),
    ("BatchNorm (+ReLU) forward", ("bn_forward",)),
    ("max-pool", ("maxpool",)),
    ("up-sampling", ("up_run", "upsample")),
    ("loss (MSE + SSIM)", ("ssim", "gauss_filter", "loss", "mse")),
    ("Adam", ("adam",)),
    ("ReLU, sigmoid, concat", ("relu", "sigmoid", "concat")),
]


def phase_of(stack):
    for name, keys in PHASES:
        if any(any(k in f for k in keys) for f in stack):
            return name
    if any("page_fault" in f for f in stack):
        return "page faults outside the layers"
    return "other (set-up, scheduling, small pieces)"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: perf_phases.py PERF_DATA")
    out = subprocess.run(["perf", "script", "-i", sys.argv[1], "-F", "ip,sym"], capture_output=True,
                         text=True, check=True).stdout
    count, total, stack = collections.Counter(), 0, []
    for line in out.splitlines() + [""]:
        if line.strip():
            parts = line.split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else parts[0])
        elif stack:
            count[phase_of(stack)] += 1
            total += 1
            stack = []
    if not total:
        sys.exit("perf_phases.py: no samples in " + sys.argv[1])
    for name, n in count.most_common():
        print(f"{100.0 * n / total:5.1f} %  {name}")
    print(f"{total} samples")


if __name__ == "__main__":
    main()
