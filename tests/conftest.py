"""Shared fixtures: small data, small specs. The full workload belongs to `make bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlpbench import data as datasets
from mlpbench.api.protocol import ModelSpec


def sweep_text(
    name: str,
    grid: str,
    *,
    top: str = "",
    samples: object = 400,
    features: object = 20,
    classes: object = 4,
    layers: str = "[20, 8, 4]",
    model: str = "",
    epochs: object = 3,
    train: str = "",
    tables: str = "",
) -> str:
    """A small sweep file on synthetic data, as the tests write them: what differs is given
    (values as TOML text, lines ending in a newline; a ``{placeholder}`` stays for .format)."""
    return (
        f'name = "{name}"\n{top}[data]\ndataset = "synthetic"\nsynthetic_samples = {samples}\n'
        f"synthetic_features = {features}\nsynthetic_classes = {classes}\n"
        f"[model]\nlayers = {layers}\n{model}[train]\nepochs = {epochs}\n{train}{tables}"
        f"[grid]\n{grid}"
    )


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
import dataclasses, math, os, time
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


# Records a backend with bugs hands back (issue 30): each makes its run a failed row.
def _passing(change):
    class Bad(NumpyTrainer):
        def fit(self, data, on_epoch_end=None):
            return super().fit(data, lambda e: on_epoch_end(change(e)))

    return Bad


NegativeWall = _passing(lambda e: dataclasses.replace(e, wall_s=-0.5))
FractionalEpoch = _passing(lambda e: dataclasses.replace(e, epoch=e.epoch + 0.5))
StringLoss = _passing(lambda e: dataclasses.replace(e, loss="low"))
StringPhase = _passing(lambda e: dataclasses.replace(e, phases={**e.phases, "forward": "fast"}))
UnknownPhase = _passing(lambda e: dataclasses.replace(e, phases={**e.phases, "warp": 0.1}))
InfiniteAccuracy = _passing(lambda e: dataclasses.replace(e, accuracy=math.inf))


class HugeInfo(NumpyTrainer):
    def info(self):
        return {**super().info(), "blob": "x" * 200_000}


class ObjectInfo(NumpyTrainer):
    def info(self):
        return {**super().info(), "thing": object()}


class HtmlInfo(NumpyTrainer):
    def info(self):
        return {**super().info(), "note": "<script>alert('info')</script>"}


class StringEvaluate(NumpyTrainer):
    def evaluate(self, x, y):
        return "good", 0.5


# Misbehaviour the harness already survived (issue 30's "held" list), kept tested.
class HangThread(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        import threading

        threading.Thread(target=time.sleep, args=(600,)).start()  # not a daemon
        return super().fit(data, on_epoch_end)


class Segfault(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        import ctypes

        ctypes.string_at(0)


class Greedy(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        hoard = []
        while True:
            hoard.append(np.ones(2**23))  # 64 MiB, written
            time.sleep(0.01)


class Spam(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        for i in range(100_000):
            print("spam line", i)
        os.write(1, b"\\xff\\xfe not UTF-8 \\x80\\n" * 1000)
        return super().fit(data, on_epoch_end)


class ChangesDirectory(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        os.chdir("/")
        return super().fit(data, on_epoch_end)


class ExitsInFit(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        import sys

        sys.exit(3)


class ClosesOutput(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        os.close(0)
        os.close(1)
        os.close(2)
        return super().fit(data, on_epoch_end)


# Maths a plugin author gets wrong (issue 26): the kit names each in one sentence.
from mlpbench.backends.numpy.plain import PlainTrainer
from mlpbench.backends.numpy.plain_maths import PlainMLP


class Transposed(PlainTrainer):
    def weights(self):
        return [a.T if a.ndim == 2 else a for a in super().weights()]


class SkipsPartialBatch(PlainMLP):
    def step(self, x, y, lr):
        if len(y) < self.train["batch_size"]:  # skips the update of the last, partial batch
            return self.loss(self.forward(x)[-1], y)
        return super().step(x, y, lr)


class DropsPartialBatch(PlainTrainer):
    MATHS = SkipsPartialBatch


class NoPenalty(PlainTrainer):
    def __init__(self, spec, train, **kw):
        super().__init__(dataclasses.replace(spec, l1=0.0, l2=0.0), train, **kw)


class BadCapabilities(NumpyTrainer):
    @classmethod
    def capabilities(cls):
        raise RuntimeError("capabilities exploded")
'''

BAD_RECORDS = {  # backend -> what its failed row's reason names
    "negativewall": "wall_s = -0.5 is below 0",
    "fractionalepoch": "epoch = 0.5",
    "stringloss": "loss = 'low' is not a number",
    "stringphase": "phase forward = 'fast' is not a number",
    "unknownphase": "unknown phase 'warp'",
    "infiniteaccuracy": "accuracy = inf is not finite",
    "objectinfo": "info()['thing']",
    "stringevaluate": "test loss = 'good' is not a number",
}
HELD = {  # backend -> (status, what its reason names)
    "hugeinfo": ("ok", ""),
    "htmlinfo": ("ok", ""),
    "hangthread": ("ok", ""),
    "spam": ("ok", ""),
    "changesdirectory": ("ok", ""),
    "closesoutput": ("ok", ""),
    "segfault": ("failed", "SIGSEGV"),
    "greedy": ("failed", "out of memory"),
    "exitsinfit": ("failed", "exited with code 3"),
}

FAKE_ENTRY_POINTS = """[mlpbench.backends]
crash = fakebackends:Crash
hang = fakebackends:Hang
nanloss = fakebackends:NanLoss
gpuonly = fakebackends:GpuOnly
notatrainer = fakebackends:NotATrainer
works = fakebackends:Works
broken = fakebackends_missing:Thing
negativewall = fakebackends:NegativeWall
fractionalepoch = fakebackends:FractionalEpoch
stringloss = fakebackends:StringLoss
stringphase = fakebackends:StringPhase
unknownphase = fakebackends:UnknownPhase
infiniteaccuracy = fakebackends:InfiniteAccuracy
hugeinfo = fakebackends:HugeInfo
objectinfo = fakebackends:ObjectInfo
htmlinfo = fakebackends:HtmlInfo
stringevaluate = fakebackends:StringEvaluate
hangthread = fakebackends:HangThread
segfault = fakebackends:Segfault
greedy = fakebackends:Greedy
spam = fakebackends:Spam
changesdirectory = fakebackends:ChangesDirectory
exitsinfit = fakebackends:ExitsInFit
closesoutput = fakebackends:ClosesOutput
badcapabilities = fakebackends:BadCapabilities
transposed = fakebackends:Transposed
dropspartialbatch = fakebackends:DropsPartialBatch
nopenalty = fakebackends:NoPenalty
"""


def write_plugin(root: Path, modules: dict[str, str], entry_points: str, dist: str) -> Path:
    """A plugin distribution in ``root``: its modules, and a dist-info that registers
    ``entry_points`` under the distribution name ``dist``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in modules.items():
        (root / f"{name}.py").write_text(text)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return root


