"""Micro-benchmarks of the NumPy backend's step (pytest-benchmark); not part of `make test`.

They run under the environment they are given: `make benchmarks` runs them as OpenBLAS ships
(idle threads spin) and again with `OPENBLAS_THREAD_TIMEOUT=4` (they sleep at once), the two
settings the thread plans choose between; the step benchmarks cover each plan's step (the row
split off and on, data-parallel, transposed gradients, padding) beside the GEMM-only step, the
bound at the same shapes.
After pytest-benchmark's table, each benchmark's GFLOP/s is printed against the same
square-GEMM peak a sweep calibrates.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

# benchmark name -> (dtype, GFLOP/s at the median time)
ACHIEVED: dict[str, tuple[str, float]] = {}


@pytest.fixture
def gflops() -> Callable[..., None]:
    """Record ``flops`` per call of a finished benchmark as GFLOP/s at its median time."""

    def record(benchmark, flops: float, dtype: str = "float32") -> None:
        if benchmark.stats is None:  # --benchmark-disable: each body ran once, untimed
            return
        value = flops / benchmark.stats["median"] / 1e9
        benchmark.extra_info["gflops_at_median"] = value
        ACHIEVED[benchmark.name] = (dtype, value)

    return record


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's table
def pytest_terminal_summary(terminalreporter) -> None:
    if not ACHIEVED:
        return
    from mlpbench.machine.threads import blas_info
    from mlpbench.worker.gemm import gemm_peak

    threads = blas_info()["blas_threads"]
    peaks = {d: gemm_peak(d, threads)["gflops"] for d in sorted({d for d, _ in ACHIEVED.values()})}
    write = terminalreporter.write_line
    write("")
    idle = blas_info().get("openblas_thread_timeout", "?")
    write(
        f"GFLOP/s at the median, against the square-GEMM peak ({threads} BLAS threads, "
        f"OPENBLAS_THREAD_TIMEOUT: {idle}):"
    )
    for dtype, peak in peaks.items():
        write(f"  peak {dtype}: {peak:.1f} GFLOP/s")
    for name, (dtype, value) in sorted(ACHIEVED.items()):
        write(f"  {name:<62}{value:8.1f}{100 * value / peaks[dtype]:6.0f}%")
