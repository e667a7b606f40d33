"""Thread control. Environment variables must be set before NumPy or a framework loads its
thread pools; threadpoolctl then confirms (and, in-process, enforces) what the BLAS uses."""

from __future__ import annotations

import os
import re
from typing import Any

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


# OpenBLAS's idle threads spin for 2**28 cycles (about 0.1 s) after each call; 2**4 makes them
# sleep at once. Which is faster depends on the machine (it won on a 2-core AMD EPYC, lost on a
# 2-core Xeon with AVX-512): a thread plan (mlpbench.sweep.tuning) sets it per point, when the tuner
# measured that it helps. OpenBLAS reads it once, when NumPy loads.
BLAS_IDLE_ENV = {"OPENBLAS_THREAD_TIMEOUT": "4"}


def thread_env(threads: int) -> dict[str, str]:
    """Variables that cap the BLAS and OpenMP thread pools at ``threads`` (a framework's own
    pools are its backend's ``thread_env`` hook, set in the worker)."""
    return {var: str(threads) for var in THREAD_VARS}


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def cpu_list(cpus: Any) -> str:
    """CPU ids as text: "0,1,2" -> "0-2"; "1"."""
    ids = sorted(int(c) for c in cpus)
    parts, start = [], None
    for i, c in enumerate(ids):
        if start is None:
            start = c
        if i + 1 == len(ids) or ids[i + 1] != c + 1:
            parts.append(str(start) if start == c else f"{start}-{c}")
            start = None
    return ",".join(parts)


def parse_cpu_list(text: str) -> list[int]:
    """The inverse of :func:`cpu_list`."""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out


def pin_plan(threads: int, cpus: list[int], pin: bool = True) -> tuple[list[int], list[int]]:
    """(the point's CPUs, the sweep's own CPUs) out of ``cpus`` (the sweep's usable cores when
    it started): the point on the last ``threads``, the sweep on the others where any are
    left. Without pinning, both get every core."""
    if not pin or threads > len(cpus):
        return cpus, cpus
    point = cpus[-threads:]
    return point, (cpus[:-threads] or cpus)


def blas_info() -> dict[str, Any]:
    """The BLAS NumPy uses: library, version, threading layer and effective thread count."""
    import numpy  # noqa: F401  (its BLAS loaded, so that it is the one described)
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    # NumPy's own first: SciPy, PyTorch or TensorFlow may have loaded other BLAS copies, and
    # which one comes first must not change what this process reports (or the plan table's
    # machine fingerprint).
    pools.sort(key=lambda p: "numpy" not in str(p.get("filepath", "")).lower())
    for pool in pools:
        if pool:
            return {
                "blas": f"{pool.get('internal_api')} {pool.get('version') or ''}".strip(),
                "blas_threading": pool.get("threading_layer", ""),
                "blas_architecture": pool.get("architecture", ""),
                "blas_threads": int(pool.get("num_threads", 0)),
                **{key.lower(): os.environ.get(key, "OpenBLAS's default") for key in BLAS_IDLE_ENV},
            }
    return {"blas": "unknown", "blas_threading": "", "blas_architecture": "", "blas_threads": 0}


# What a sweep or a plan sets per point: not the user's environment.
PER_POINT = re.compile(r".*_NUM_THREADS|OPENBLAS_THREAD_TIMEOUT|OPENBLAS_MAIN_FREE")
BLAS_ENV = re.compile(r"OPENBLAS_\w+|GOTO_\w+|MKL_\w+|BLIS_\w+")


# Every variable that sets a thread pool's size or a BLAS's kernel and idle behaviour: what a
# worker records of its environment (runs.csv run_env) and a reproducer sets again.
RUN_ENV = re.compile(r"(?:OMP|OPENBLAS|GOTO|MKL|BLIS|VECLIB|NUMEXPR)_\w+|\w+_NUM_\w+_THREADS")


def run_environment(environ: Any = None) -> dict[str, str]:
    """The thread and BLAS variables of this process (``environ``): the ones its timing
    depends on beside the versions."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in sorted(environ) if RUN_ENV.fullmatch(k)}


def env_text(variables: dict[str, str]) -> str:
    """``{"A": "1", "B": "x"}`` as ``A=1;B=x`` (runs.csv's run_env)."""
    return ";".join(f"{k}={v}" for k, v in sorted(variables.items()))


def env_of_text(text: str) -> dict[str, str]:
    """The inverse of :func:`env_text`."""
    pairs = (part.partition("=") for part in str(text or "").split(";") if "=" in part)
    return {k: v for k, _, v in pairs}


def blas_environment(environ: Any = None) -> dict[str, str]:
    """The BLAS variables of the user's environment that change what the BLAS runs."""
    environ = os.environ if environ is None else environ
    keep = (k for k in sorted(environ) if BLAS_ENV.fullmatch(k) and not PER_POINT.fullmatch(k))
    return {k: environ[k] for k in keep}
