"""OpenBLAS's idle-thread setting: applied before NumPy loads, recorded truthfully otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "from bench.threads import blas_info; print(blas_info()['openblas_thread_timeout'])"


@pytest.mark.parametrize(
    "first, preset, expected",
    [
        ("import bench, numpy", None, "4"),  # the harness first: ours
        ("import bench, numpy", "12", "12"),  # the user's own value wins
        ("import numpy, bench", None, "OpenBLAS's default"),  # too late, and said so
        ("import numpy, bench", "12", "12"),  # the user's value was there from the start
    ],
)
def test_blas_idle_env(first, preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    out = subprocess.run(
        [sys.executable, "-c", f"{first}; {SHOW}"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
