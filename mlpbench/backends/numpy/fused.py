"""Fused element-wise kernels for the NumPy backend's step on a GPU (option ``fused``).

Why: on CuPy each array call is one kernel launch of some 10-20 us of Python and driver time,
and the unfused step makes about 70 of them on a three-layer network; at the article's sizes
the launches, not the arithmetic, are the step (docs/numpy-backend.md). Here each run of
element-wise work is one kernel: the bias add and the sigmoid; the sigmoid's derivative; the
output delta with its loss terms and hit marks (the categorical cross-entropy of sigmoid
outputs, normalised per row, as Keras computes it); the L1/L2 gradient and the RMSprop update
over the whole parameter vector; the penalty as one reduction.

Each kernel has CUDA source (``cupy.ElementwiseKernel`` / ``cupy.ReductionKernel``, compiled
once) and a NumPy reference of the same maths, which runs where the array module has no
kernels (NumPy: the parity tests train with it on the CPU) and stands in for the CUDA source
in tests/test_gpu_step.py's fake device. Only the maths of the unfused step is fused: results
equal it to float32 rounding (the order of a few additions differs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EPS = 1e-7  # Keras's epsilon, to clip probabilities in the loss (the unfused step's too)


@dataclass(frozen=True)
class Kernel:
    """One fused kernel: CuPy's parameter lists and CUDA body, and its NumPy reference
    (called with the same arguments, outputs last, written in place)."""

    name: str
    in_params: str
    out_params: str
    operation: str
    reference: Callable[..., Any]
    reduce: tuple[str, str, str] | None = None  # (reduce_expr, post_map_expr, identity)


def _bias_sigmoid(b: Any, z: Any) -> None:
    np.subtract(np.negative(b), z, out=z)  # -(z + b), as the unfused step has it
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)


def _sigmoid_delta(a: Any, d: Any) -> None:
    d *= (1 - a) * a


def _output_delta(a: Any, y: Any, n: int, scale: Any, inv_batch: Any, d: Any, e: Any, h: Any):
    """Flat (m * n) views: the delta of the mean categorical cross-entropy of sigmoid outputs
    normalised per row (Keras), each label's loss term over the batch, and 1 where the label
    is its row's first maximum (argmax) else 0."""
    a2, m = a.reshape(-1, n), len(a) // n
    p = a2 / a2.sum(axis=1, keepdims=True)
    hit = np.zeros_like(a2)
    hit[np.arange(m), y] = 1
    d.reshape(-1, n)[...] = (p - hit) * (1 - a2) * scale
    e.reshape(-1, n)[...] = hit * -np.log(np.clip(p, EPS, 1 - EPS)) * inv_batch
    first_max = np.asarray(a2.argmax(axis=1) == y, dtype=a.dtype)
    h.reshape(-1, n)[...] = hit * first_max[:, None]


def _rmsprop(mask: Any, lr: Any, rho: Any, eps: Any, l2x2: Any, l1: Any, p: Any, g: Any, v: Any):
    g += mask * (l2x2 * p + l1 * np.sign(p))
    v *= rho
    v += (g * g) * (1 - rho)
    p -= (g / np.sqrt(v + eps)) * lr


def _penalty(p: Any, mask: Any, l2: Any, l1: Any) -> Any:
    w = p * mask
    return np.asarray(l2 * np.vdot(w, w) + l1 * np.abs(w).sum(), dtype=p.dtype)


