"""``numpy-plain``: the same MLP written the way a person writes it first, the floor our NumPy
backend must beat.

Allocations per batch, fancy-index gather ``X[idx]``, ``A @ W + b``, one function per step, no
thread tricks: what the article starts from. Still float32 end to end in a float32 run, and the
same maths as every backend (Keras's loss definitions, clipping and update rules), so that the
conformance kit and the parity tests hold it to the others.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from mlpbench.api import protocol as api
from mlpbench.api.framework import FrameworkBackend

EPS = 1e-7
OPTIONS: dict[str, Any] = {"threads": int}


def activate(z: np.ndarray, name: str) -> np.ndarray:
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    e = np.exp(z - z.max(axis=1, keepdims=True))  # softmax
    return e / e.sum(axis=1, keepdims=True)


def derivative(a: np.ndarray, name: str) -> np.ndarray:
    """d activation / dz, from the activation's output."""
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    return (a > 0).astype(a.dtype)  # relu


class PlainTrainer(FrameworkBackend):
    """The plain NumPy MLP."""

    NAME, OPTIONS, DEVICES, DTYPES = "numpy-plain", OPTIONS, ("cpu",), ("float32", "float64")
    PACKAGES = {"numpy": "numpy", "threadpoolctl": "threadpoolctl"}
    TEMPLATE = "standalone_numpy.py"  # in mlpbench/backends/templates/
    SCRIPT_IN_OLD_STACKS = True  # its maths, plainly, in the article's Python 3.8 stack

    def setup(self, options: dict[str, Any]) -> None:
        spec, train, dtype = self.spec, self.train, self.dtype
        if spec.loss == "binary_crossentropy" and spec.output_activation != "sigmoid":
            raise api.SpecError("loss = 'binary_crossentropy' needs output_activation = 'sigmoid'")
        self.spec, self.train, self.dtype = spec, train, np.dtype(dtype)
        self.W = [w.astype(dtype) for w, _ in spec.initial_weights(train.seed)]
        self.b = [b.astype(dtype) for _, b in spec.initial_weights(train.seed)]
        self.vW = [np.zeros_like(w) for w in self.W]
        self.vb = [np.zeros_like(b) for b in self.b]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        acts, last = [x], self.spec.n_layers - 1
        for l, (w, b) in enumerate(zip(self.W, self.b)):
            name = self.spec.output_activation if l == last else self.spec.activation
            acts.append(activate(acts[-1] @ w + b, name))
        return acts

    def data_loss(self, a: np.ndarray, y: np.ndarray) -> float:
        rows = np.arange(len(y))
        if self.spec.loss == "categorical_crossentropy":
            p = a[rows, y] / a.sum(axis=1)
            return float(-np.log(np.clip(p, EPS, 1 - EPS)).mean())
        t = np.clip(a, EPS, 1 - EPS)
        onehot = np.zeros_like(a)
        onehot[rows, y] = 1
        return float(-(onehot * np.log(t) + (1 - onehot) * np.log(1 - t)).mean())

    def penalty(self) -> float:
        s = self.spec
        return sum(
            s.l2 * float((w * w).sum()) + s.l1 * float(np.abs(w).sum())
            for l, w in enumerate(self.W)
            if s.regularized(l)
        )

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One mini-batch: forward, loss, backward, update; returns the loss before the step."""
        s, m = self.spec, len(y)
        acts = self.forward(x)
        a, rows = acts[-1], np.arange(m)
        loss = self.data_loss(a, y) + self.penalty()
        onehot = np.zeros_like(a)
        onehot[rows, y] = 1
        if s.loss == "categorical_crossentropy":
            total = a.sum(axis=1, keepdims=True)
            delta = a / total - onehot
            if s.output_activation == "sigmoid":
                delta = delta * (1 - a)
            delta = delta / m
        else:
            delta = (a - onehot) / (m * a.shape[1])
        for l in range(s.n_layers - 1, -1, -1):
            gw = acts[l].T @ delta
            gb = delta.sum(axis=0)
            if s.regularized(l):
                gw = gw + 2 * s.l2 * self.W[l] + s.l1 * np.sign(self.W[l])
            if l > 0:
                delta = (delta @ self.W[l].T) * derivative(acts[l], s.activation)
            self.W[l], self.vW[l] = self.update(self.W[l], gw, self.vW[l], lr)
            self.b[l], self.vb[l] = self.update(self.b[l], gb, self.vb[l], lr)
        return loss

    def update(self, p: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float) -> tuple:
        t = self.train
        if t.optimizer == "rmsprop":
            v = t.rho * v + (1 - t.rho) * g * g
            return p - lr * g / np.sqrt(v + t.epsilon), v
        if t.momentum:
            v = t.momentum * v - lr * g
            return p + v, v
        return p - lr * g, v

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
                total += self.step(x[idx], data.y[idx], self.dtype.type(lr)) * len(idx)
            acc = math.nan
            if t.train_accuracy != "none":
                acc = float((self.forward(x)[-1].argmax(axis=1) == data.y).mean())
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if on_epoch_end:
                on_epoch_end(api.EpochRecord(epoch, wall, cpu, total / n, acc))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        a = self.forward(x.astype(self.dtype, copy=False))[-1]
        return self.data_loss(a, y) + self.penalty(), float((a.argmax(axis=1) == y).mean())

    def weights(self) -> list[np.ndarray]:
        return [a for pair in zip(self.W, self.b) for a in pair]

    def info(self) -> dict[str, Any]:
        return {"numpy": np.__version__}
