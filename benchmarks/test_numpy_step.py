"""Forward, backward and a full training step of the NumPy MLP at the article's shapes.

Run with `make benchmarks`. Each benchmark also reports GFLOP/s in `extra_info`, against the
model's GEMM FLOPs, so the numbers compare with `mlpbench sweep`'s calibrated peak.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.protocol import ModelSpec, TrainSpec
from mlp_numpy.model import MLP, PhaseClock

SPEC = ModelSpec()  # 784-70-30-10 sigmoid, L2 0.01
BATCHES = [100, 500, 2000, 10000]


def model(batch: int, dtype: str = "float32", workers: int = 1) -> tuple[MLP, np.ndarray]:
    m = MLP(SPEC, TrainSpec(batch_size=batch), dtype=dtype, workers=workers)
    m.ensure_batch(batch)
    rng = np.random.default_rng(0)
    m.X[:batch] = rng.random((batch, 784), dtype=np.float64).astype(dtype)
    y = rng.integers(0, 10, batch)
    return m, y


def gflops(benchmark, flops_per_sample: int, batch: int) -> None:
    benchmark.extra_info["gflops_at_median"] = (
        flops_per_sample * batch / benchmark.stats["median"] / 1e9
    )


@pytest.mark.parametrize("batch", BATCHES)
def test_forward(benchmark, batch):
    m, _ = model(batch)
    benchmark(m.forward, batch)
    gflops(benchmark, SPEC.flops_per_sample()[0], batch)


@pytest.mark.parametrize("batch", BATCHES)
def test_backward(benchmark, batch):
    m, y = model(batch)
    m.forward(batch)
    m.output_delta(y, batch)
    benchmark(m.backward, batch)
    fwd, step = SPEC.flops_per_sample()
    gflops(benchmark, step - fwd, batch)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("workers", [1, 2], ids=["elementwise-1-thread", "elementwise-2-threads"])
def test_training_step(benchmark, batch, dtype, workers):
    """Gather, forward, loss, backward and the RMSprop update of one batch."""
    m, _ = model(batch, dtype, workers)
    rng = np.random.default_rng(1)
    x = rng.random((20000, 784)).astype(dtype)
    y = rng.integers(0, 10, 20000)
    order = rng.permutation(20000)[:batch]
    clock = PhaseClock(enabled=False)
    benchmark(m.train_epoch, x, y, order, 0.001, clock)
    gflops(benchmark, SPEC.flops_per_sample()[1], batch)
