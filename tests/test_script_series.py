"""Issue 51: the harness's plain reference was code inside the harness, slower than what a
careful person writes. ``numpy-plain``'s maths is now that careful script's (in place), and
``numpy-script`` runs it as its standalone script in its own process, without mlpbench, in
every sweep: the default sweep's yardstick is what a user gets by writing one."""

from __future__ import annotations

import csv
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.numpy.plain_maths import PlainMLP
from mlpbench.config.sweepfile import load_config, parse_config
from mlpbench.sweep.loop import run_sweep

DOC = {
    "name": "script",
    "data": {"dataset": "synthetic", "synthetic_samples": 2000, "synthetic_features": 40,
             "synthetic_classes": 4},
    "model": {"layers": [40, 16, 4]},
    "train": {"epochs": 3, "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.1},
    "grid": {"backend": ["numpy-plain", "numpy-script"], "batch_size": [100], "threads": [1]},
}  # fmt: skip


def test_a_script_series_runs_as_its_script_with_its_conditions(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPBENCH_TUNE", "0")
    out = run_sweep(parse_config(DOC), root=tmp_path, quiet=True)
    with open(out / "runs.csv") as f:
        rows = {r["backend"]: r for r in csv.DictReader(f)}
    script, plain = rows["numpy-script"], rows["numpy-plain"]
    assert script["status"] == plain["status"] == "ok", (script["reason"], plain["reason"])
    assert "runner=standalone script" in script["backend_info"]  # its own process, no mlpbench
    assert "runner=standalone script" not in plain["backend_info"]
    # the same maths from the same weights and batches: the same losses, whichever way it ran
    assert math.isclose(float(script["test_loss"]), float(plain["test_loss"]), rel_tol=1e-4)
    # the conditions a script's run was measured in, probed around it by the harness
    assert math.isfinite(float(script["other_load_pct"])) and script["load_avg"] != ""


def test_the_plain_maths_updates_in_place_as_a_careful_script_does():
    spec, train = ModelSpec(layers=(20, 8, 3)), TrainSpec(optimizer="rmsprop", batch_size=50)
    weights = spec.initial_weights(0)
    net = PlainMLP([w for w, _ in weights], [b for _, b in weights], asdict(spec), asdict(train))
    before = [id(w) for w in net.W] + [id(v) for v in net.vW]
    first = net.W[0].copy()
    rng = np.random.default_rng(0)
    net.step(rng.random((50, 20)), rng.integers(0, 3, 50), 0.01)
    assert [id(w) for w in net.W] + [id(v) for v in net.vW] == before  # no new arrays
    assert not np.array_equal(first, net.W[0])  # ... and yet it learned


def test_the_default_sweep_sets_numpy_against_the_script():
    grid = load_config(Path(__file__).parents[1] / "configs" / "default.toml").grid
    assert "numpy-script" in grid["backend"] and "numpy-plain" not in grid["backend"]


def test_the_runner_asks_the_preflight_not_the_plugin_which_backends_are_scripts():
    """The first version loaded each point's backend in the sweep's own process to ask it: a
    plugin whose import hangs hung the whole sweep. The preflight asks the hook in its fresh
    process, and the runner (here and on a Dask host) reads the answer."""
    from mlpbench.config import expand
    from mlpbench.sweep.preflight import preflight
    from mlpbench.sweep.runner import PointRunner

    cfg = parse_config(DOC)
    checked = preflight(cfg)
    assert checked.scripts == {"numpy-script"}
    by = {p.key.backend: p for p in expand.points(cfg)}
    runner = PointRunner(60, scripts=checked.scripts)
    assert runner.where(by["numpy-script"])[3] == "script"
    assert runner.where(by["numpy-plain"])[3] == "worker"


def test_mlpbench_run_runs_the_script_series_as_its_script(capsys):
    """What a user types gets what a sweep measures: `mlpbench run --backend numpy-script` ran
    the maths in process, not the script."""
    from mlpbench.cli.app import main

    argv = ["run", "--backend", "numpy-script", "--dataset", "synthetic", "--epochs", "2",
            "--batch-size", "100", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "runs as its standalone script" in out and "runner=standalone script" in out
    assert "epoch   2/2" in out
