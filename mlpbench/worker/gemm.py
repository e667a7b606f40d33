"""The machine's GEMM peak, the yardstick for "how close to the hardware" a backend gets.

Run in a fresh process per (dtype, threads, device) with the thread variables already set,
exactly like a sweep point. A square matmul of size n costs 2*n**3 floating-point operations;
the best of several repeats is the peak (noise only ever makes a run slower).
``MLPBENCH_GEMM_N`` sets n (default 2048 in float32, 1536 in float64, 8192 on a GPU): a smaller
one calibrates faster and reads lower (the test suite's sweeps use 256).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def hook_peak(dtype: str, threads: int, device: str, n: int, repeats: int) -> dict[str, Any]:
    """What NumPy on the CPU cannot measure (the GPU, bfloat16): the first installed backend,
    by name, whose ``gemm_peak(dtype, device, n, repeats)`` hook answers a number (the numpy
    backend on the GPU, with CuPy; jax for bfloat16). Loaded by name: the harness imports no
    framework."""
    from mlpbench.api import registry
    from mlpbench.api.framework import hook

    for name in registry.available():
        entry = registry.describe(name)
        if entry.cls is None or dtype not in entry.capabilities.dtypes:
            continue
        gflops = hook(entry.cls, "gemm_peak", dtype, device, n, repeats)
        if gflops is not None:
            return {"dtype": dtype, "threads": threads, "device": device, "n": n,
                    "gflops": float(gflops), "engine": f"{name} {entry.version}"}  # fmt: skip
    raise SystemExit(f"no installed backend measures a {dtype} GEMM on the {device}")


def gemm_peak(
    dtype: str, threads: int, device: str = "cpu", n: int = 0, repeats: int = 7
) -> dict[str, Any]:
    n = n or int(os.environ.get("MLPBENCH_GEMM_N") or 0)  # the test suite's small one
    if device != "cpu" or dtype not in ("float32", "float64"):
        return hook_peak(dtype, threads, device, n or (8192 if device == "gpu" else 2048),
                         repeats)  # fmt: skip
    import numpy as np
    from threadpoolctl import threadpool_limits

    from mlpbench.api.framework import best_matmul_s

    n = n or (2048 if dtype == "float32" else 1536)
    with threadpool_limits(limits=threads):
        best = best_matmul_s(np, dtype, n, repeats)
    return {"dtype": dtype, "threads": threads, "device": device, "n": n,
            "gflops": 2 * n**3 / best / 1e9}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlpbench.worker gemm")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--cpus", default="", help="pin to these CPUs first, as a point is (0-1)")
    a = p.parse_args(argv)
    if a.cpus:
        from mlpbench.machine.threads import parse_cpu_list

        os.sched_setaffinity(0, parse_cpu_list(a.cpus))
    print(json.dumps({**gemm_peak(a.dtype, a.threads, a.device, a.n), "cpus": a.cpus}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