def on_path(root: Path, monkeypatch: Any) -> Path:
    """Make the plugins in ``root`` visible here and in worker processes."""
    import os

    monkeypatch.syspath_prepend(str(root))
    old = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{root}{os.pathsep}{old}" if old else str(root))
    return root


@pytest.fixture(scope="session")
def fake_plugin_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins")
    return write_plugin(
        root, {"fakebackends": FAKE_MODULE}, FAKE_ENTRY_POINTS, "fake-mlpbench-backends"
    )


@pytest.fixture
def fake_plugins(fake_plugin_dir, monkeypatch):
    """Make the fake backends visible here and in worker processes."""
    return on_path(fake_plugin_dir, monkeypatch)


@pytest.fixture(autouse=True)
def short_machine_check(monkeypatch, tmp_path_factory):
    """The sweep's machine check samples steal and load for 0.2 s here, not 2 s, and its GEMM
    peaks use 256-wide matrices; sweeps do not tune thread plans (tests/test_plans.py does, in
    a cache of its own)."""
    monkeypatch.setenv("MLPBENCH_DOCTOR_SAMPLE_S", "0.2")
    monkeypatch.setenv("MLPBENCH_TUNE", "0")
    monkeypatch.setenv("MLPBENCH_GEMM_N", "256")  # each sweep's GEMM peaks in ms, not 3 s
    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
