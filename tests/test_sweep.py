"""The sweep runner: fresh processes, failures as rows, resume, the CSV schema."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlpbench.config.sweepfile import parse_config
from mlpbench.results.schema import EPOCH_COLUMNS, FILES, RUN_COLUMNS
from mlpbench.sweep.loop import run_sweep


def config(**grid):
    doc = {
        "name": "t",
        "timeout_s": 60,
        "data": {
            "dataset": "synthetic",
            "synthetic_samples": 400,
            "synthetic_features": 20,
            "synthetic_classes": 4,
        },
        "model": {"layers": [20, 8, 4], "l2": 0.001},
        "train": {"epochs": 2, "learning_rate": 0.01},
        "grid": {"backend": ["numpy"], "batch_size": [50], "threads": [1], **grid},
    }
    return doc


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_sweep_writes_the_four_files_with_the_schema(tmp_path):
    cfg = parse_config(config(batch_size=[50, 100], dtype=["float32", "float64"]), text="x=1")
    out = run_sweep(cfg, root=tmp_path, quiet=True)
    for name in FILES:
        assert (out / name).exists(), name
    runs = rows(out / "runs.csv")
    assert list(runs[0]) == RUN_COLUMNS
    assert len(runs) == 4 and {r["status"] for r in runs} == {"ok"}
    for r in runs:
        assert float(r["steady_epoch_s"]) > 0 and int(r["blas_threads"]) == 1
        assert 0 < float(r["efficiency"]) and float(r["peak_gflops"]) > 0
    epochs = rows(out / "epochs.csv")
    assert list(epochs[0]) == EPOCH_COLUMNS and len(epochs) == 4 * 2
    assert all(float(e["phase_forward"]) > 0 for e in epochs)  # numpy reports phases
    env = json.loads((out / "environment.json").read_text())
    assert env["cores_usable"] >= 1 and env["blas"]["blas"] and env["versions"]["numpy"]
    assert {(p["dtype"], p["threads"]) for p in env["peaks"]} == {("float32", 1), ("float64", 1)}
    assert (tmp_path / "latest").resolve() == out


@pytest.mark.slow
def test_failures_and_skips_are_rows_and_the_sweep_goes_on(tmp_path, fake_plugins):
    doc = config(backend=["crash", "nanloss", "gpuonly", "numpy"])
    out = run_sweep(parse_config(doc), root=tmp_path, quiet=True)
    by = {r["backend"]: r for r in rows(out / "runs.csv")}
    assert by["crash"]["status"] == "failed" and "SIGABRT" in by["crash"]["reason"]
    assert by["nanloss"]["status"] == "failed" and "nan" in by["nanloss"]["reason"]
    assert by["gpuonly"]["status"] == "skipped" and "cpu" in by["gpuonly"]["reason"]
    assert by["numpy"]["status"] == "ok"


def test_gpu_absent_is_skipped(tmp_path):
    out = run_sweep(parse_config(config(device=["gpu"])), root=tmp_path, quiet=True)
    (row,) = rows(out / "runs.csv")
    if row["status"] != "ok":  # a machine with CuPy and a GPU really runs it
        assert row["status"] == "skipped" and "gpu" in row["reason"].lower()
    (session,) = json.loads((out / "environment.json").read_text())["sessions"]
    assert session["finished"] and session["runs"] == 1
    assert session["wall_s"] >= session["prepare_s"] >= 0


def test_an_interrupted_session_is_timed_too(tmp_path, monkeypatch):
    """environment.json's sessions (what `mlpbench configs` and the results pages read the
    sweep's wall time from) keep an interrupted session, marked unfinished."""
    from mlpbench.errors import Interrupted
    from mlpbench.render.format import sweep_time
    from mlpbench.results.environment import Environment
    from mlpbench.sweep.runner import PointRunner

    def interrupted(runner, point, variables=None, stack=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(PointRunner, "run", interrupted)
    with pytest.raises(Interrupted):
        run_sweep(parse_config(config()), root=tmp_path, quiet=True)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    env = json.loads((folder / "environment.json").read_text())
    (session,) = env["sessions"]
    assert not session["finished"] and session["runs"] == 0
    assert sweep_time(Environment.from_json(env)) == ""  # no finished session: no claim


@pytest.mark.slow
def test_timeout_is_a_failed_row(tmp_path, fake_plugins):
    doc = config(backend=["hang", "numpy"])
    doc["timeout_s"] = 3
    t0 = time.perf_counter()
    out = run_sweep(parse_config(doc), root=tmp_path, quiet=True)
    assert time.perf_counter() - t0 < 30
    by = {r["backend"]: r for r in rows(out / "runs.csv")}
    assert by["hang"]["status"] == "failed" and "timeout after 3 s" in by["hang"]["reason"]
    assert by["numpy"]["status"] == "ok"


@pytest.mark.slow
def test_killed_sweep_resumes_without_duplicates(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "resume"\nrepeats = 2\n[data]\ndataset = "synthetic"\nsynthetic_samples = 3000\n'
        "[train]\nepochs = 3\n[model]\nlayers = [784, 70, 30, 10]\n"
        '[grid]\nbackend = ["numpy"]\nbatch_size = [50, 100, 200]\nthreads = [1]\n'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlpbench",
            "sweep",
            str(path),
            "--quiet",
            "--results",
            str(tmp_path / "results"),
        ],
        start_new_session=True,
    )
    runs_csv = None
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it once the first rows have landed
        found = list((tmp_path / "results").glob("*/runs.csv"))
        if found and len(rows(found[0])) >= 2:
            runs_csv = found[0]
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert runs_csv is not None, "the sweep wrote no rows in time"
    before = len(rows(runs_csv))
    assert 2 <= before < 6
    out = run_sweep(None, resume=runs_csv.parent, quiet=True)
    runs = rows(out / "runs.csv")
    keys = [(r["batch_size"], r["repeat"]) for r in runs]
    assert len(runs) == 6 and len(set(keys)) == 6
    epochs = rows(out / "epochs.csv")
    assert len(epochs) == 6 * 3  # no orphan or duplicate epoch rows
    assert {e["run_id"] for e in epochs} == {r["run_id"] for r in runs}
    again = run_sweep(None, resume=out, quiet=True)  # nothing left: nothing added
    assert len(rows(again / "runs.csv")) == 6
    # the killed session wrote no timing (SIGKILL); the resume and the empty re-run did
    sessions = json.loads((out / "environment.json").read_text())["sessions"]
    assert [s["runs"] for s in sessions] == [6 - before, 0]


