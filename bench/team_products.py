"""fastbp's own matrix kernels on one thread and split over a team of two, product by product:
the products of a batch of M2 (in-place kernel) and of L1 (packed kernel), as the trainer
calls them, timed alternately in one run; ratios only.

    PYTHONPATH=. taskset -c 0,1 python bench/team_products.py [--repeat 200] [--rounds 7]

Each product runs `repeat` times on one team (started before the clock, as a fit starts it
once per epoch), so a figure is the product plus its hand-offs; rounds alternate one thread and
two, and the medians are printed with their ratio. The batch's ratio is bounded by these and by
the batch's serial work (activations, loss, the BLAS output layer), which the bench_m2/bench_l1
entries `fastbp` against `fastbp_one_thread` (FASTBP_BENCH_THREADS=2) show whole.
"""
import argparse
import statistics

import numpy as np

from fastbp import _kernels

# (workload, kernel, what the product is, m, n, k) with C m×n, depth k, as _layers.pxi calls them
PRODUCTS = [
    ("M2", "inplace", "layer 0 forward  Z = A·Wᵀ (Wᵀ trained)", 64, 256, 784),
    ("M2", "inplace", "layer 0 step     Wᵀ −= lr·Aᵀ·dZ", 784, 256, 64),
    ("M2", "inplace", "layer 1 forward  Zᵀ = W·Aᵀ", 128, 64, 256),
    ("M2", "inplace", "layer 1 step     W −= lr·dZᵀ·A", 128, 256, 64),
    ("M2", "inplace", "layer 1 delta    dA = dZ·W", 64, 256, 128),
    ("L1", "packed", "layer 0 forward  Z = A·Wᵀ", 256, 2048, 1024),
    ("L1", "packed", "layer 0 step     W −= lr·dZᵀ·A", 2048, 1024, 256),
    ("L1", "packed", "layer 1 forward  Z = A·Wᵀ", 256, 2048, 2048),
    ("L1", "packed", "layer 1 step     W −= lr·dZᵀ·A", 2048, 2048, 256),
    ("L1", "packed", "layer 1 delta    dA = dZ·W", 256, 2048, 2048),
]


def seconds(m, n, k, packed, n_threads, repeat):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, k)).astype(np.float32)
    B = rng.standard_normal((k, n)).astype(np.float32)
    C = np.zeros((m, n), np.float32)
    return _kernels.team_product(1.0, A, B, 0.0, C, n_threads, packed, repeat) / repeat


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if not _kernels.avx512_kernels_run():
        print("fastbp's own kernels need AVX-512: nothing to time here")
        return
    totals = {}
    for workload, kernel, what, m, n, k in PRODUCTS:
        repeat = max(1, args.repeat // (20 if kernel == "packed" else 1))
        times = {1: [], 2: []}
        for _ in range(args.rounds):
            for n_threads in (1, 2):
                times[n_threads].append(seconds(m, n, k, kernel == "packed", n_threads, repeat))
        one, two = statistics.median(times[1]), statistics.median(times[2])
        total = totals.setdefault(workload, [0.0, 0.0])
        total[0] += one
        total[1] += two
        print(f"{workload} {what:38s} {m:5d}×{n:<5d}×{k:<5d} 1 thread {one * 1e6:9.1f} µs "
              f"({m * n * k / one / 1e9:5.1f} G multiply-adds/s), 2 threads "
              f"{two * 1e6:9.1f} µs: {one / two:.2f}×")
    for workload, (one, two) in totals.items():
        print(f"{workload} products of a batch: {one * 1e6:.0f} µs on 1 thread, "
              f"{two * 1e6:.0f} µs on 2: {one / two:.2f}×")


if __name__ == "__main__":
    main()
