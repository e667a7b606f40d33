"""RowSplit: every row once, errors come back to the caller, small jobs stay on one thread."""

from __future__ import annotations

import threading
import time

import pytest

from mlpbench.backends.numpy.rows import RowSplit


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("n", [3, 10, 1001])
def test_every_row_exactly_once(workers, n):
    split = RowSplit(workers, min_range=0)
    seen, lock = [], threading.Lock()

    def job(lo: int, hi: int) -> None:
        with lock:
            seen.extend(range(lo, hi))

    for _ in range(20):  # the helpers are reused across calls
        seen.clear()
        split(n, job)
        assert sorted(seen) == list(range(n))


def test_ranges_run_on_helper_threads():
    split = RowSplit(2, min_range=0)
    names = {}
    split(100, lambda lo, hi: names.setdefault(lo, threading.current_thread().name))
    assert names[0] == threading.current_thread().name
    assert names[50] == "mlp_numpy-rows"


def test_small_jobs_run_whole_on_the_caller():
    split = RowSplit(4, min_range=500)
    calls = []
    split(10, lambda lo, hi: calls.append((lo, hi)), width=50)  # 500 elements: one range
    assert calls == [(0, 10)]
    calls.clear()
    split(10, lambda lo, hi: calls.append((lo, hi)), width=100)  # 1000 elements: two ranges
    assert sorted(calls) == [(0, 5), (5, 10)]
    calls.clear()
    split(10, lambda lo, hi: calls.append((lo, hi)), width=1000)  # as many as the workers
    assert len(calls) == 4 and sorted(calls)[0] == (0, 2)


def test_a_helper_error_reaches_the_caller_and_the_split_still_works():
    split = RowSplit(2, min_range=0)

    def job(lo: int, hi: int) -> None:
        if lo > 0:
            raise ValueError(f"rows {lo}:{hi}")

    with pytest.raises(ValueError, match="rows 5:10"):
        split(10, job)
    done = []
    split(10, lambda lo, hi: done.append(lo))
    assert sorted(done) == [0, 5]


def test_helper_threads_end_with_the_split():
    def helpers() -> int:
        return sum(t.name == "mlp_numpy-rows" for t in threading.enumerate())

    before = helpers()
    split = RowSplit(3, min_range=0)
    split(9, lambda lo, hi: None)
    assert helpers() == before + 2
    del split  # a model that is dropped takes its threads with it
    for _ in range(100):
        if helpers() == before:
            break
        time.sleep(0.01)
    assert helpers() == before


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 5, 1001])
def test_each_cuts_every_batch_into_the_blocks_it_names(workers, n):
    """each() splits however small the job (the data-parallel step), into blocks() in order."""
    split = RowSplit(workers)  # the default min_range would keep these whole under __call__
    seen, lock = [], threading.Lock()

    def job(lo: int, hi: int) -> None:
        with lock:
            seen.append((lo, hi))

    split.each(n, job)
    blocks = split.blocks(n)
    assert sorted(seen) == blocks and len(blocks) == min(workers, n)
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