@pytest.mark.slow
def test_summary_command(tmp_path, capsys):
    from mlpbench.cli.app import main

    cfg = parse_config(config(backend=["numpy"], batch_size=[50, 100]))
    out = run_sweep(cfg, root=tmp_path, quiet=True)
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert "median" in text and "numpy" in text and "2 ok" in text


@pytest.mark.slow
def test_a_sweep_next_to_a_plugins_source_runs_the_installed_plugin(tmp_path, fake_plugins):
    """A folder named like the plugin's package in the working folder must not shadow it:
    the workers import what `mlpbench backends` sees (issue 17)."""
    shadow = tmp_path / "fakebackends"
    shadow.mkdir()
    (shadow / "__init__.py").write_text('"""The plugin\'s source, not installed; no classes."""\n')
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'name = "shadow"\n[data]\ndataset = "synthetic"\nsynthetic_samples = 400\n'
        "synthetic_features = 20\nsynthetic_classes = 4\n[model]\nlayers = [20, 8, 4]\n"
        '[train]\nepochs = 2\n[grid]\nbackend = ["works"]\nbatch_size = [50]\nthreads = [1]\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench", "sweep", "s.toml", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (runs_csv,) = (tmp_path / "results").glob("*-shadow/runs.csv")
    (row,) = rows(runs_csv)
    assert row["status"] == "ok", row["reason"]
