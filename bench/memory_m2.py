"""Resident memory that M2 training adds over the loaded data, measured from outside.

Usage:  python bench/memory_m2.py [--samples 60000] [--only fastbp,reference,...]

Each implementation trains M2 (784-256-128-10 relu, softmax cross-entropy, batch 64, one epoch
in order, lr 0.05) in a child process. The child generates the data, converts it once to the
form the implementation trains on (float32 C-contiguous for fastbp and the peers; float64 for
the numpy reference, which computes in float64), builds the model, compiles it where it
compiles (Numba, JAX), and then waits. The parent samples the child's resident set size
(VmRSS in /proc/<pid>/status) every few milliseconds, takes the RSS at that point as the
baseline, tells the child to train, and reports the peak RSS during training minus that
baseline. The child also reads the kernel's own peak (VmHWM, reset through
/proc/self/clear_refs just before training, where the kernel allows it) as a check on the
sampling. Linux only (/proc).

fastbp's budget is 30 MB (BUDGET_MB). Implementations whose package is not installed
(torch, numba, jax) are skipped.
"""
import argparse
import os
import sys
import threading
import time

BUDGET_MB = 30.0
IMPLEMENTATIONS = ("fastbp", "reference", "torch", "numba", "jax")
SIZES = (784, 256, 128, 10)
BATCH, LR = 64, 0.05
INTERVAL = 0.005  # seconds between RSS samples


# ----- the child: load, wait, train -------------------------------------------------------------
def _kib(field, pid="self"):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _prepare(implementation, n_samples):
    """Everything before training: data in its training form, the model; returns train()."""
    import numpy as np

    import fastbp
    from fastbp.datasets import gaussian_classes

    X, labels = gaussian_classes(n_samples, SIZES[0], SIZES[-1], seed=0)
    net = fastbp.Network(SIZES, activation="relu", loss="cross_entropy", dtype="float32",
                         seed=0, n_threads=1)
    if implementation == "reference":
        from fastbp.reference import ReferenceNetwork
        ref = ReferenceNetwork.like(net)
        return lambda: ref.fit(X, labels, epochs=1, batch_size=BATCH, lr=LR)
    X = np.ascontiguousarray(X, dtype=np.float32)  # the float64 original is freed here
    if implementation == "fastbp":
        return lambda: net.fit(X, labels, epochs=1, batch_size=BATCH, lr=LR, shuffle=False)
    if implementation == "torch":
        import peers_torch
        import torch
        torch.set_num_threads(1)
        model = peers_torch.sequential_like(net, "relu")
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        inputs, targets = torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64))

        def train():
            for start in range(0, n_samples, BATCH):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(inputs[start:start + BATCH]),
                                                         targets[start:start + BATCH])
                loss.backward()
                optimizer.step()
        return train
    if implementation == "numba":
        import peers_numba
        peers_numba.warm_up(peers_numba.train_m2, net.weights, net.biases, X, labels, BATCH)
        weights, biases = peers_numba.copies(net.weights, net.biases)
        return lambda: peers_numba.train_m2(weights, biases, X, labels, 1, BATCH, LR)
    if implementation == "jax":
        import peers_jax
        trainer = peers_jax.train_m2(net.weights, net.biases, X, labels, 1, BATCH, LR).compile()
        del X  # the trainer holds the data on its device
        return trainer.run
    raise ValueError(f"unknown implementation {implementation!r}")


def _child(implementation, n_samples):
    import gc
    if hasattr(os, "sched_setaffinity"):  # one CPU: JAX sizes its thread pool by the affinity
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
    train = _prepare(implementation, n_samples)
    gc.collect()
    try:  # reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    print("ready", _kib("VmRSS"), flush=True)
    sys.stdin.readline()  # "go"
    train()
    print("done", _kib("VmHWM") if hwm_reset else -1, flush=True)


# ----- the parent: sample the child's RSS -------------------------------------------------------
class Result:
    def __init__(self, implementation, n_samples, baseline_kib, peak_kib, hwm_kib, n_samples_rss,
                 seconds):
        self.implementation, self.n_samples = implementation, n_samples
        self.baseline_mb = baseline_kib / 1024
        self.peak_mb = peak_kib / 1024
        self.increase_mb = (peak_kib - baseline_kib) / 1024
        self.hwm_increase_mb = None if hwm_kib < 0 else (hwm_kib - baseline_kib) / 1024
        self.rss_samples, self.seconds = n_samples_rss, seconds

    def line(self):
        hwm = "n/a" if self.hwm_increase_mb is None else f"{self.hwm_increase_mb:.1f} MB"
        return (f"{self.implementation:<10} loaded {self.baseline_mb:7.1f} MB   peak during training "
                f"{self.peak_mb:7.1f} MB   training adds {self.increase_mb:6.1f} MB "
                f"(kernel peak: {hwm})   {self.rss_samples} samples in {self.seconds:.2f} s")


def measure(implementation, n_samples=60_000, interval=INTERVAL):
    """Train `implementation` on M2 in a child process; the Result of sampling its RSS."""
    import subprocess
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", implementation,
                              str(n_samples)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env, cwd=os.path.dirname(os.path.abspath(__file__)))
    try:
        ready = child.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise RuntimeError(f"{implementation}: the child failed before training")
        time.sleep(0.05)
        baseline = _kib("VmRSS", child.pid)
        samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    samples.append(_kib("VmRSS", child.pid))
                except (OSError, RuntimeError):  # the child has exited
                    return
                time.sleep(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        child.stdin.write("go\n")
        child.stdin.flush()
        done = child.stdout.readline().split()
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        if not done or done[0] != "done":
            raise RuntimeError(f"{implementation}: the child failed during training")
        return Result(implementation, n_samples, baseline, max(samples + [baseline]),
                      int(done[1]), len(samples), seconds)
    finally:
        child.stdin.close()
        child.wait()


def available(implementation):
    """True when the implementation's package can be imported here."""
    import importlib.util
    module = {"fastbp": "fastbp", "reference": "fastbp"}.get(implementation, implementation)
    return importlib.util.find_spec(module) is not None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--only", default=",".join(IMPLEMENTATIONS),
                        help="comma-separated implementations to measure")
    parser.add_argument("--child", nargs=2, metavar=("IMPLEMENTATION", "SAMPLES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    print(f"M2 training, {args.samples:,} samples, batch {BATCH}, 1 epoch, 1 thread; RSS sampled "
          f"every {INTERVAL * 1000:.0f} ms from the parent")
    status = 0
    for implementation in args.only.split(","):
        if not available(implementation):
            print(f"{implementation:<10} skipped (not installed)")
            continue
        result = measure(implementation, args.samples)
        print(result.line(), flush=True)
        if implementation == "fastbp" and result.increase_mb > BUDGET_MB:
            print(f"fastbp exceeds its budget of {BUDGET_MB:.0f} MB")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
