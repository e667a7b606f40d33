"""The `mlpbench run` command: output on a small subset, and one clear message per bad input."""

from __future__ import annotations

import subprocess
import sys

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
        (["--backend", "nope"], "installed backends"),
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
