"""Micro-benchmarks of the NumPy backend's step (pytest-benchmark); not part of `make test`.

The harness is imported before anything loads NumPy: it sets OpenBLAS's idle-thread timeout
(bench.threads.BLAS_IDLE_ENV), which OpenBLAS reads only once. After pytest-benchmark's table,
each benchmark's GFLOP/s is printed against the same square-GEMM peak a sweep calibrates.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import bench.threads

# benchmark name -> (dtype, GFLOP/s at the median time)
ACHIEVED: dict[str, tuple[str, float]] = {}


def pytest_configure(config) -> None:
    if not bench.threads.BLAS_IDLE_IN_EFFECT:
        raise pytest.UsageError(
            "NumPy was loaded before the harness, so OpenBLAS ignores "
            f"{bench.threads.BLAS_IDLE_ENV}: run `make benchmarks` (it disables the zarr "
            "pytest plugin, which imports NumPy first) or set the variable yourself"
        )


@pytest.fixture
def gflops() -> Callable[..., None]:
    """Record ``flops`` per call of a finished benchmark as GFLOP/s at its median time."""

    def record(benchmark, flops: float, dtype: str = "float32") -> None:
        value = flops / benchmark.stats["median"] / 1e9
        benchmark.extra_info["gflops_at_median"] = value
        ACHIEVED[benchmark.name] = (dtype, value)

    return record


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's table
def pytest_terminal_summary(terminalreporter) -> None:
    if not ACHIEVED:
        return
    from bench.calibrate import gemm_peak
    from bench.threads import blas_info

    threads = blas_info()["blas_threads"]
    peaks = {d: gemm_peak(d, threads)["gflops"] for d in sorted({d for d, _ in ACHIEVED.values()})}
    write = terminalreporter.write_line
    write("")
    write(f"GFLOP/s at the median, against the square-GEMM peak ({threads} BLAS threads):")
    for dtype, peak in peaks.items():
        write(f"  peak {dtype}: {peak:.1f} GFLOP/s")
    for name, (dtype, value) in sorted(ACHIEVED.items()):
        write(f"  {name:<62}{value:8.1f}{100 * value / peaks[dtype]:6.0f}%")
