"""The data-parallel step: the batch cut into row blocks, one per thread, each block's gather,
forward and backward on its own thread with a single-threaded BLAS; the gradients summed in a
fixed order (block 0 + block 1 + ...), then one optimizer step.

Why: at the article's shapes a two-thread GEMM gains little over one (a 784x70 product is too
thin to share well), and every element-wise pass between the GEMMs (the gather, activations,
deltas) runs on one core. Cutting the batch gives each core whole passes, GEMMs included, with
one hand-off per step. Whether that beats the BLAS's own threads depends on the machine and the
batch, so ``mlpbench tune`` measures it (plan ``data-parallel``).

The weights differ from the serial step's only by float rounding: the weight gradient's sum over
the batch is taken per block, then over blocks (``tests/test_plans.py`` bounds it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.protocol import ModelSpec, TrainSpec
from mlp_numpy.model import MLP, Ablation, PhaseClock, gather
from mlp_numpy.rows import RowSplit


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
    ) -> None:
        shape = {"transposed_gradient": transposed_gradient, "pad_to": pad_to}
        super().__init__(spec, train, dtype, np, ablation, initial_weights, workers=1, **shape)
        self.blocks = RowSplit(workers)
        self.replicas: list[MLP] = [self] + [
            MLP(spec, train, dtype, np, self.ablation, params=self.params, **shape)
            for _ in range(workers - 1)
        ]
        self._layouts: dict[int, tuple[list[tuple[int, int]], dict[int, int]]] = {}

    def train_epoch(self, *args: Any, **kwargs: Any) -> tuple[float, float]:
        # One BLAS thread per replica: the blocks are the parallelism.
        with threadpool_limits(limits=1, user_api="blas"):
            return super().train_epoch(*args, **kwargs)

    def step(
        self, x: Any, y: Any, idx: Any, lr: float, clock: PhaseClock, batch_accuracy: bool
    ) -> tuple[float, int]:
        m = len(idx)
        if m not in self._layouts:  # the blocks of a batch size, and each block's replica
            blocks = self.blocks.blocks(m)
            self._layouts[m] = blocks, {lo: k for k, (lo, _) in enumerate(blocks)}
        blocks, which = self._layouts[m]
        losses, hits = [0.0] * len(blocks), [0] * len(blocks)

        def block(lo: int, hi: int) -> None:
            k, rows = which[lo], hi - lo
            r = self.replicas[k]
            r.ensure_batch(rows)
            ib = idx[lo:hi]
            gather(np, x, ib, r.X[:rows])
            yb = y[ib]
            if k == 0:  # block 0 runs on the caller's thread: its phases stand for the step's
                clock.lap("shuffle")
            out = r.forward(rows)
            losses[k] = r.output_delta(yb, rows, with_loss=True, batch=m)
            if batch_accuracy:
                hits[k] = int((out.argmax(axis=1) == yb).sum())
            if k == 0:
                clock.lap("forward")
            r.backprop(rows)

        self.blocks.each(m, block)
        clock.lap("backward")  # block 0's backward and the wait for the others
        loss = sum(losses) + self.penalty()  # the weights this batch was computed with
        self._sum_and_update(lr, self.replicas[1 : len(blocks)])
        clock.lap("update")
        return loss, sum(hits)

    def _sum_and_update(self, lr: float, replicas: list[MLP]) -> None:
        """Sum the other replicas' gradients into this model's (in block order), add the
        penalty's gradient, then one optimizer step; both passes split over the threads."""
        others = [r.grads for r in replicas]

        def add(lo: int, hi: int) -> None:
            g = self.grads[lo:hi]
            for o in others:
                g += o[lo:hi]

        if others:
            self.blocks(self.params.size, add)
        self._regularize_gradient()
        self.blocks(self.params.size, lambda lo, hi: self._update_range(lr, lo, hi))
