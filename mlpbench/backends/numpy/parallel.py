"""The data-parallel step: the batch cut into row blocks, one per thread, each block's gather,
forward and backward on its own thread with a single-threaded BLAS; the gradients summed in a
fixed order (block 0 + block 1 + ...), then one optimizer step.

Why: at the article's shapes a two-thread GEMM gains little over one (a 784x70 product is too
thin to share well), and every element-wise pass between the GEMMs (the gather, activations,
deltas) runs on one core. Cutting the batch gives each core whole passes, GEMMs included, with
one hand-off per step. Whether that beats the BLAS's own threads depends on the machine and the
batch, so ``mlpbench tune`` measures it (plan ``data-parallel``).

With ``chunk_rows``, each thread runs its block in pieces of at most that many rows, summing
their gradients (on one thread too): at large batches a 784-wide block of thousands of rows
outgrows the caches between its gather, its forward GEMM and its weight-gradient GEMM, and a
piece that stays cached runs those GEMMs faster (plan ``data-parallel-tgrad-pad-chunk``; the
best size depends on the caches, so it is a candidate that tune measures).

The weights differ from the serial step's only by float rounding: the weight gradient's sum over
the batch is taken per piece, then over pieces and blocks (``tests/test_plans.py`` bounds it).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.numpy.model import (
    MLP,
    Ablation,
    PhaseClock,
    gather,
    ignore_overflow,
    source_values,
)
from mlpbench.backends.numpy.rows import RowSplit


class DataParallelMLP(MLP):
    """An :class:`MLP` whose steps run ``workers`` replicas on row blocks of each batch. The
    replicas share this model's parameter vector and own their buffers and gradients."""

    def __init__(
        self,
        spec: ModelSpec,
        train: TrainSpec,
        dtype: str = "float32",
        ablation: Ablation | None = None,
        initial_weights: list[tuple[np.ndarray, np.ndarray]] | None = None,
        workers: int = 2,
        transposed_gradient: bool = False,
        pad_to: int = 1,
        chunk_rows: int = 0,
    ) -> None:
        """``chunk_rows``: the most rows of a block one pass holds (0: the whole block)."""
        shape = {"transposed_gradient": transposed_gradient, "pad_to": pad_to}
        super().__init__(spec, train, dtype, np, ablation, initial_weights, workers=1, **shape)
        self.blocks = RowSplit(workers, setup=ignore_overflow)
        self.replicas: list[MLP] = [self] + [
            MLP(spec, train, dtype, np, self.ablation, params=self.params, **shape)
            for _ in range(workers - 1)
        ]
        self.chunk_rows = max(0, int(chunk_rows))
        # each replica's gradient summed over its pieces (a block of one piece needs none)
        self.sums = [np.zeros_like(r.grads) for r in self.replicas] if self.chunk_rows else []
        # per batch size: its blocks, and each block's replica and pieces, by first row
        self._layouts: dict[int, tuple[int, dict[int, tuple[int, list[tuple[int, int]]]]]] = {}

    def train_epoch(self, x: Any, *args: Any, **kwargs: Any) -> tuple[float, float]:
        # One BLAS thread per replica: the blocks are the parallelism. Every replica scales
        # its first layer as this model does when the rows are SourceRows.
        with threadpool_limits(limits=1, user_api="blas"), ExitStack() as replicas:
            for r in self.replicas[1:]:
                replicas.enter_context(source_values(r, x))
            return super().train_epoch(x, *args, **kwargs)

    def step(self, x: Any, y: Any, idx: Any, lr: float, clock: PhaseClock) -> None:
        m, log, scale = len(idx), self.outputs, self.gradient_scale(lr)
        at = log.reserve(m)  # each block puts its rows there, from its own thread
        if m not in self._layouts:
            blocks = self.blocks.blocks(m)
            which = {lo: (k, self._pieces(lo, hi)) for k, (lo, hi) in enumerate(blocks)}
            self._layouts[m] = len(blocks), which
        n_blocks, which = self._layouts[m]
        totals: list[Any] = [None] * n_blocks  # each block's gradient

        def block(lo: int, hi: int) -> None:
            k, pieces = which[lo]
            r, cut = self.replicas[k], len(pieces) > 1
            for j, (a, b) in enumerate(pieces):
                rows = b - a
                r.ensure_batch(rows)
                ib = idx[a:b]
                gather(np, x, ib, r.X[:rows], r.source_scratch(x, rows))
                yb = y[ib]
                if k == 0:  # block 0 runs on the caller's thread: its phases stand for the step's
                    clock.lap("shuffle")
                log.put(at + a, r.forward(rows), yb)
                r.output_delta(yb, rows, batch=m, scale=scale)
                if k == 0:
                    clock.lap("forward")
                r.backprop(rows)
                if cut:  # backprop overwrites the replica's gradient: keep the pieces' sum
                    if j == 0:
                        np.copyto(self.sums[k], r.grads)
                    else:
                        self.sums[k] += r.grads
                    if k == 0 and j < len(pieces) - 1:
                        clock.lap("backward")
            totals[k] = self.sums[k] if cut else r.grads

        self.blocks.each(m, block)
        clock.lap("backward")  # block 0's backward and the wait for the others
        log.add(self.penalty() * m)  # the weights this batch was computed with
        self._sum_and_update(lr, totals, scale)
        clock.lap("update")

    def _pieces(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Rows lo:hi cut into the fewest near-equal pieces of at most ``chunk_rows``."""
        n, c = hi - lo, self.chunk_rows
        parts = 1 if c == 0 or n <= c else -(-n // c)
        return [(lo + n * j // parts, lo + n * (j + 1) // parts) for j in range(parts)]

    def _sum_and_update(self, lr: float, totals: list[Any], scale: float) -> None:
        """Sum the blocks' gradients into this model's (in block order), add the penalty's
        gradient, then one optimizer step; both passes split over the threads."""
        first, others = totals[0], totals[1:]

        def add(lo: int, hi: int) -> None:
            g = self.grads[lo:hi]
            if first is not self.grads:
                np.copyto(g, first[lo:hi])
            for o in others:
                g += o[lo:hi]

        if others or first is not self.grads:
            self.blocks(self.params.size, add)
        self._regularize_gradient(scale)
        self.blocks(self.params.size, lambda lo, hi: self._update_range(lr, lo, hi, scale))
