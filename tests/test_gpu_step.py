"""The NumPy backend's step on a GPU, tested without one (issue 40): a fake array module stands
in for CuPy. NumPy does the arithmetic; every call through the module is counted, and so is
every read of a device value back to the host (``float``, ``int``, ``bool``, ``.item()``,
``.get()``), each of which makes a real GPU wait. With phases off, a step reads nothing back:
the loss and the hit counts stay on the device and are read once an epoch."""

from __future__ import annotations

import types
from collections import Counter
from typing import Any

import numpy as np

from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.numpy.model import MLP, PhaseClock

READS: Counter = Counter()


class Device(np.ndarray):
    """An array on the fake device: reading it to the host is counted."""

    def __array_wrap__(self, array, context=None, return_scalar=False):  # keep 0-d on device
        return np.asarray(array).view(Device)

    def __float__(self) -> float:
        READS["float"] += 1
        return float(np.asarray(self))

    def __int__(self) -> int:
        READS["int"] += 1
        return int(np.asarray(self))

    def __bool__(self) -> bool:
        READS["bool"] += 1
        return bool(np.asarray(self))

    def __index__(self) -> int:
        READS["index"] += 1
        return int(np.asarray(self))

    def item(self, *args: Any) -> Any:
        READS["item"] += 1
        return np.asarray(self).item(*args)

    def get(self) -> np.ndarray:
        READS["get"] += 1
        return np.asarray(self).copy()


def _on_device(value: Any) -> Any:
    if isinstance(value, np.ndarray) and not isinstance(value, Device):
        return value.view(Device)
    if isinstance(value, np.generic):
        return np.asarray(value).view(Device)
    return value


class FakeCupy(types.ModuleType):
    """CuPy's place: NumPy's functions, each call counted, results kept on the device."""

    def __init__(self) -> None:
        super().__init__("cupy")
        self.__version__ = "0.0-fake"
        self.calls: Counter = Counter()
        self.cuda = types.SimpleNamespace(
            Device=lambda: types.SimpleNamespace(synchronize=lambda: None)
        )

    def __getattr__(self, name: str) -> Any:
        target = getattr(np, name)
        if not callable(target) or isinstance(target, type):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return _on_device(target(*args, **kwargs))

        return call


SPEC = ModelSpec(layers=(20, 12, 8, 4), l2=0.001)


def _steps(phases: bool, batch_accuracy: bool) -> tuple[FakeCupy, Counter, int]:
    fake = FakeCupy()
    train = TrainSpec(epochs=1, batch_size=50, learning_rate=0.01)
    model = MLP(SPEC, train, "float32", fake)
    rng = np.random.default_rng(0)
    x = fake.asarray(rng.random((200, 20), dtype=np.float32))
    y = fake.asarray(rng.integers(0, 4, 200))
    order = fake.asarray(rng.permutation(200))
    model.ensure_batch(50)
    fake.calls.clear()
    READS.clear()
    clock = PhaseClock(phases)
    steps = 0
    for start in range(0, 200, 50):
        model.step(x, y, order[start : start + 50], 0.01, clock, batch_accuracy)
        steps += 1
    return fake, Counter(READS), steps


def test_a_gpu_step_reads_nothing_back_with_phases_off():
    """`output_delta(..., with_loss=True)` read the loss back every step (`_nll_sum` returned a
    Python float), and so did the penalty, once per layer."""
    fake, reads, steps = _steps(phases=False, batch_accuracy=True)
    assert steps == 4 and sum(reads.values()) == 0, reads
    per_step = sum(fake.calls.values()) / steps
    # Today's count (39 calls a step on this network), as a ceiling: a step may lose calls
    # (fused kernels would), never gain them.
    assert per_step <= 39, fake.calls


def test_an_epoch_on_a_gpu_reads_its_loss_once():
    fake = FakeCupy()
    model = MLP(SPEC, TrainSpec(epochs=1, batch_size=50, learning_rate=0.01), "float32", fake)
    rng = np.random.default_rng(1)
    x = fake.asarray(rng.random((200, 20), dtype=np.float32))
    y = fake.asarray(rng.integers(0, 4, 200))
    READS.clear()
    loss, acc = model.train_epoch(x, y, fake.asarray(rng.permutation(200)), 0.01,
                                  PhaseClock(False), batch_accuracy=True)  # fmt: skip
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert sum(READS.values()) <= 2, READS  # the loss and the hits, once each


def test_the_cpu_path_keeps_python_numbers():
    """On NumPy the step's loss and hits stay a Python float and int, as they always were (no
    0-d arrays on the CPU path)."""
    model = MLP(SPEC, TrainSpec(epochs=1, batch_size=50, learning_rate=0.01), "float32", np)
    rng = np.random.default_rng(0)
    x = rng.random((200, 20), dtype=np.float32)
    y = rng.integers(0, 4, 200)
    model.ensure_batch(50)
    loss, hits = model.step(x, y, np.arange(50), 0.01, PhaseClock(False), True)
    assert type(loss) is float and type(hits) is int
