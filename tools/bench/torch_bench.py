#!/usr/bin/python3
"""PyTorch side of the engine benchmark: the identical SeRNet U-Net (tools/torch_ref.py).

  /usr/bin/python3 tools/bench/torch_bench.py --net seg|rec --width 32 --size 256 --batch 8 \\
      --threads T --mode train|infer --warmup 2 --iters N

train: forward + loss + backward + Adam step per iteration; infer: model.eval() forward under
torch.no_grad(). Prints one JSON line: net, mode, width, units, size, batch, threads, iters,
images_per_s, seconds_per_iter, gflop_per_image (analytic convolution FLOPs, see
torch_ref.conv_flops), gflops_per_s, peak_rss_mb (ru_maxrss of this process, MiB), allocator,
torch_version.

--keep-heap re-executes the script with glibc's malloc told never to use mmap and never to
trim (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_). With the default
allocator every activation tensor (tens of MiB) is a fresh mmap, so each iteration pays the
kernel's first-touch page faults again; on this machine that costs PyTorch about half its
inference throughput (seg inference at 2 threads: 4.3 against 8.0 images/s).
"""

import argparse
import json
import os
import resource
import sys
import time

KEEP_HEAP_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40),
                 "MALLOC_TOP_PAD_": str(1 << 30)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", choices=("seg", "rec"), required=True)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--units", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=("train", "infer"), default="train")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-heap", action="store_true",
                    help="glibc malloc without mmap and trimming (re-executes the script)")
    a = ap.parse_args()
    if a.keep_heap and any(os.environ.get(k) != v for k, v in KEEP_HEAP_ENV.items()):
        os.environ.update(KEEP_HEAP_ENV)   # glibc reads these only at process start
        os.execv(sys.executable, [sys.executable] + sys.argv)
    if a.threads < 1 or a.iters < 1 or a.warmup < 0 or a.batch < 1:
        ap.error("need --threads >= 1, --iters >= 1, --warmup >= 0, --batch >= 1")

    # Thread counts must be in the environment before torch loads its OpenMP/BLAS runtimes.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # tools/
    import torch
    import torch_ref
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.size % torch_ref.size_divisor(a.net):
        ap.error("--size %d must be a multiple of %d for the %s net"
                 % (a.size, torch_ref.size_divisor(a.net), a.net))

    model = torch_ref.build(a.net, a.width, a.units, seed=a.seed)
    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.rand(a.batch, 3, a.size, a.size, generator=g)
    if a.net == "seg":
        target = (torch.rand(a.batch, 1, a.size, a.size, generator=g) > 0.5).float()
    else:
        target = torch.rand(a.batch, 3, a.size, a.size, generator=g)

    if a.mode == "train":
        model.train()
        opt = torch_ref.adam(model, a.lr)

        def step():
            opt.zero_grad(set_to_none=True)
            out = model(x)
            L, _mse, _ssim = torch_ref.loss(out, target)
            L.backward()
            opt.step()
            return L.item()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                return float(model(x)[0, 0, 0, 0])

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        step()
    dt = time.perf_counter() - t0

    flops = torch_ref.conv_flops(a.net, a.width, a.units, a.size)
    per_image = flops["train" if a.mode == "train" else "forward"]
    images = a.batch * a.iters
    res = {
        "net": a.net, "mode": a.mode, "width": a.width, "units": a.units, "size": a.size,
        "batch": a.batch, "threads": a.threads, "iters": a.iters,
        "images_per_s": round(images / dt, 4),
        "seconds_per_iter": round(dt / a.iters, 5),
        "gflop_per_image": round(per_image / 1e9, 4),
        "gflops_per_s": round(per_image * images / dt / 1e9, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "allocator": "glibc, no mmap, no trim" if a.keep_heap else "glibc default",
        "torch_version": torch.__version__,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
