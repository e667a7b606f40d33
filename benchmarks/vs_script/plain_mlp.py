"""A straightforward NumPy MLP, as a person writes it first: the yardstick `mlpbench run
--backend numpy` must beat (issue: the tuned backend against a plain script, same maths).

Fancy-index gather, ``A @ W + b``, in-place sigmoid, SGD with in-place momentum, binary
cross-entropy on sigmoid outputs, L2; OpenBLAS as shipped. Prints one line per epoch like
`mlpbench run` (``epoch   N/M   S s``). Usage: python plain_mlp.py BATCH EPOCHS DTYPE
"""

import sys
import time

import numpy as np

from mlpbench import data as datasets

batch, epochs, dtype = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
d = datasets.load(datasets.DataSpec(dataset="mnist"), dtype)
x, y = d.x, np.eye(10, dtype=dtype)[d.y]  # the packaged MNIST, one-hot labels
sizes, lr, momentum, l2 = [784, 70, 30, 10], 0.1, 0.9, 0.0001
rng = np.random.default_rng(0)
W = [rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:])]
B = [np.zeros(b, dtype) for b in sizes[1:]]
VW, VB = [np.zeros_like(w) for w in W], [np.zeros_like(b) for b in B]


def sigmoid(z):
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)
    return z


for epoch in range(epochs):
    t0 = time.perf_counter()
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        acts = [x[idx]]
        for w, b in zip(W, B):
            acts.append(sigmoid(acts[-1] @ w + b))
        delta = (acts[-1] - y[idx]) / len(idx)  # BCE on sigmoid outputs
        for i in range(len(W) - 1, -1, -1):
            gw = acts[i].T @ delta + l2 * W[i]
            gb = delta.sum(axis=0)
            if i:
                delta = (delta @ W[i].T) * acts[i] * (1 - acts[i])
            # in place, as a careful person writes it (issue 51: a yardstick that allocated new
            # momentum arrays every step was a little slower than a careful script)
            VW[i] *= momentum
            VW[i] -= lr * gw
            VB[i] *= momentum
            VB[i] -= lr * gb
            W[i] += VW[i]
            B[i] += VB[i]
    print(f"epoch {epoch + 1:3d}/{epochs}  {time.perf_counter() - t0:8.3f} s", flush=True)
