"""Thread control. Environment variables must be set before NumPy or a framework loads its
thread pools; threadpoolctl then confirms (and, in-process, enforces) what the BLAS uses."""

from __future__ import annotations

import os
from typing import Any

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


# OpenBLAS's idle threads spin for 2**28 cycles (about 0.1 s) after each call, so on a small
# machine they hold the very cores that the NumPy backend's element-wise row threads need
# between two GEMMs. 2**4 makes them sleep at once; the GEMMs themselves measure the same.
# OpenBLAS reads the variable once, when NumPy loads it: bench/__init__.py sets it first.
BLAS_IDLE_ENV = {"OPENBLAS_THREAD_TIMEOUT": "4"}


def thread_env(threads: int) -> dict[str, str]:
    """Variables that cap every common thread pool at ``threads``."""
    env = {var: str(threads) for var in THREAD_VARS}
    env["TF_NUM_INTRAOP_THREADS"] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = str(max(1, min(threads, 2)))
    return env


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def blas_info() -> dict[str, Any]:
    """The BLAS NumPy uses: library, version, threading layer and effective thread count."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {
                "blas": f"{pool.get('internal_api')} {pool.get('version') or ''}".strip(),
                "blas_threading": pool.get("threading_layer", ""),
                "blas_architecture": pool.get("architecture", ""),
                "blas_threads": int(pool.get("num_threads", 0)),
                **{k.lower(): os.environ.get(k, "") for k in BLAS_IDLE_ENV},
            }
    return {"blas": "unknown", "blas_threading": "", "blas_architecture": "", "blas_threads": 0}
