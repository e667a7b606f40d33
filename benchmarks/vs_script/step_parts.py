"""Where the tool's step stands against the careful script's at small batches, in one process
on real MNIST (issue 51): the tuned backend's ``MLP.step`` against plain_mlp.py's step, each
timed over the same batches in turn (the tool's loss taken from its outputs once a pass, as an
epoch does), and the tool's step again with its L2 penalty switched off (what the script does
not compute). Same-moment ratios, not absolute
figures: a step's cost drifts as training goes on.

    python benchmarks/vs_script/step_parts.py THREADS BATCH PLAN   (e.g. 2 100 spin-pad)
"""

from __future__ import annotations

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mlpbench import data as datasets
from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.numpy.model import PhaseClock
from mlpbench.backends.numpy.trainer import NumpyTrainer

SIZES, LR, MOMENTUM, L2 = (784, 70, 30, 10), 0.1, 0.9, 0.0001  # plain_mlp.py's maths


def main(threads: int, batch: int, plan: str) -> None:
    d = datasets.load(datasets.DataSpec(dataset="mnist"), "float32")
    x, y = d.x[:12000], d.y[:12000]
    onehot = np.eye(10, dtype=np.float32)[y]
    spec = ModelSpec(layers=SIZES, loss="binary_crossentropy", l2=L2)
    train = TrainSpec(batch_size=batch, optimizer="sgd", momentum=MOMENTUM, learning_rate=LR)
    tool = NumpyTrainer(spec, train, options={"threads": threads, "plan": plan}).model
    tool.ensure_batch(batch)
    tool.step_source = None
    clock = PhaseClock(enabled=False)
    rng = np.random.default_rng(0)
    W = [rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32) for a, b in zip(SIZES, SIZES[1:])]
    B = [np.zeros(b, np.float32) for b in SIZES[1:]]
    VW, VB = [np.zeros_like(w) for w in W], [np.zeros_like(b) for b in B]

    def sigmoid(z: np.ndarray) -> np.ndarray:
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1
        return np.reciprocal(z, out=z)

    def script_step(idx: np.ndarray) -> None:  # benchmarks/vs_script/plain_mlp.py's step
        acts = [x[idx]]
        for w, b in zip(W, B):
            acts.append(sigmoid(acts[-1] @ w + b))
        delta = (acts[-1] - onehot[idx]) / len(idx)
        for i in range(len(W) - 1, -1, -1):
            gw, gb = acts[i].T @ delta + L2 * W[i], delta.sum(axis=0)
            if i:
                delta = (delta @ W[i].T) * acts[i] * (1 - acts[i])
            VW[i] *= MOMENTUM
            VW[i] -= LR * gw
            VB[i] *= MOMENTUM
            VB[i] -= LR * gb
            W[i] += VW[i]
            B[i] += VB[i]

    order = rng.permutation(len(x))

    def per_step_us(step) -> float:
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for s in range(0, len(x), batch):
                step(order[s : s + batch])
            best = min(best, time.perf_counter() - t0)
        return 1e6 * best / -(-len(x) // batch)

    def tool_step(idx: np.ndarray) -> None:
        tool.step(x, y, idx, LR, clock)
        if idx[-1] == order[-1]:  # the pass's end: its loss, as an epoch's end takes it
            tool.outputs.take()

    penalty = tool.penalty
    with np.errstate(over="ignore"), threadpool_limits(threads):
        for label, with_penalty in (("with its loss", True), ("penalty off", False)):
            tool.penalty = penalty if with_penalty else (lambda: 0.0)
            for _ in range(3):
                t, s = per_step_us(tool_step), per_step_us(script_step)
                print(f"threads {threads} batch {batch} {plan}, tool {label}: {t:.0f} us a "
                      f"step, script {s:.0f} us, tool/script {t / s:.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
