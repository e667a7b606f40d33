"""Element-wise work split by rows over a few threads.

NumPy runs each ufunc on one core, while the GEMMs around it use every BLAS thread, so the other
cores idle through the gather, the activations and the deltas: a tenth of the epoch for the
gather alone at batch 500 (`phases.png`). NumPy releases the GIL inside a ufunc, so the same
ufunc calls on disjoint row ranges run in parallel on plain Python threads. This only pays when
the BLAS's own idle threads do not spin on those cores: OpenBLAS spins for
``2**OPENBLAS_THREAD_TIMEOUT`` cycles after each call, which is why the harness sets that
variable low (see ``mlpbench.machine.threads``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

RowJob = Callable[[int, int], None]


class RowSplit:
    """``split(n, job, width)`` runs ``job(lo, hi)`` over rows ``[0, n)`` in parallel ranges.

    The caller's thread takes the first range and helper threads the others, each woken by its
    own event: some 10 µs per hand-off. So a range must hold at least ``min_range`` elements
    (rows x width); a job too small for two ranges runs whole on the caller. On 2 cores this
    splits the batch gather from batch 500 and the 70-wide activations from batch 2000.
    """

    def __init__(
        self, workers: int, min_range: int = 65536, setup: Callable[[], None] | None = None
    ) -> None:
        """``setup``: run once on each helper thread before its first job (per-thread state,
        such as NumPy's error settings, that the jobs expect)."""
        self.workers = max(1, int(workers))
        self.min_range = min_range
        self._helpers = [_Helper(setup) for _ in range(self.workers - 1)]

    def __call__(self, n: int, job: RowJob, width: int = 1) -> None:
        if self.workers == 1:  # the usual case on the hot path: no arithmetic, no hand-off
            job(0, n)
            return
        self._run(n, min(self.workers, n, n * width // max(self.min_range, 1)), job)

    def blocks(self, n: int) -> list[tuple[int, int]]:
        """The ``min(workers, n)`` row blocks that :meth:`each` runs, in order."""
        k = max(1, min(self.workers, n))
        bounds = [n * i // k for i in range(k + 1)]
        return list(zip(bounds[:-1], bounds[1:]))

    def each(self, n: int, job: RowJob) -> None:
        """``job`` on every block of :meth:`blocks`, each on its own thread, however small
        (the data-parallel step: its jobs are whole forward and backward passes)."""
        self._run(n, min(self.workers, n), job)

    def _run(self, n: int, ranges: int, job: RowJob) -> None:
        if ranges < 2:
            job(0, n)
            return
        bounds = [n * k // ranges for k in range(ranges + 1)]
        helpers = self._helpers[: ranges - 1]
        for helper, lo, hi in zip(helpers, bounds[1:-1], bounds[2:]):
            helper.start(job, lo, hi)
        try:
            job(0, bounds[1])
        finally:
            errors = [e for e in (h.wait() for h in helpers) if e is not None]
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Let the helper threads end (also when the split is garbage-collected)."""
        for helper in self._helpers:
            helper.stop()
        self._helpers = []

    __del__ = close


class _Helper:
    """One daemon thread that runs one row range per hand-off."""

    def __init__(self, setup: Callable[[], None] | None = None) -> None:
        self._setup = setup
        self._go = threading.Event()
        self._done = threading.Event()
        self._task: tuple[RowJob, int, int] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._loop, daemon=True, name="mlp_numpy-rows").start()

    def start(self, job: RowJob, lo: int, hi: int) -> None:
        self._task, self._error = (job, lo, hi), None
        self._done.clear()
        self._go.set()

    def wait(self) -> BaseException | None:
        self._done.wait()
        return self._error

    def stop(self) -> None:
        self._task = None
        self._go.set()

    def _loop(self) -> None:
        if self._setup is not None:
            self._setup()
        while True:
            self._go.wait()
            self._go.clear()
            if self._task is None:  # stop()
                return
            job, lo, hi = self._task
            try:
                job(lo, hi)
            except BaseException as e:  # handed back to the caller
                self._error = e
            self._done.set()
