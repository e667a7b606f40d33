"""A straightforward NumPy MLP, as a person writes it first: the yardstick `mlpbench run
--backend numpy` must beat (issue: the tuned backend against a plain script, same maths).

Fancy-index gather, ``A @ W + b``, in-place sigmoid, SGD with in-place momentum, binary
cross-entropy on sigmoid outputs, L2; OpenBLAS as shipped. Prints one line per epoch like
`mlpbench run` (``epoch   N/M   S s``). Usage: python plain_mlp.py BATCH EPOCHS DTYPE
(step_parts.py times its ``script_step`` against the tool's step in one process).
"""

import sys
import time

import numpy as np

from mlpbench import data as datasets

SIZES, LR, MOMENTUM, L2 = [784, 70, 30, 10], 0.1, 0.9, 0.0001


def sigmoid(z):
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)
    return z


def script_step(x, y, dtype, rng):
    """The script's training step over rows ``x[idx]`` (one-hot labels ``y[idx]``), with its
    weights drawn from ``rng``."""
    W = [rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(dtype) for a, b in zip(SIZES, SIZES[1:])]
    B = [np.zeros(b, dtype) for b in SIZES[1:]]
    VW, VB = [np.zeros_like(w) for w in W], [np.zeros_like(b) for b in B]

    def step(idx):
        acts = [x[idx]]
        for w, b in zip(W, B):
            acts.append(sigmoid(acts[-1] @ w + b))
        delta = (acts[-1] - y[idx]) / len(idx)  # BCE on sigmoid outputs
        for i in range(len(W) - 1, -1, -1):
            gw = acts[i].T @ delta + L2 * W[i]
            gb = delta.sum(axis=0)
            if i:
                delta = (delta @ W[i].T) * acts[i] * (1 - acts[i])
            # in place, as a careful person writes it (issue 51: a yardstick that allocated new
            # momentum arrays every step was a little slower than a careful script)
            VW[i] *= MOMENTUM
            VW[i] -= LR * gw
            VB[i] *= MOMENTUM
            VB[i] -= LR * gb
            W[i] += VW[i]
            B[i] += VB[i]

    return step


def main(batch, epochs, dtype):
    d = datasets.load(datasets.DataSpec(dataset="mnist"), dtype)
    x, y = d.x, np.eye(10, dtype=dtype)[d.y]  # the packaged MNIST, one-hot labels
    rng = np.random.default_rng(0)
    step = script_step(x, y, dtype, rng)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            step(order[start : start + batch])
        print(f"epoch {epoch + 1:3d}/{epochs}  {time.perf_counter() - t0:8.3f} s", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
