"""A training step's GEMMs alone, at the shapes of a network and batch: the bound no step of
the same maths can pass (the gap to a real step is its work outside GEMMs). Shared by
`make benchmarks` (test_gemm_only_step) and benchmarks/vs_script/run.py (its page's "GEMMs
alone" column)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mlpbench.backends.numpy.model import padded_widths


def gemm_only_step(
    layers: Sequence[int], batch: int, dtype: str = "float32", pad_to: int = 1
) -> Callable[[], None]:
    """One call runs the forward products, the weight gradients and the hidden layers'
    deltas (the input layer's delta is never computed), into preallocated outputs."""
    rng = np.random.default_rng(0)
    sizes = padded_widths(layers, pad_to)
    A = [rng.random((batch, n)).astype(dtype) for n in sizes]
    D = [rng.random((batch, n)).astype(dtype) for n in sizes]
    W = [rng.random((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    G = [np.empty_like(w) for w in W]

    def gemms() -> None:
        for l in range(len(W)):
            np.matmul(A[l], W[l], out=A[l + 1])
        for l in reversed(range(len(W))):
            np.matmul(A[l].T, D[l + 1], out=G[l])
            if l:
                np.matmul(D[l + 1], W[l].T, out=D[l])

    return gemms
