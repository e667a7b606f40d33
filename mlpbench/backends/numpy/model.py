"""The article's MLP, written to run as close to the BLAS as NumPy allows.

Layout, chosen for speed and kept readable:

* All parameters live in one flat vector ``params``; layer l is a view ``W_ext[l]`` of shape
  (n_in + 1, n_out) whose row 0 is the bias and rows 1: the kernel. The optimizer therefore
  updates every parameter with a handful of whole-vector NumPy calls.
* Batches are rows (batch, features), C-contiguous, gathered into preallocated buffers; every
  activation, delta and gradient has its own preallocated buffer and is written in place.
* The delta of the input layer is never computed (the article's main lesson).
* ``pad_to`` (plans ``*-pad``) rounds each hidden width up to a multiple: the BLAS kernels
  block the output columns, and a 70-wide product can run slower than a 72-wide one
  (`make benchmarks`: test_first_layer_gemm, w72-padded). The padded units' weights start at
  zero and their gradients are held at zero, so they stay zero, add exactly nothing to the next
  layer, and the network is the one specified (the GFLOP/s count the specified work only).
* GEMMs run on all BLAS threads; the element-wise work between them (gather, activations,
  deltas, the optimizer step) is cut into row ranges over as many Python threads
  (:class:`mlpbench.backends.numpy.rows.RowSplit`), since a ufunc alone uses one core.

The ablation switches (``compute_input_delta``, ``bias_as_column``) put the article's slower
variants back, each as one small named branch, so their cost can be measured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlpbench.api.protocol import ModelSpec, SpecError, TrainSpec
from mlpbench.backends.numpy.fused import Fused
from mlpbench.backends.numpy.outputs import EpochOutputs, loss_sum
from mlpbench.backends.numpy.rows import RowSplit


@dataclass(frozen=True)
class Ablation:
    """Switches that turn one optimization off each (all False = the fast path)."""

    compute_input_delta: bool = False  # back-propagate a delta to the input layer as well
    bias_as_column: bool = False  # glue a column of ones to each layer's input, per batch

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Ablation:
        return cls(
            compute_input_delta=bool(options.get("compute_input_delta", False)),
            bias_as_column=bool(options.get("bias_as_column", False)),
        )


class PhaseClock:
    """Accumulates seconds per phase; ``sync`` waits for an asynchronous device first."""

    def __init__(self, enabled: bool, sync: Callable[[], None] | None = None) -> None:
        self.enabled = enabled
        self.sync = sync
        self.totals: dict[str, float] = {}
        self._t = 0.0

    def start(self) -> None:
        if self.enabled:
            if self.sync:
                self.sync()
            self._t = time.perf_counter()

    def lap(self, phase: str) -> None:
        if self.enabled:
            if self.sync:
                self.sync()
            t = time.perf_counter()
            self.totals[phase] = self.totals.get(phase, 0.0) + t - self._t
            self._t = t

    def take(self) -> dict[str, float]:
        out, self.totals = self.totals, {}
        return out


class MLP:
    """A dense MLP with in-place forward, backward and optimizer steps."""

    def __init__(
        self,
        spec: ModelSpec,
        train: TrainSpec,
        dtype: str = "float32",
        xp: Any = np,
        ablation: Ablation | None = None,
        initial_weights: list[tuple[np.ndarray, np.ndarray]] | None = None,
        workers: int = 1,
        params: Any = None,
        transposed_gradient: bool = False,
        pad_to: int = 1,
        fused: bool = False,
    ) -> None:
        """``params``: another model's parameter vector to share (a data-parallel replica
        reads the same weights and writes only its own gradients); ``pad_to``: the multiple
        each hidden width is rounded up to (1: none); ``fused``: the element-wise work in
        fused kernels (:mod:`mlpbench.backends.numpy.fused`: few launches a step on a GPU)."""
        if spec.loss == "binary_crossentropy" and spec.output_activation != "sigmoid":
            raise SpecError(
                "loss = 'binary_crossentropy' needs output_activation = 'sigmoid' "
                f"(got {spec.output_activation!r})"
            )
        self.spec, self.train, self.xp = spec, train, xp
        self.dtype = np.dtype(dtype)
        # A loss or a count read back to the host waits for the device: on a GPU they stay
        # 0-d device arrays until the epoch ends (one read an epoch, not several a step); on
        # the CPU they are Python numbers as they always were.
        self.scalar: Callable[[Any], Any] = float if xp is np else _on_device
        self.ablation = ablation or Ablation()
        # A GPU array module runs element-wise work in parallel already.
        self.split = RowSplit(workers if xp is np else 1, setup=ignore_overflow)
        self.sizes = sizes = padded_widths(spec.layers, pad_to)  # the buffers' widths
        # Asked once here rather than per layer per step: the step's fixed Python work counts
        # at small batches (`make benchmarks`' test_step_python_overhead).
        self.n_layers = spec.n_layers
        self.regularized = [l for l in range(self.n_layers) if spec.regularized(l)]
        shapes = [(n_in + 1, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        total = sum(a * b for a, b in shapes)
        shared = params is not None
        self.params = params if shared else xp.zeros(total, dtype=self.dtype)
        self.grads = xp.zeros(total, dtype=self.dtype)
        self.W_ext, self.G_ext = [], []
        off = 0
        for shape in shapes:
            n = shape[0] * shape[1]
            self.W_ext.append(self.params[off : off + n].reshape(shape))
            self.G_ext.append(self.grads[off : off + n].reshape(shape))
            off += n
        # Views the fast path uses: kernel rows 1:, bias row 0 (both contiguous).
        self.W = [w[1:] for w in self.W_ext]
        self.b = [w[0] for w in self.W_ext]
        self.gW = [g[1:] for g in self.G_ext]
        self.gb = [g[0] for g in self.G_ext]
        # The specified network inside the padded one, and the padded input rows (units) of
        # each layer's kernel whose gradient is held at zero (none without padding).
        self.real = [(slice(0, a), slice(0, b)) for a, b in zip(spec.layers[:-1], spec.layers[1:])]
        self.padded_rows = [
            (l, spec.layers[l]) for l in range(1, self.n_layers) if sizes[l] > spec.layers[l]
        ]
        if not shared:
            init = (
                initial_weights if initial_weights is not None else spec.initial_weights(train.seed)
            )
            self.set_weights(init)
        self.transposed_gradient = transposed_gradient
        # (n_out, n_in) scratch for each kernel's gradient, computed transposed
        self.gT = [xp.zeros((b, a - 1), dtype=self.dtype) for a, b in shapes if transposed_gradient]
        # Optimizer state and scratch, whole-vector.
        self.state = xp.zeros(total, dtype=self.dtype)
        self.scratch = xp.zeros(total, dtype=self.dtype)
        self.eye = xp.eye(sizes[-1], dtype=self.dtype)  # one-hot rows, gathered per batch
        self.fused: Fused | None = None
        if fused:
            self.fused = Fused(xp)
            # 1 where the penalty applies (the kernel rows of regularized layers), else 0
            mask, off = np.zeros(total, dtype=self.dtype), 0
            for l, (a, b) in enumerate(shapes):
                if l in self.regularized:
                    mask[off + b : off + a * b] = 1
                off += a * b
            self.penalty_mask = xp.asarray(mask)
        self.fused_output = (
            fused
            and spec.loss == "categorical_crossentropy"
            and (spec.output_activation == "sigmoid" and not self.ablation.bias_as_column)
        )
        self.fused_update = fused and train.optimizer == "rmsprop"
        self._batch = 0
        self.source_rows_scratch: Any = None  # a SourceRows gather's buffer (source_scratch)
        self.step_source: Any = None  # that buffer while an epoch gathers from SourceRows
        # 1 / the SourceRows divisor while an epoch trains on them (the batch then holds the
        # source values, and the first layer scales: see SourceRows), else None
        self.input_scale: Any = None
        self._alloc(1)

    # ----------------------------------------------------------------- buffers
    def _alloc(self, batch: int) -> None:
        """Preallocate every per-batch array for batches of up to ``batch`` rows."""
        xp, dt, sizes = self.xp, self.dtype, self.sizes
        self._batch = batch
        self.X = xp.zeros((batch, sizes[0]), dtype=dt)
        self.A = [self.X] + [xp.zeros((batch, n), dtype=dt) for n in sizes[1:]]
        self.delta = [xp.zeros((batch, n), dtype=dt) for n in sizes]
        self.tmp = [xp.zeros((batch, n), dtype=dt) for n in sizes]
        self.rowsum = xp.zeros((batch, 1), dtype=dt)
        self.onehot = xp.zeros((batch, sizes[-1]), dtype=dt)  # the batch's labels, one-hot
        self.rows = xp.arange(batch)
        self.ones = xp.ones(batch, dtype=dt)
        self.neg_b = [xp.zeros(n, dtype=dt) for n in sizes[1:]]
        self.A_ext: list[Any] = [None] * self.spec.n_layers  # bias_as_column only
        # the steps' outputs and labels, for the epoch's loss and batch accuracy
        self.outputs = EpochOutputs(
            xp, self.spec.loss, sizes[-1], dt, batch, self.scalar, self.count
        )
        if self.fused is not None:  # the fused output's loss terms and hit marks
            self.loss_terms = xp.zeros((batch, sizes[-1]), dtype=dt)
            self.hit_marks = xp.zeros((batch, sizes[-1]), dtype=dt)

    def ensure_batch(self, batch: int) -> None:
        if batch > self._batch:
            self._alloc(batch)

    def count(self, hits: Any) -> Any:
        """How many of ``hits`` are true (or 1, the fused hit marks): an int on the CPU, a device
        value on a GPU."""
        total = hits.sum()
        return int(total) if self.xp is np else total

    def source_scratch(self, x: Any, m: int) -> Any:
        """The (m, n_in) buffer of the source dtype a :class:`SourceRows` gather goes
        through (None for float rows), kept between steps."""
        if not isinstance(x, SourceRows):
            return None
        S = self.source_rows_scratch
        if S is None or S.shape[0] < m or S.dtype != x.rows.dtype:
            S = np.empty((max(m, self._batch), x.rows.shape[1]), x.rows.dtype)
            self.source_rows_scratch = S
        return S[:m]

    # ----------------------------------------------------------------- weights
    def set_weights(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        for l, (w, b) in enumerate(pairs):
            rows, cols = self.real[l]
            self.W[l][rows, cols] = self.xp.asarray(w, dtype=self.dtype)
            self.b[l][cols] = self.xp.asarray(b, dtype=self.dtype)

    def get_weights(self) -> list[np.ndarray]:
        out = []
        for (rows, cols), w, b in zip(self.real, self.W, self.b):
            out += [_to_numpy(w[rows, cols]).copy(), _to_numpy(b[cols]).copy()]  # C order
        return out

    # ----------------------------------------------------------------- forward
    def forward(self, m: int) -> Any:
        """Forward the first ``m`` rows of ``self.X``; returns the output activations."""
        last = self.n_layers - 1
        for l in range(self.n_layers):
            Z = self.A[l + 1][:m]
            act = self.spec.output_activation if l == last else self.spec.activation
            scale = self.input_scale if l == 0 else None
            if self.ablation.bias_as_column:
                # The article's way: a new array with a column of ones, every batch, every layer.
                A_ext = self.xp.ones((m, self.sizes[l] + 1), dtype=self.dtype)
                self.xp.multiply(self.A[l][:m], 1 if scale is None else scale, out=A_ext[:, 1:])
                self.A_ext[l] = A_ext
                self.xp.matmul(A_ext, self.W_ext[l], out=Z)
                self._activate(Z, act, self.rowsum[:m])
            else:
                self.xp.matmul(self.A[l][:m], self.W[l], out=Z)
                if scale is not None:  # (X / divisor) W as (X W) / divisor: a 70-wide pass
                    Z *= scale
                if self.fused is not None and act == "sigmoid":
                    self.fused.bias_sigmoid(self.b[l], Z)
                else:
                    self.split(m, self._bias_and_activation(Z, l, act), Z.shape[1])
        return self.A[-1][:m]

    def _bias_and_activation(self, Z: Any, l: int, act: str) -> Callable[[int, int], None]:
        """The row job that turns ``Z = A W`` into ``f(Z + b)`` in place (for sigmoid it first
        refreshes ``-b``, once for all the ranges)."""
        xp, b = self.xp, self.b[l]
        if act == "sigmoid":
            # 1 / (1 + exp(-(AW + b))): the bias add and the negation are one pass.
            neg_b = self.neg_b[l]
            xp.negative(b, out=neg_b)

            def sigmoid(lo: int, hi: int) -> None:
                z = Z[lo:hi]
                xp.subtract(neg_b, z, out=z)
                self._sigmoid_of_negated(z)

            return sigmoid

        def other(lo: int, hi: int) -> None:
            Z[lo:hi] += b
            self._activate(Z[lo:hi], act, self.rowsum[lo:hi])

        return other

    def _sigmoid_of_negated(self, Z: Any) -> None:
        """Z <- 1 / (1 + exp(Z)) in place, for Z holding -z. exp overflows to inf for z < -88
        (float32), giving exactly 0: the right limit, so the warning is silenced: by
        :func:`ignore_overflow` in the row split's threads and around the callers' loops
        (NumPy's error state is per thread; entering it per call cost 1.5% of a batch-100
        step). ``divide(1, Z)``, not ``reciprocal``: the same bits, and NumPy's float32
        division loop is the faster (`make benchmarks`: test_sigmoid_last_pass)."""
        xp = self.xp
        xp.exp(Z, out=Z)
        Z += 1.0
        xp.divide(1.0, Z, out=Z)

    def _activate(self, Z: Any, name: str, s: Any) -> None:
        """f(Z) in place; ``s`` is a (rows, 1) scratch column for softmax."""
        xp = self.xp
        if name == "sigmoid":
            xp.negative(Z, out=Z)
            self._sigmoid_of_negated(Z)
        elif name == "tanh":
            xp.tanh(Z, out=Z)
        elif name == "relu":
            xp.maximum(Z, 0, out=Z)
        else:  # softmax
            xp.max(Z, axis=1, keepdims=True, out=s)
            Z -= s
            xp.exp(Z, out=Z)
            xp.sum(Z, axis=1, keepdims=True, out=s)
            Z /= s

    # ----------------------------------------------------------------- loss
    def data_loss(self, y: Any, m: int) -> float:
        """Mean loss of the first ``m`` output rows against labels ``y``, without the penalty;
        Keras's definitions and clipping (:func:`mlpbench.backends.numpy.outputs.loss_sum`)."""
        return self._sum_over_rows(m, lambda lo, hi: self._data_loss_sum(y, lo, hi)) / m

    def _sum_over_rows(self, m: int, part: Callable[[int, int], float]) -> float:
        """The sum of ``part(lo, hi)`` over the row ranges of the output layer's split."""
        if self.split.workers == 1:  # one range, no hand-off
            return part(0, m)
        sums: dict[int, float] = {}  # keyed by each range's first row

        def job(lo: int, hi: int) -> None:
            sums[lo] = part(lo, hi)

        self.split(m, job, self.spec.layers[-1])
        return sum(sums.values())

    def _data_loss_sum(self, y: Any, lo: int, hi: int) -> float:
        t, u = self.tmp[-1][lo:hi], self.delta[-1][lo:hi]  # delta is free until it is written
        return self.scalar(loss_sum(self.xp, self.spec.loss, self.A[-1][lo:hi], y[lo:hi], t, u))

    def _one_hot(self, yb: Any, lo: int, hi: int) -> Any:
        """Rows lo:hi's labels as one-hot rows (one gather from an identity matrix): the
        binary cross-entropy's delta then needs no fancy indexing, whose cost dominated the
        step at small batches."""
        Y = self.onehot[lo:hi]
        self.xp.take(self.eye, yb, axis=0, out=Y)
        return Y

    def output_delta(self, y: Any, m: int, batch: int = 0, scale: float = 1.0) -> None:
        """dL/dz of the mean batch loss at the output layer, times ``scale``, into
        ``delta[-1]`` (the loss itself is taken from the epoch's outputs,
        :class:`EpochOutputs`). ``batch``: the rows of the whole batch when these ``m`` are
        one block of it (the mean is over the batch), else ``m``."""
        f = scale / (batch or m)
        if self.split.workers == 1:  # the usual case on the hot path: one range, no hand-off
            self._output_delta_rows(y, 0, m, f)
        else:
            self.split(
                m, lambda lo, hi: self._output_delta_rows(y, lo, hi, f), self.spec.layers[-1]
            )

    def _output_delta_rows(self, y: Any, lo: int, hi: int, f: float) -> None:
        """The output delta of rows lo:hi, times ``f`` (the scale over the batch's rows)."""
        xp, rows, yb = self.xp, self.rows[: hi - lo], y[lo:hi]
        a, d = self.A[-1][lo:hi], self.delta[-1][lo:hi]
        if self.spec.loss == "categorical_crossentropy":
            s = self.rowsum[lo:hi]
            xp.sum(a, axis=1, keepdims=True, out=s)
            xp.divide(a, s, out=d)
            d[rows, yb] -= 1  # a/s - y; for softmax s = 1 and this is a - y
            if self.spec.output_activation == "sigmoid":  # d/dz = (1 - a)(a/s - y)
                t = self.tmp[-1][lo:hi]
                xp.subtract(1, a, out=t)
                d *= t
            d *= f
        else:
            # binary cross-entropy on sigmoid outputs: dL/dz = (a - y) / (m * outputs)
            xp.subtract(a, self._one_hot(yb, lo, hi), out=d)
            d *= f / d.shape[1]

    def penalty(self) -> float:
        total, l1, l2 = 0.0, self.spec.l1, self.spec.l2
        if self.fused is not None and self.regularized and (l1 > 0 or l2 > 0):
            return self.scalar(self.fused.penalty(self.params, self.penalty_mask, l2, l1))
        for l in self.regularized:
            W = self.W[l]
            if l2 > 0:
                total += l2 * self.scalar(self.xp.vdot(W, W))
            if l1 > 0:
                total += l1 * self.scalar(self.xp.abs(W).sum())
        return total

    # ----------------------------------------------------------------- backward
    def backward(self, m: int, scale: float = 1.0) -> None:
        """Gradients of the mean batch loss into ``grads``, times ``scale`` (the output
        delta's); needs forward() and the output delta. (With the fused update, the penalty's
        gradient is added in the update.)"""
        self.backprop(m)
        if not self.fused_update:
            self._regularize_gradient(scale)

    def backprop(self, m: int) -> None:
        """Gradients of the data loss alone (no penalty) into ``grads``."""
        xp = self.xp
        for l in reversed(range(self.n_layers)):
            d = self.delta[l + 1][:m]
            if self.ablation.bias_as_column:
                xp.matmul(self.A_ext[l].T, d, out=self.G_ext[l])
            elif self.transposed_gradient:
                # (D^T A)^T: the same product, which some BLAS kernels run faster (see
                # `make benchmarks`, weight_gradient_transposed); the transpose costs one copy,
                # which also scales the first layer's gradient from source values (SourceRows).
                xp.matmul(d.T, self.A[l][:m], out=self.gT[l])
                if l == 0 and self.input_scale is not None:
                    xp.multiply(self.gT[l].T, self.input_scale, out=self.gW[l])
                else:
                    xp.copyto(self.gW[l], self.gT[l].T)
            elif l == 0 and self.input_scale is not None and self._scale_delta(m):
                # SourceRows: the bias gradient from the delta as it is, then the delta scaled
                # in place (m x n values) rather than the gradient (n_in x n; at batch 100 a
                # pass over 7,200 values, not 56,000); the input delta is not computed from it
                xp.matmul(self.ones[:m], d, out=self.gb[0])
                d *= self.input_scale
                xp.matmul(self.A[0][:m].T, d, out=self.gW[0])
                continue
            else:
                xp.matmul(self.A[l][:m].T, d, out=self.gW[l])
                if l == 0 and self.input_scale is not None:
                    self.gW[l] *= self.input_scale
            if not self.ablation.bias_as_column:
                xp.matmul(self.ones[:m], d, out=self.gb[l])  # column sums; BLAS beats sum()
            if l > 0 or self.ablation.compute_input_delta:
                self._propagate_delta(l, m)
        for l, real in self.padded_rows:
            # The padded units output sigmoid(0) = 0.5, so their outgoing weights would learn:
            # held at zero, they keep adding exactly nothing.
            self.G_ext[l][1 + real :] = 0

    def _scale_delta(self, m: int) -> bool:
        """Whether the first layer's delta (``m`` rows) is smaller than its weight gradient, so
        that scaling it from source values costs less (and no input delta is computed)."""
        return m < self.sizes[0] and not self.ablation.compute_input_delta

    def _propagate_delta(self, l: int, m: int) -> None:
        """delta[l] = (delta[l+1] @ W[l].T) * f'(A[l])."""
        xp = self.xp
        d_next, d, A, t = self.delta[l + 1][:m], self.delta[l][:m], self.A[l][:m], self.tmp[l][:m]
        if self.ablation.bias_as_column:
            # The article's way: propagate through the bias row too, then drop its column.
            d[...] = (d_next @ self.W_ext[l].T)[:, 1:]
        else:
            xp.matmul(d_next, self.W[l].T, out=d)
        act = "sigmoid" if l == 0 else self.spec.activation  # the input layer as in the article
        if self.fused is not None and act == "sigmoid":
            self.fused.sigmoid_delta(A, d)
            return

        def derivative(lo: int, hi: int) -> None:
            a, u = A[lo:hi], t[lo:hi]
            if act == "sigmoid":
                xp.subtract(1, a, out=u)
                u *= a
            elif act == "tanh":
                xp.square(a, out=u)
                xp.subtract(1, u, out=u)
            else:  # relu: a >= 0, so sign(a) is the 0/1 mask
                xp.sign(a, out=u)
            d[lo:hi] *= u

        self.split(m, derivative, d.shape[1])

    def _regularize_gradient(self, scale: float = 1.0) -> None:
        """The penalty's gradient added to ``grads``, times ``scale`` (the gradients'
        :meth:`gradient_scale`)."""
        l1, l2 = self.spec.l1, self.spec.l2
        if l1 == 0 and l2 == 0:
            return
        for l in self.regularized:
            W, g = self.W[l], self.gW[l]
            s = self.scratch[: W.size].reshape(W.shape)
            if l2 > 0:
                self.xp.multiply(W, 2.0 * l2 * scale, out=s)
                g += s
            if l1 > 0:
                self.xp.sign(W, out=s)
                s *= l1 * scale
                g += s

    # ----------------------------------------------------------------- update
    def gradient_scale(self, lr: float) -> float:
        """What a step's gradients are computed times (the output delta carries it, and every
        gradient with it), so that the update needs one pass less over the parameters a step
        (issue 51): ``lr`` for SGD, whose update needs only lr times the gradient;
        ``sqrt(1 - rho)`` for RMSprop, whose average needs (1 - rho) times its square; 1 for
        the fused update, which takes the gradient itself."""
        if self.fused_update:
            return 1.0
        return lr if self.train.optimizer == "sgd" else math.sqrt(1.0 - self.train.rho)

    def update(self, lr: float, scale: float = 1.0) -> None:
        """One optimizer step over the whole parameter vector, Keras's update rules;
        ``grads`` hold ``scale`` times the gradient."""
        if self.fused_update:
            t, spec = self.train, self.spec
            self.fused.rmsprop(  # type: ignore[union-attr]
                self.penalty_mask, lr, t.rho, t.epsilon, spec.l2, spec.l1,
                self.params, self.grads, self.state,
            )  # fmt: skip
            return
        self.split(self.params.size, lambda lo, hi: self._update_range(lr, lo, hi, scale))

    def _update_range(self, lr: float, lo: int, hi: int, scale: float = 1.0) -> None:
        xp, t = self.xp, self.train
        g, p, v, s = (a[lo:hi] for a in (self.grads, self.params, self.state, self.scratch))
        if t.optimizer == "rmsprop":
            # v = rho v + (1-rho) g^2 ; w -= lr g / sqrt(v + eps), with g = grads / scale
            v *= t.rho
            xp.square(g, out=s)
            f = (1.0 - t.rho) / (scale * scale)
            if not math.isclose(f, 1.0, rel_tol=1e-12):  # a step's own scale needs no pass
                s *= f
            v += s
            xp.add(v, t.epsilon, out=s)
            xp.sqrt(s, out=s)
            xp.divide(g, s, out=s)
            s *= lr / scale
            p -= s
            return
        if scale != lr:  # grads hold scale * gradient; a step's own scale (lr) needs no pass
            g *= lr / scale  # in place: the next backward overwrites it, no scratch
        if t.momentum:  # v = m v - lr g ; w += v
            v *= t.momentum
            v -= g
            p += v
        else:
            p -= g

    # ----------------------------------------------------------------- epochs
    def train_epoch(
        self,
        x: Any,
        y: Any,
        order: Any,
        lr: float,
        clock: PhaseClock,
        batch_accuracy: bool = False,
    ) -> tuple[float, float]:
        """One pass over the data in ``order``; returns (mean loss, batch accuracy or NaN)."""
        n, B = len(order), self.train.batch_size
        self.ensure_batch(min(B, n))
        self.step_source = self.source_scratch(x, min(B, n))  # once an epoch, not a step
        outputs = self.outputs
        outputs.take()  # nothing left from steps outside an epoch
        outputs.accuracy = batch_accuracy
        with np.errstate(over="ignore"), source_values(self, x):  # see _sigmoid_of_negated
            for start in range(0, n, B):
                clock.start()
                self.step(x, y, order[start : start + B], lr, clock)
            loss_sum, correct = outputs.take()
        # the epoch's one read from a device (none on the CPU: these are numbers already)
        return float(loss_sum) / n, (int(correct) / n if batch_accuracy else float("nan"))

    def step(self, x: Any, y: Any, idx: Any, lr: float, clock: PhaseClock) -> None:
        """One batch, rows ``x[idx]``. Its loss (with the penalty at the weights it was
        computed with) and its hits go to :attr:`outputs`, read by ``outputs.take()``."""
        xp, X, m = self.xp, self.X, len(idx)
        S = self.step_source  # the SourceRows buffer train_epoch sized, else None
        self.split(
            m,
            lambda lo, hi: gather(xp, x, idx[lo:hi], X[lo:hi], S[lo:hi] if S is not None else None),
            X.shape[1],
        )
        yb = y[idx]
        clock.lap("shuffle")
        out = self.forward(m)
        log, scale = self.outputs, self.gradient_scale(lr)
        if self.fused_output:
            e, h, fused = self.loss_terms[:m], self.hit_marks[:m], self.fused
            fused.output_delta(out, yb, scale / m, 1.0 / m, self.delta[-1][:m], e, h)  # type: ignore[union-attr]
            log.add(self.scalar(e.sum()) * m, self.count(h) if log.accuracy else 0)
        else:
            log.put(log.reserve(m), out, yb)
            self.output_delta(yb, m, scale=scale)
        log.add(self.penalty() * m)
        clock.lap("forward")
        self.backward(m, scale)
        clock.lap("backward")
        self.update(lr, scale)
        clock.lap("update")

    def predict_scores(self, x: Any, y: Any, chunk: int = 0) -> tuple[float, float]:
        """(mean loss + penalty, accuracy) over a whole set, forwarded in chunks."""
        n = len(x)
        chunk = chunk or max(self._batch, min(n, 10000))
        self.ensure_batch(min(chunk, n))
        chunk = min(chunk, self._batch)
        loss_sum, correct = 0.0, 0
        with np.errstate(over="ignore"):  # see _sigmoid_of_negated
            for start in range(0, n, chunk):
                xs, ys = x[start : start + chunk], y[start : start + chunk]
                m = len(xs)
                self.X[:m] = xs
                out = self.forward(m)
                loss_sum += self.data_loss(ys, m) * m
                correct += int((out.argmax(axis=1) == ys).sum())
        return float(loss_sum / n + self.penalty()), correct / n


