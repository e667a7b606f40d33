"""Shared fixtures: small data, small specs. The full workload belongs to `make bench`."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench import data as datasets
from mlpbench.api.protocol import ModelSpec


@pytest.fixture(scope="session")
def synthetic() -> datasets.DataSpec:
    return datasets.DataSpec(
        dataset="synthetic",
        synthetic_samples=600,
        synthetic_features=20,
        synthetic_classes=4,
        seed=3,
    )


@pytest.fixture(scope="session")
def small_spec() -> ModelSpec:
    return ModelSpec(layers=(20, 12, 8, 4), l2=0.001)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


FAKE_MODULE = '''
"""Misbehaving backends for harness tests, registered through a real entry point."""
import math, os, time
import numpy as np
from mlpbench.api.protocol import Capabilities, EpochRecord
from mlpbench.backends.numpy.trainer import NumpyTrainer


class Crash(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        os.abort()


class Hang(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        time.sleep(600)


class NanLoss(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        on_epoch_end(EpochRecord(0, 0.1, 0.1, math.nan))


class GpuOnly(NumpyTrainer):
    @classmethod
    def capabilities(cls):
        return Capabilities(devices=("gpu",), unavailable={"gpu": "no GPU in this test"})


class Works(NumpyTrainer):
    """A working plugin (the NumPy backend under another name)."""


class NotATrainer:
    pass
'''

FAKE_ENTRY_POINTS = """[mlpbench.backends]
crash = fakebackends:Crash
hang = fakebackends:Hang
nanloss = fakebackends:NanLoss
gpuonly = fakebackends:GpuOnly
notatrainer = fakebackends:NotATrainer
works = fakebackends:Works
broken = fakebackends_missing:Thing
"""


@pytest.fixture(scope="session")
def fake_plugin_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins")
    (root / "fakebackends.py").write_text(FAKE_MODULE)
    info = root / "fake_mlpbench_backends-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-mlpbench-backends\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(FAKE_ENTRY_POINTS)
    return root


@pytest.fixture
def fake_plugins(fake_plugin_dir, monkeypatch):
    """Make the fake backends visible here and in worker processes."""
    import os

    monkeypatch.syspath_prepend(str(fake_plugin_dir))
    old = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv(
        "PYTHONPATH", f"{fake_plugin_dir}{os.pathsep}{old}" if old else str(fake_plugin_dir)
    )
    return fake_plugin_dir


@pytest.fixture(autouse=True)
def short_machine_check(monkeypatch, tmp_path_factory):
    """The sweep's machine check samples steal and load for 0.2 s here, not 2 s; sweeps do not
    tune thread plans (tests/test_plans.py does, in a cache of its own)."""
    monkeypatch.setenv("MLPBENCH_DOCTOR_SAMPLE_S", "0.2")
    monkeypatch.setenv("MLPBENCH_TUNE", "0")
    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
