"""The package works outside its repository: the built wheel holds the shipped sweeps and the
article's data, and its `mlpbench configs` and `sweep quick --dry-run` run from an empty folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlpbench.cli.app import main
from mlpbench.config import catalog

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {"quick", "default", "perf", "ablation", "seed2020"}


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory) -> Path:
    """The wheel built from this checkout, installed into a scratch target (no deps: the
    venv provides them), apart from the editable install."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # a clean copy: no stale build/ folder can leak into the wheel
    anywhere = shutil.ignore_patterns("*.egg-info", "__pycache__", ".*_cache")

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = {".venv", ".git", "build", "results"} if Path(folder) == ROOT else set()
        return set(anywhere(folder, names)) | (top & set(names))

    shutil.copytree(ROOT, source, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (wheel,) = (out / "dist").glob("mlpbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"mlpbench/config/shipped/{name}.toml" in names, f"{name}.toml is not in the wheel"
    assert "mlpbench/render/article_2020.json" in names
    for module in ("cli/cmd_sweep.py", "worker/__main__.py", "backends/numpy/trainer.py"):
        assert f"mlpbench/{module}" in names  # every subpackage
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"mlpbench"}, f"the wheel puts more than mlpbench into site-packages: {tops}"
    target = out / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return target


def from_wheel(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_wheel_runs_configs_and_a_dry_run_from_an_empty_folder(wheel_install, tmp_path):
    where = from_wheel(wheel_install, tmp_path, "--version")
    assert where.returncode == 0 and where.stdout.startswith("mlpbench ")
    probe = subprocess.run(
        [sys.executable, "-c", "import mlpbench; print(mlpbench.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(wheel_install)},
    )
    assert probe.stdout.strip().startswith(str(wheel_install)), "not the wheel's copy"
    for old in ("bench", "mlp_numpy", "mlp_keras", "mlp_jax", "mlp_tf"):  # the names before 0.2
        code = f"import sys; sys.path.insert(0, {str(wheel_install)!r}); import {old}"
        gone = subprocess.run(
            [sys.executable, "-I", "-c", code],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert gone.returncode != 0 and "ModuleNotFoundError" in gone.stderr, old

    listed = from_wheel(wheel_install, tmp_path, "configs")
    assert listed.returncode == 0, listed.stderr
    for name in SHIPPED:
        assert name in listed.stdout
    assert "a decided first answer" in listed.stdout  # descriptions

    dry = from_wheel(wheel_install, tmp_path, "sweep", "quick", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "6 points x 3 repeats = 18 runs" in dry.stdout and "estimate: unknown" in dry.stdout
    assert str(wheel_install) in dry.stdout  # the wheel's own copy of quick.toml
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_shipped_names_show_and_a_path_wins(tmp_path, capsys, monkeypatch):
    assert set(catalog.shipped()) >= SHIPPED
    assert main(["sweep", "quick", "--show"]) == 0
    assert capsys.readouterr().out == (ROOT / "configs" / "quick.toml").read_text()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").write_text('name = "mine"\n[grid]\nbackend = ["numpy"]\n')
    assert catalog.find("quick") == Path("quick")  # a file of that name wins
    assert main(["sweep", "nosuch", "--dry-run"]) == 2
    assert "shipped: " in capsys.readouterr().err


@pytest.mark.slow
def test_dry_run_counts_points_and_estimates_from_an_earlier_sweep(tmp_path, capsys):
    from mlpbench.sweep.loop import run_sweep

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'name = "s"\nrepeats = 2\n[data]\ndataset = "synthetic"\nsynthetic_samples = 400\n'
        "synthetic_features = 20\nsynthetic_classes = 4\n[model]\nlayers = [20, 8, 4]\n"
        '[train]\nepochs = 2\n[grid]\nbackend = ["numpy"]\nbatch_size = [50, 100]\n'
        'threads = [1]\ndevice = ["cpu", "gpu"]\n'
    )
    results = tmp_path / "results"
    assert main(["sweep", str(sweep), "--dry-run", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "4 points x 2 repeats = 8 runs" in out and "estimate: unknown" in out
    assert "pace in earlier sweeps" not in out  # no earlier session to take a pace from
    assert not results.exists()

    run_sweep(sweep, root=results, quiet=True)
    assert main(["sweep", str(sweep), "--dry-run", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "estimate: " in out and "estimate: unknown" not in out
    assert "-s" in out.split("from ")[-1]  # names the earlier folder
    (before,) = [line for line in out.splitlines() if line.startswith("before the points:")]
    assert "at this machine's pace in earlier sweeps" in before  # the calibration it timed
    from mlpbench.api import registry

    gpu_here = "gpu" not in registry.load("numpy").capabilities.unavailable
    assert ("skipped here: device 'gpu' unavailable" in out) != gpu_here
    # a point never measured (batch 200) is estimated from the backend's others, as a range
    sweep.write_text(sweep.read_text().replace("[50, 100]", "[50, 100, 200]"))
    assert main(["sweep", str(sweep), "--dry-run", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("200") and "cpu" in line]
    assert "never measured: from other points" in row and " to " in row, row
    (estimate,) = [line for line in out.splitlines() if line.startswith("estimate:")]
    assert "2 never measured" in estimate and "not counted" not in estimate, estimate


def test_default_dry_run_is_20_points_x_6(capsys, tmp_path):
    # 5 series x 4 batch sizes, float32 on every core; 6 repeats: the fewest pairs a 95%
    # decision needs (issue 47)
    assert main(["sweep", "default", "--dry-run", "--results", str(tmp_path)]) == 0
    assert "20 points x 6 repeats = 120 runs" in capsys.readouterr().out


def test_the_dry_run_times_calibration_and_tuning_at_this_machines_pace(tmp_path):
    """Issue 26: the work before the first point, estimated from what earlier sweeps here
    recorded (environment.json sessions: seconds and counts of calibrations and tuned slots)."""
    import json

    from mlpbench.sweep.dryrun import earlier_pace

    assert earlier_pace(tmp_path / "none") == (None, None)
    sessions = [
        {"finished": True, "calibrations": 2, "calibrate_s": 10.0, "tuned_slots": 4,
         "tune_s": 60.0},
        {"finished": True, "calibrations": 2, "calibrate_s": 6.0, "tuned_slots": 0,
         "tune_s": 0.0},
        {"finished": False, "calibrations": 9, "calibrate_s": 900.0},  # interrupted: not a pace
    ]  # fmt: skip
    for n, session in enumerate(sessions):
        (tmp_path / f"f{n}").mkdir()
        (tmp_path / f"f{n}" / "environment.json").write_text(json.dumps({"sessions": [session]}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "environment.json").write_text("{")
    assert earlier_pace(tmp_path) == (4.0, 15.0)
