"""Which release changed it (issue 28): the bisect over releases, and the standalone
reproducer of a point, run in a fresh venv without mlpbench."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlpbench.cli.app import main
from mlpbench.errors import UserError
from mlpbench.stacks import bisect as finder
from mlpbench.stacks.build import StackError, uv_binary

RELEASES = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"]


def fake(times: dict[str, float], broken: set[str] = frozenset(), calls: list | None = None):
    """A measure_round over made-up times (the control at LOW's time)."""

    def measure_round(version: str, low: str) -> tuple[float, float]:
        if calls is not None:
            calls.append(version)
        if version in broken:
            raise StackError(f"{version} does not build")
        return times.get(version, 1.0), times.get(low, 1.0)

    return measure_round


def test_bisect_names_the_first_release_that_differs():
    times = {v: (1.3 if v >= "1.5" else 1.0) for v in RELEASES}
    calls: list[str] = []
    out = finder.bisect(RELEASES, fake(times, calls=calls), threshold=1.1, rounds=2)
    assert out.first == "1.5"
    assert len(set(calls)) <= 5  # LOW, HIGH and log2 of the rest, not every release
    text = "\n".join(out.lines())
    assert "differs from 1.0 by more than 1.1x: 1.5 (1.30x the time, slower)" in text
    assert re.search(r"1\.5\s+1\.300", text) and "differs" in text
    faster = {v: (0.5 if v >= "1.2" else 1.0) for v in RELEASES}
    assert finder.bisect(RELEASES, fake(faster), threshold=1.1).first == "1.2"


def test_bisect_says_no_change_and_skips_a_release_that_does_not_build():
    out = finder.bisect(RELEASES, fake({"1.7": 1.05}), threshold=1.1, rounds=1)
    assert out.first is None
    assert "no change above the threshold (1.1x) from 1.0 to 1.7" in "\n".join(out.lines())
    times = {v: (2.0 if v >= "1.4" else 1.0) for v in RELEASES}
    out = finder.bisect(RELEASES, fake(times, broken={"1.4", "1.7"}), threshold=1.1, rounds=1)
    assert out.first == "1.5"  # 1.4 is not measurable: the first one measured that differs
    text = "\n".join(out.lines())
    assert "1.4  not measured: 1.4 does not build" in text
    with pytest.raises(UserError, match="--threshold"):
        finder.bisect(RELEASES, fake({}), threshold=0.9)


def test_bisect_resumes_from_what_it_measured(tmp_path):
    store = tmp_path / "bisect.json"
    times = {v: (1.3 if v >= "1.3" else 1.0) for v in RELEASES}
    first: list[str] = []
    assert finder.bisect(RELEASES, fake(times, calls=first), rounds=2, store=store).first == "1.3"
    again: list[str] = []
    assert finder.bisect(RELEASES, fake(times, calls=again), rounds=2, store=store).first == "1.3"
    assert first and again == []  # everything came from the store


def test_a_bad_release_range_is_one_line():
    with pytest.raises(UserError, match="must be an earlier release"):
        finder.releases("numpy", "2.0.0", "1.26.0")
    with pytest.raises(UserError, match="release numbers such as"):
        finder.releases("numpy", "new", "2.0")


FORCED_KERNEL = "Sandybridge"  # an OpenBLAS kernel no current x86-64 CPU picks by itself


def one_point_sweep(tmp_path: Path, name: str, backend: str) -> Path:
    """The result set of one point of ``backend``: the article's network on 3000 synthetic
    samples, 3 epochs, batch 100, 1 thread, 1 repeat."""
    sweep = tmp_path / f"{name}.toml"
    sweep.write_text(
        f'name = "{name}"\nrepeats = 1\n[data]\ndataset = "synthetic"\n'
        "synthetic_samples = 3000\nsynthetic_features = 784\nsynthetic_classes = 10\n"
        "[model]\nlayers = [784, 70, 30, 10]\n[train]\nepochs = 3\n"
        f'[grid]\nbackend = ["{backend}"]\nbatch_size = [100]\nthreads = [1]\n'
    )
    assert main(["sweep", str(sweep), "--quiet", "--results", str(tmp_path / "r")]) == 0
    (out,) = (tmp_path / "r").glob(f"*-{name}")
    return out


@pytest.mark.slow
def test_a_reproducer_runs_in_a_fresh_venv_without_mlpbench(tmp_path, capsys, monkeypatch):
    """The generated folder needs only NumPy (and threadpoolctl to name its BLAS). Run in a
    bare environment, it sets the thread and BLAS variables the sweep's worker had, so it gets
    the run's BLAS kernel, and its losses are the sweep's (the same maths). Issue 36: the
    script ran without the image's OPENBLAS_CORETYPE, on another kernel than the run; the
    sweep here forces one so that a script that does not carry it gets the machine's own.
    No timing is compared (times belong to benchmarks)."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", FORCED_KERNEL)  # what an image may set
    out = one_point_sweep(tmp_path, "repro", "numpy-plain")
    with (out / "runs.csv").open() as f:
        (run,) = list(csv.DictReader(f))
    assert run["blas_architecture"] == FORCED_KERNEL
    assert f"OPENBLAS_CORETYPE={FORCED_KERNEL}" in run["run_env"].split(";")
    assert "OMP_NUM_THREADS=1" in run["run_env"].split(";")
    folder = tmp_path / "standalone"
    assert main(["repro", str(out), "--point", "backend=numpy-plain", "--out", str(folder)]) == 0
    assert {p.name for p in folder.iterdir()} == {"run.py", "requirements.txt", "README.md"}
    pins = (folder / "requirements.txt").read_text()
    assert re.fullmatch(r"numpy==[\d.]+\nthreadpoolctl==[\d.]+\n", pins), pins
    venv = tmp_path / "venv"
    uv = uv_binary()
    assert uv, "uv is a dependency of mlpbench"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [uv, "pip", "install", "--quiet", "--python", python, "-r", "requirements.txt"]
    subprocess.run(install, check=True, cwd=folder)
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH, no checkout
    no_mlpbench = subprocess.run(
        [python, "-c", "import mlpbench"], capture_output=True, cwd=folder, env=bare
    )
    assert no_mlpbench.returncode != 0  # the venv has no mlpbench

    def script(*args: str) -> str:
        ran = subprocess.run(
            [python, "run.py", *args], cwd=folder, env=bare, capture_output=True, text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stderr
        return ran.stdout

    text = script()
    line = next(x for x in text.splitlines() if x.startswith("BLAS: "))
    kernels = re.findall(r"openblas kernel (\w+) with (\d+) thread", line)
    assert kernels == [(FORCED_KERNEL, "1"), (FORCED_KERNEL, "1")], line  # here, and the run's
    assert "BLAS differs" not in text
    epochs = [x for x in text.splitlines() if x.startswith("epoch ")]
    assert len(epochs) == 3 and re.match(r"epoch   1/3 +[\d.]+ s  \(cpu +[\d.]+ s\)", epochs[0])
    assert re.search(r"steady epoch ([\d.]+) s", text)
    script_loss = float(re.search(r"loss ([\d.]+)", epochs[-1]).group(1))
    assert abs(script_loss - float(run["final_loss"])) < 1e-3
    own = script("--machine-defaults")  # the bare shell sets no kernel: the CPU's own
    (here,) = re.findall(r"BLAS: openblas kernel (\w+)", own)
    assert here != FORCED_KERNEL and f"architecture {here} here, {FORCED_KERNEL} there" in own
    readme = (folder / "README.md").read_text()
    assert "steady epoch, median" in readme and f"{float(run['steady_epoch_s']):.4f}" in readme
    assert f"OPENBLAS_CORETYPE={FORCED_KERNEL}" in readme and "--machine-defaults" in readme


def test_repro_names_what_it_cannot_do(tmp_path, capsys):
    from tests.fixture_results import make_results

    folder = make_results(tmp_path / "r", repeats=1)
    assert main(["repro", str(folder), "--point", "backend=numpy"]) == 2
    assert "matches" in capsys.readouterr().err  # several points: name more axes
    assert main(["repro", str(folder), "--point", "colour=blue"]) == 2
    assert "axes: backend" in capsys.readouterr().err


@pytest.mark.slow
def test_a_keras_reproducer_ends_on_the_sweeps_losses(tmp_path):
    """Issue 47: the Keras reproducer did not reproduce its run (epoch-2 loss 2.0880 against
    the sweep's 2.2858): it shuffled from unseeded generators and let Keras take its cached-
    logits shortcut, where the run seeds Keras before fit() and uses the loss's formula. Run
    here in a bare environment by this interpreter, which holds exactly the versions the
    reproducer's requirements.txt pins (a fresh venv would download TensorFlow)."""
    out = one_point_sweep(tmp_path, "krepro", "keras")
    with (out / "epochs.csv").open() as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    with (out / "runs.csv").open() as f:
        (run,) = list(csv.DictReader(f))
    folder = tmp_path / "standalone"
    assert main(["repro", str(out), "--point", "backend=keras", "--out", str(folder)]) == 0
    pins = (folder / "requirements.txt").read_text()
    import keras

    assert f"keras=={keras.__version__}" in pins  # the versions this interpreter holds
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    ran = subprocess.run(
        [sys.executable, "run.py"], cwd=folder, env=bare, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    got = [float(x) for x in re.findall(r"^epoch .* loss ([\d.]+)$", ran.stdout, re.M)]
    assert len(got) == 3 and all(abs(a - b) < 1e-3 for a, b in zip(got, losses)), (got, losses)
    accuracy = float(re.search(r"test accuracy ([\d.]+)", ran.stdout).group(1))
    assert abs(accuracy - float(run["test_accuracy"])) < 1e-3
