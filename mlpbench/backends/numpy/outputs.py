"""A training epoch's loss and batch accuracy, computed from its steps' outputs a few thousand
rows at a time rather than inside every step.

Why: at batch 100 the loss of a step is a thousand numbers, and the dozen NumPy calls that
clip, log and sum them cost their fixed price each, a good part of the careful plain script's
whole margin (issue 51; `make benchmarks`: test_output_delta_and_loss against
test_output_delta_and_loss_each_step). A step now copies its output rows and labels into
:class:`EpochOutputs` (two calls); the same formulas run over a full buffer at once. The
epoch's loss is the same sum, taken in another order: equal to float rounding.
"""

from __future__ import annotations

from typing import Any

from mlpbench.backends.numpy.fused import EPS

ELEMENTS = 1 << 16
"""Output values a buffer holds before its loss is taken (256 KiB of float32: cache-sized)."""


def loss_sum(xp: Any, loss: str, a: Any, labels: Any, t: Any, u: Any) -> Any:
    """Keras's loss summed over the rows of ``a`` (the outputs, C-contiguous) against integer
    ``labels``, with Keras's clipping (the binary cross-entropy a mean over the outputs), as a
    0-d array of ``xp``; ``t`` and ``u``: scratch of ``a``'s shape."""
    n = a.shape[1]
    at = xp.arange(len(a)) * n + labels  # the labels' flat positions in a
    if loss == "categorical_crossentropy":
        # Keras normalizes the outputs to sum to 1, clips, then takes the cross-entropy.
        p = a.reshape(-1).take(at) / a.sum(axis=1)
        return -xp.log(xp.clip(p, EPS, 1 - EPS)).sum()
    # sum(log(1 - t)) + sum over the labels' entries of (log t - log(1 - t)), t = clip(a):
    # log t is needed at the labels only, one value a row (the logs are the costly part).
    # One clip, not maximum and minimum: over a buffer NumPy's clip runs at twice their speed.
    xp.clip(a, EPS, 1 - EPS, out=t)
    xp.subtract(1, t, out=u)
    xp.log(u, out=u)
    at_labels = xp.log(t.reshape(-1).take(at))
    at_labels -= u.reshape(-1).take(at)
    return -(u.sum() + at_labels.sum()) / n


class EpochOutputs:
    """The output rows and labels of an epoch's steps, kept until a buffer fills; then their
    summed loss (and hits, for the batch accuracy) is taken in one pass. On a GPU the sums stay
    device values until the epoch reads them once."""

    def __init__(
        self,
        xp: Any,
        loss: str,
        outputs: int,
        dtype: Any,
        batch: int,
        scalar: Any,
        count: Any,
    ) -> None:
        """``batch``: the most rows a step adds; ``scalar`` and ``count``: the model's reads
        of a sum and a hit count (Python numbers on the CPU, device values on a GPU)."""
        rows = max(batch, ELEMENTS // max(1, outputs))
        self.xp, self.loss, self.scalar, self.count = xp, loss, scalar, count
        self.out = xp.zeros((rows, outputs), dtype=dtype)
        self.labels = xp.zeros(rows, dtype=xp.int64)  # any integer labels, cast exactly
        self.t, self.u = xp.zeros_like(self.out), xp.zeros_like(self.out)
        self.filled = 0
        self.accuracy = False
        self._loss: Any = 0.0
        self._hits: Any = 0

    def reserve(self, m: int) -> int:
        """The first row of ``m`` free rows for a step's outputs (taking the loss of a full
        buffer first); ``m`` at most the ``batch`` it was made for."""
        if self.filled + m > len(self.out):
            self._settle()
        at = self.filled
        self.filled += m
        return at

    def put(self, at: int, out: Any, labels: Any) -> None:
        """A step's (or a row block's) outputs and labels, at rows ``at:`` it reserved."""
        m = len(out)
        self.xp.copyto(self.out[at : at + m], out)
        self.xp.copyto(self.labels[at : at + m], labels)

    def add(self, loss_sum: Any, hits: Any = 0) -> None:
        """Terms summed already: the penalty times the batch's rows; a fused output kernel's
        loss and hits."""
        self._loss = self._loss + loss_sum
        self._hits = self._hits + hits

    def take(self) -> tuple[Any, Any]:
        """(summed loss, hits) of everything since the last take; then empty."""
        self._settle()
        out = self._loss, self._hits
        self._loss, self._hits = 0.0, 0
        return out

    def _settle(self) -> None:
        k = self.filled
        if not k:
            return
        xp, a, labels = self.xp, self.out[:k], self.labels[:k]
        self._loss = self._loss + self.scalar(
            loss_sum(xp, self.loss, a, labels, self.t[:k], self.u[:k])
        )
        if self.accuracy:
            self._hits = self._hits + self.count(a.argmax(axis=1) == labels)
        self.filled = 0
