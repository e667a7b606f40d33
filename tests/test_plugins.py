"""Plugins: discovery by entry point, broken ones contained, the conformance kit on all three."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from mlpbench.api import registry
from mlpbench.api.conformance import CHECKS, run_all
from mlpbench.api.protocol import SpecError, TrainSpec
from mlpbench.cli.app import main
from mlpbench.config.sweepfile import parse_config
from mlpbench.sweep.loop import run_sweep

BACKENDS = ["numpy", "keras", "torch"]  # the three-backend sweep below
KIT = ["numpy", "numpy-plain", "keras", "jax", "tf", "torch"]  # every installed backend
# A framework's kit runs load that framework (seconds each): make test-fast leaves them out.
KIT_PARAMS = [
    pytest.param(b, marks=pytest.mark.slow) if b in ("keras", "jax", "tf", "torch") else b
    for b in KIT
]


def test_builtins_and_torch_are_registered():
    names = registry.available()
    for name in ("numpy", "numpy-plain", "keras", "jax", "tf"):
        assert name in names
    if importlib.util.find_spec("mlpbench_torch") is None:
        pytest.fail("examples/torch_backend is not installed: run `make install`")
    assert "torch" in names


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("backend", KIT_PARAMS)
def test_conformance_kit(backend, check):
    check(backend)


def test_kit_catches_a_wrong_backend(fake_plugins):
    report = run_all("nanloss")  # reports a NaN loss and trains nothing
    assert report["check_epoch_records"] != "ok"
    assert report["check_parity_with_numpy"] != "ok"


def test_broken_plugins_are_named_and_break_nothing(fake_plugins, capsys):
    entries = {e.name: e for e in registry.describe_all()}
    assert "import failed" in entries["broken"].error
    assert "does not meet the Trainer protocol" in entries["notatrainer"].error
    assert entries["numpy"].error == "" and entries["crash"].error == ""
    with pytest.raises(SpecError, match="backend 'broken' is broken"):
        registry.load("broken")
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "keras engines: tensorflow (ok), jax (ok), torch (ok)" in out
    assert "broken: import failed" in out and "numpy" in out and "keras" in out


def test_unknown_backend_lists_the_installed_ones():
    with pytest.raises(SpecError, match="installed backends: .*numpy"):
        registry.load("nope")


@pytest.mark.slow
def test_sweep_over_three_backends_gives_one_report(tmp_path):
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.report import write_report

    doc = {
        "name": "three",
        "timeout_s": 120,
        "data": {"dataset": "synthetic", "synthetic_samples": 600, "synthetic_features": 784},
        "train": {"epochs": 2},
        "grid": {"backend": BACKENDS, "batch_size": [100], "threads": [1]},
    }
    out = run_sweep(parse_config(doc), root=tmp_path, quiet=True)
    with (out / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert {r["backend"] for r in runs if r["status"] == "ok"} == set(BACKENDS), runs
    analysis = Analysis.of(out)
    page = write_report(analysis, []).read_text()
    for backend in BACKENDS:
        assert f"<td>{backend}</td>" in page
    # the findings compare each framework with NumPy, torch included
    assert analysis.reference == "numpy"  # the grid's first backend
    assert "torch overtakes numpy" in page or "torch does not overtake numpy" in page


@pytest.mark.parametrize("backend,option", [("jax", "scan"), ("tf", "epoch_graph")])
def test_whole_epoch_modes_train_the_same_weights(backend, option):
    """One compiled call per epoch gives the weights of one call per batch (float64)."""
    import numpy as np

    from mlpbench import data as datasets
    from mlpbench.api.conformance import DATA, SPEC

    cls = registry.load(backend).cls
    train = TrainSpec(epochs=2, batch_size=50, shuffle="harness", learning_rate=0.01, seed=3)
    weights = []
    for on in (False, True):
        t = cls(SPEC, train, dtype="float64", options={"threads": 1, option: on})
        t.fit(datasets.load(DATA, "float64"))
        weights.append(t.weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "backend, needle",
    [
        ("transposed", "the kernel is transposed (kernels are (n_in, n_out)"),
        ("dropspartialbatch", "the last batch (30 of 50 samples) is handled differently"),
        ("nopenalty", "without L1/L2 the two agree, so the penalty differs"),
    ],
)
def test_the_kit_names_a_wrong_maths_in_one_sentence(backend, needle, fake_plugins):
    """Each failed on 9e91f54: a raw broadcast ValueError, 'does not learn', and the generic
    parity sentence."""
    report = run_all(backend)
    said = report["check_parity_with_numpy"]
    assert needle in said, said
    assert "\n" not in said and "broadcast" not in said


POOLED = '''
from mlpbench.backends.numpy.plain import PlainTrainer


class Pooled(PlainTrainer):
    """numpy-plain with a pool of its own, sized by the thread_env hook."""

    NAME = "pooled"
    QUIET_ENV = {"POOLED_LOG_LEVEL": "quiet"}

    @classmethod
    def thread_env(cls, threads):
        return {"POOLED_NUM_POOL_THREADS": str(3 * threads)}
'''


def test_a_backends_own_variables_reach_its_worker(tmp_path, monkeypatch):
    """A framework's thread pools and log silencing are its backend's hooks (the harness names
    no framework): the worker sets them before the backend loads its framework, the thread
    variables over the user's, the quiet ones only where the user set none; run_env keeps
    the thread variables."""
    import json
    import subprocess
    import sys

    from tests.conftest import on_path, write_plugin

    entry = "[mlpbench.backends]\npooled = pooled:Pooled\n"
    root = write_plugin(tmp_path / "plugins", {"pooled": POOLED}, entry, "pooled-backend")
    on_path(root, monkeypatch)
    monkeypatch.setenv("POOLED_NUM_POOL_THREADS", "99")  # the point's threads win
    monkeypatch.setenv("POOLED_LOG_LEVEL", "loud")  # the user's own wins
    code = (
        "import json, os\n"
        "from mlpbench.worker import train\n"
        "from mlpbench.api.spec import RunSpec\n"
        "from mlpbench.api.protocol import ModelSpec, TrainSpec\n"
        "from mlpbench.data import DataSpec\n"
        "data = DataSpec(dataset='synthetic', synthetic_samples=200, synthetic_features=8,"
        " synthetic_classes=3)\n"
        "spec = RunSpec(backend='pooled', threads=2, model=ModelSpec(layers=(8, 4, 3)),"
        " train=TrainSpec(epochs=2, batch_size=50), data=data)\n"
        "summary, _ = train.run(spec)\n"
        "print(json.dumps([summary.run_env, os.environ['POOLED_NUM_POOL_THREADS'],"
        " os.environ['POOLED_LOG_LEVEL']]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    run_env, pool, log = json.loads(out.stdout.strip().splitlines()[-1])
    assert (pool, log) == ("6", "loud")
    assert "POOLED_NUM_POOL_THREADS=6" in run_env.split(";"), run_env
