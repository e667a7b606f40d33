"""``numpy-plain``: the same MLP written as a careful person writes a plain script, the floor
our NumPy backend must beat; ``numpy-script``: the same maths run as that script, in its own
process without mlpbench (a sweep's series of what a user gets by writing one).

Fancy-index gather ``X[idx]``, ``A @ W`` then ``+= b``, the sigmoid and the updates in place,
one function per step, no thread tricks and no buffers kept across steps. Still float32 end to
end in a float32 run, and the same maths as every backend (Keras's loss definitions, clipping
and update rules), so that the conformance kit and the parity tests hold it to the others. The
maths is ``plain_maths.PlainMLP``, which its standalone script inlines.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from mlpbench.api import protocol as api
from mlpbench.api.framework import FrameworkBackend
from mlpbench.backends.numpy.plain_maths import PlainMLP

OPTIONS: dict[str, Any] = {"threads": int}


class PlainTrainer(FrameworkBackend):
    """The plain NumPy MLP."""

    NAME, OPTIONS, DEVICES, DTYPES = "numpy-plain", OPTIONS, ("cpu",), ("float32", "float64")
    PACKAGES = {"numpy": "numpy", "threadpoolctl": "threadpoolctl"}
    TEMPLATE = "standalone_numpy.py"  # in mlpbench/backends/templates/
    SCRIPT_IN_OLD_STACKS = True  # its maths, plainly, in the article's Python 3.8 stack
    MATHS = PlainMLP  # the maths (a subclass changes one part: the kit's broken copies)

    def setup(self, options: dict[str, Any]) -> None:
        spec, train, dtype = self.spec, self.train, self.dtype
        if spec.loss == "binary_crossentropy" and spec.output_activation != "sigmoid":
            raise api.SpecError("loss = 'binary_crossentropy' needs output_activation = 'sigmoid'")
        self.dtype = np.dtype(dtype)
        weights = spec.initial_weights(train.seed)
        self.net = self.MATHS(
            [w.astype(dtype) for w, _ in weights],
            [b.astype(dtype) for _, b in weights],
            asdict(spec),
            asdict(train),
        )

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        return self.net.forward(x)

    def fit(self, data: api.TrainData, on_epoch_end: api.OnEpochEnd | None = None) -> None:
        t, n = self.train, len(data.x)
        x = data.x.astype(self.dtype, copy=False)
        rng = np.random.default_rng(t.seed)
        for epoch, lr in enumerate(t.epoch_learning_rates()):
            w0, c0 = time.perf_counter(), time.process_time()
            order = api.epoch_order(t, epoch, n, rng)
            total = 0.0
            for start in range(0, n, t.batch_size):
                idx = order[start : start + t.batch_size]
                total += self.net.step(x[idx], data.y[idx], self.dtype.type(lr)) * len(idx)
            acc = math.nan
            if t.train_accuracy != "none":
                acc = float((self.forward(x)[-1].argmax(axis=1) == data.y).mean())
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if on_epoch_end:
                on_epoch_end(api.EpochRecord(epoch, wall, cpu, total / n, acc))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        a = self.forward(x.astype(self.dtype, copy=False))[-1]
        return self.net.loss(a, y), float((a.argmax(axis=1) == y).mean())

    def weights(self) -> list[np.ndarray]:
        return [a for pair in zip(self.net.W, self.net.b) for a in pair]

    def info(self) -> dict[str, Any]:
        return {"numpy": np.__version__}


class ScriptTrainer(PlainTrainer):
    """``numpy-script``: numpy-plain's maths, which a sweep and ``mlpbench run`` run as its
    standalone script (the one ``mlpbench repro`` writes) in every stack: the harness's
    yardstick for "numpy against a plain script" is then a script, not code inside the
    harness. In process (the kit, parity) it is numpy-plain."""

    NAME = "numpy-script"
    ALWAYS_SCRIPT = True
