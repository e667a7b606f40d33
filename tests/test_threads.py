"""Importing the harness changes nothing; OpenBLAS's idle setting is recorded truthfully."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = (
    "from mlpbench.machine.threads import blas_info; print(blas_info()['openblas_thread_timeout'])"
)


@pytest.mark.parametrize(
    "first, preset, expected",
    [
        ("import mlpbench, numpy", None, "OpenBLAS's default"),  # no side effect of the import
        ("import mlpbench, numpy", "4", "4"),  # a thread plan's (or the user's) value
        ("import numpy, mlpbench", "12", "12"),
    ],
)
def test_blas_idle_env(first, preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{first}; import os; {SHOW}; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    shown, variable = out.stdout.strip().splitlines()
    assert shown == expected
    assert variable == (preset or "None")  # the import set nothing