KERNELS = {
    k.name: k
    for k in (
        Kernel("mlpbench_bias_sigmoid", "T b", "T z", "z = 1 / (1 + exp(-(z + b)))", _bias_sigmoid),
        Kernel("mlpbench_sigmoid_delta", "T a", "T d", "d = d * ((1 - a) * a)", _sigmoid_delta),
        Kernel(
            "mlpbench_output_delta",
            "raw T a, raw I y, int32 n, T scale, T inv_batch",
            "T d, T e, T h",
            """
            const ptrdiff_t row = i / n, col = i % n, first = row * n;
            const T mine = a[i];
            T s = 0;
            bool top = true;
            for (ptrdiff_t j = 0; j < n; ++j) {
                const T other = a[first + j];
                s += other;
                if (j < col ? other >= mine : (j > col && other > mine)) top = false;
            }
            const T p = mine / s;
            const bool label = (ptrdiff_t)y[row] == col;
            const T lo = (T)EPS, hi = (T)(1 - EPS);
            d = (p - (label ? (T)1 : (T)0)) * (1 - mine) * scale;
            e = label ? -log(p < lo ? lo : (p > hi ? hi : p)) * inv_batch : (T)0;
            h = (label && top) ? (T)1 : (T)0;
            """.replace("EPS", repr(EPS)),
            _output_delta,
        ),
        Kernel(
            "mlpbench_rmsprop",
            "T mask, T lr, T rho, T eps, T l2x2, T l1",
            "T p, T g, T v",
            """
            g = g + mask * (l2x2 * p + l1 * (T)((p > 0) - (p < 0)));
            v = v * rho + (g * g) * (1 - rho);
            p = p - (g / sqrt(v + eps)) * lr;
            """,
            _rmsprop,
        ),
        Kernel(
            "mlpbench_penalty",
            "T p, T mask, T l2, T l1",
            "T y",
            "mask * (l2 * p * p + l1 * fabs(p))",
            _penalty,
            reduce=("a + b", "y = a", "0"),
        ),
    )
}


class Fused:
    """The kernels for one array module: CuPy's compiled ones where it has them, else the
    NumPy references (the same arguments; outputs written in place, a reduction returned)."""

    def __init__(self, xp: Any) -> None:
        self.compiled = hasattr(xp, "ElementwiseKernel") and hasattr(xp, "ReductionKernel")
        self._calls: dict[str, Callable[..., Any]] = {}
        for k in KERNELS.values():
            if not self.compiled:
                self._calls[k.name] = k.reference
            elif k.reduce:
                self._calls[k.name] = xp.ReductionKernel(
                    k.in_params, k.out_params, k.operation, *k.reduce, name=k.name
                )
            else:
                self._calls[k.name] = xp.ElementwiseKernel(
                    k.in_params, k.out_params, k.operation, name=k.name
                )

    def bias_sigmoid(self, b: Any, z: Any) -> None:
        """z <- sigmoid(z + b), b broadcast over the rows."""
        self._calls["mlpbench_bias_sigmoid"](b, z)

    def sigmoid_delta(self, a: Any, d: Any) -> None:
        """d <- d * a (1 - a): the sigmoid's derivative from its output."""
        self._calls["mlpbench_sigmoid_delta"](a, d)

    def output_delta(
        self, a: Any, y: Any, scale: float, inv_batch: float, d: Any, e: Any, h: Any
    ) -> None:
        """(m, n) arrays, contiguous: see :func:`_output_delta`."""
        n = a.shape[1]
        flat = [x.reshape(-1) for x in (a, d, e, h)]
        dt = a.dtype.type
        self._calls["mlpbench_output_delta"](
            flat[0], y, n, dt(scale), dt(inv_batch), flat[1], flat[2], flat[3]
        )

    def rmsprop(
        self, mask: Any, lr: float, rho: float, eps: float, l2: float, l1: float,
        p: Any, g: Any, v: Any,
    ) -> None:  # fmt: skip
        """g += the penalty's gradient where ``mask`` is 1; then Keras's RMSprop on p."""
        dt = p.dtype.type
        self._calls["mlpbench_rmsprop"](
            mask, dt(lr), dt(rho), dt(eps), dt(2.0 * l2), dt(l1), p, g, v
        )

    def penalty(self, p: Any, mask: Any, l2: float, l1: float) -> Any:
        """sum(mask * (l2 p^2 + l1 |p|)): a 0-d array, on the device where there is one."""
        dt = p.dtype.type
        return self._calls["mlpbench_penalty"](p, mask, dt(l2), dt(l1))
