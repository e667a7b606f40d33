"""The `mlpbench run` command: output on a small subset, and one clear message per bad input."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

from mlpbench.cli.app import main

SMALL = [
    "--dataset",
    "mnist",
    "--subset",
    "2000",
    "--test-subset",
    "500",
    "--epochs",
    "3",
    "--batch-size",
    "250",
    "--threads",
    "1",
]


def test_run_prints_epochs_and_summary(capsys):
    assert main(["run", "--backend", "numpy", *SMALL]) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 3
    assert "epoch   3/3" in out
    assert "steady-state epoch" in out and "test" in out
    assert "BLAS" in out and "with 1 threads" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--layers", ""], "layers"),
        (["--layers", "784,0,10"], "layers"),
        (["--batch-size", "0"], "batch_size"),
        (["--batch-size", "-5"], "batch_size"),
        (["--batch-size", "5000"], "larger than the training data"),
        (["--dataset", "cifar"], "--dataset"),
        (["--dtype", "float16"], "--dtype"),
        (["--activation", "swish"], "--activation"),
        (["--layers", "100,10"], "784 inputs"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(args, needle):
    cmd = [sys.executable, "-m", "mlpbench", "run", *SMALL, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    if "invalid choice" in proc.stderr:  # argparse lists the allowed values
        assert "choose from" in proc.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--batch-size", "abc"], "invalid int value: 'abc'"),
        (["run", "--dtype", "float16"], "choose from 'float32', 'float64', 'bfloat16'"),
    ],
)
def test_a_bad_argument_is_one_line_not_the_usage(args, needle):
    out = subprocess.run(
        [sys.executable, "-m", "mlpbench", *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) <= 2 and needle in lines[-1] and "usage:" not in out.stderr


def test_bare_mlpbench_lists_the_commands(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in ("run", "sweep", "compare", "doctor"))


class _FakeCupy(types.ModuleType):
    """A stand-in for CuPy on a machine without a GPU: NumPy's functions under CuPy's name,
    with a device whose synchronize() counts its calls."""

    def __init__(self) -> None:
        super().__init__("cupy")
        self.__version__ = "0.0-fake"
        self.syncs = 0

        def synchronize() -> None:
            self.syncs += 1

        self.cuda = types.SimpleNamespace(Device=lambda: types.SimpleNamespace(
            synchronize=synchronize))  # fmt: skip

    def __getattr__(self, name: str):
        return getattr(np, name)


def test_run_on_a_gpu_prints_no_cpu_thread_plan(monkeypatch, capsys):
    """Issue 37: `mlpbench run --device gpu` printed a CPU thread plan and `BLAS openblas with
    16 threads`; on the GPU neither applies. The GPU is faked (CuPy's place taken by NumPy),
    so this runs without one; the run must also synchronise the device around its clocks."""
    from mlpbench.backends.numpy import trainer

    fake = _FakeCupy()
    monkeypatch.setattr(trainer, "_cupy_status", lambda: (fake, None))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    assert main(["run", "--backend", "numpy", "--device", "gpu", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "on gpu" in out and "no CPU thread plan" in out
    assert "mlpbench run: plan " not in out and "OPENBLAS" not in out
    assert "BLAS " not in out.split("steady-state epoch", 1)[1]  # no BLAS-threads line
    assert fake.syncs >= 2 * 3  # before and after each epoch's clock at least