def padded_widths(layers: Any, pad_to: int = 1) -> list[int]:
    """The layer widths with each hidden one rounded up to a multiple of ``pad_to``."""
    pad = max(1, int(pad_to))
    return [layers[0], *(-(-n // pad) * pad for n in layers[1:-1]), layers[-1]]


def ignore_overflow() -> None:
    """Set in each row-split thread, once: its exp overflows are the sigmoid's right limit
    (:meth:`MLP._sigmoid_of_negated`)."""
    np.seterr(over="ignore")


def _on_device(value: Any) -> Any:
    """A device value left where it is (the identity: no read, no wait)."""
    return value


@dataclass(frozen=True)
class SourceRows:
    """The training rows in their source dtype (uint8 for MNIST), ``x = rows / divisor``: a
    batch gathered from them moves a quarter of the bytes of float32 rows (784 a row, not
    3136) and is converted to the run's dtype, exactly (option ``source_rows``, on unless set
    false; float rows, as from a CSV, are gathered as they are). The division is not done per
    element: the first layer computes ``(X W) * (1 / divisor)`` and scales its weight gradient
    the same way (passes over 70-wide arrays instead of one over the 784-wide batch, which took
    as long as the gather itself). So the results equal the float rows' to float rounding,
    not bit for bit."""

    rows: np.ndarray
    divisor: Any  # a scalar of the run's dtype

    @property
    def scale(self) -> Any:
        return type(self.divisor)(1) / self.divisor


@contextmanager
def source_values(model: MLP, x: Any) -> Iterator[None]:
    """While an epoch gathers from :class:`SourceRows`, ``model`` scales its first layer
    (:attr:`MLP.input_scale`); afterwards (an evaluation of float rows) it does not."""
    model.input_scale = x.scale if isinstance(x, SourceRows) else None
    try:
        yield
    finally:
        model.input_scale = None


def gather(xp: Any, x: Any, idx: Any, out: Any, scratch: Any = None) -> None:
    """out[:] = x[idx] without a temporary (mode="clip" skips NumPy's buffered bounds check);
    from :class:`SourceRows` when given their ``scratch`` (the source dtype, ``out``'s shape;
    no type test on the hot path): the source values, converted exactly, not divided."""
    if scratch is not None:
        np.take(x.rows, idx, axis=0, out=scratch, mode="clip")
        np.copyto(out, scratch)
    elif xp is np:
        np.take(x, idx, axis=0, out=out, mode="clip")
    else:
        xp.take(x, idx, axis=0, out=out)


def _to_numpy(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)
