"""The first layer's GEMMs, forward, backward and a full training step of the NumPy MLP at
the article's shapes.

Run with `make benchmarks`. Each benchmark's GFLOP/s (the model's GEMM FLOPs over the median
time) is printed after the table as a share of the calibrated square-GEMM peak, so the numbers
compare with `mlpbench sweep`'s efficiency column (see conftest.py).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.numpy.model import MLP, PhaseClock

SPEC = ModelSpec()  # 784-70-30-10 sigmoid, L2 0.01
BATCHES = [100, 500, 2000, 10000]


def model(batch: int, dtype: str = "float32") -> tuple[MLP, np.ndarray]:
    m = MLP(SPEC, TrainSpec(batch_size=batch), dtype=dtype)
    m.ensure_batch(batch)
    rng = np.random.default_rng(0)
    m.X[:batch] = rng.random((batch, 784), dtype=np.float64).astype(dtype)
    y = rng.integers(0, 10, batch)
    return m, y


@pytest.mark.parametrize("batch", BATCHES[1:])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("product", ["forward", "weight_gradient", "weight_gradient_transposed"])
@pytest.mark.parametrize("width", [70, 72], ids=["w70", "w72-padded"])
def test_first_layer_gemm(benchmark, gflops, batch, dtype, product, width):
    """The (batch x 784) x 70 products that carry most of the FLOPs, alone; the weight gradient
    in both forms the plans choose between (X^T D, and (D^T X)^T of the -tgrad plans); and the
    same products 72 wide, as the -pad plans run them. The GFLOP/s count the specified 70
    columns only, so a padded product that shows more is faster at the same work."""
    rng = np.random.default_rng(0)
    X = rng.random((batch, 784)).astype(dtype)
    D = rng.random((batch, width)).astype(dtype)
    if product == "forward":  # Z = X W, as MLP.forward
        W, Z = rng.random((784, width)).astype(dtype), np.empty((batch, width), dtype)
        benchmark(np.matmul, X, W, out=Z)
    elif product == "weight_gradient":  # dW = X.T D, as MLP.backprop
        benchmark(np.matmul, X.T, D, out=np.empty((784, width), dtype))
    else:  # dW^T = D.T X (the -tgrad plans; their transposed copy is not included)
        benchmark(np.matmul, D.T, X, out=np.empty((width, 784), dtype))
    gflops(benchmark, 2 * batch * 784 * 70, dtype)


def test_row_split_hand_off(benchmark):
    """One hand-off to a helper thread and back with nothing to do: what each step of the
    data-parallel plan pays (and each split element-wise pass), whatever the batch."""
    from mlpbench.backends.numpy.rows import RowSplit

    split = RowSplit(2)
    benchmark(split.each, 2, lambda lo, hi: None)


def test_step_python_overhead(benchmark):
    """A training step of a 4-3-3-2 network at batch 100: arrays too small to cost anything,
    so this is the step's fixed Python work (tests/test_numpy_mlp.py counts its calls)."""
    spec = ModelSpec(layers=(4, 3, 3, 2))
    m = MLP(spec, TrainSpec(batch_size=100), dtype="float32")
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 4), dtype=np.float32), rng.integers(0, 2, 100)
    idx, clock = np.arange(100), PhaseClock(enabled=False)
    m.ensure_batch(100)
    benchmark(m.step, x, y, idx, 0.001, clock)


def test_plain_script_step_python_overhead(benchmark):
    """The same tiny step in the plain maths a careful script runs (numpy-plain and
    numpy-script, ``plain_maths.PlainMLP``): set against test_step_python_overhead in the same
    run, the two fixed costs per step (issue 51)."""
    from dataclasses import asdict

    from mlpbench.backends.numpy.plain_maths import PlainMLP

    spec, train = ModelSpec(layers=(4, 3, 3, 2)), TrainSpec(batch_size=100)
    w = spec.initial_weights(0)
    net = PlainMLP([a.astype(np.float32) for a, _ in w], [b.astype(np.float32) for _, b in w],
                   asdict(spec), asdict(train))  # fmt: skip
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 4), dtype=np.float32), rng.integers(0, 2, 100)
    benchmark(net.step, x, y, np.float32(0.001))


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy"])
def test_output_delta_and_loss(benchmark, loss):
    """The output layer's delta and the batch's share of the epoch's loss at batch 100, as each
    step computes them (the binary cross-entropy's delta through one-hot labels: issue 27; the
    loss from the outputs a buffer at a time, EpochOutputs: issue 51)."""
    spec = ModelSpec(loss=loss, output_activation="sigmoid")
    m = MLP(spec, TrainSpec(batch_size=100), dtype="float32")
    m.ensure_batch(100)
    rng = np.random.default_rng(0)
    m.A[-1][:100] = rng.random((100, 10), dtype=np.float32)
    y = rng.integers(0, 10, 100)
    log, out = m.outputs, m.A[-1][:100]

    def step_share() -> None:
        log.put(log.reserve(100), out, y)
        m.output_delta(y, 100)

    benchmark(step_share)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy"])
def test_output_delta_and_loss_each_step(benchmark, loss):
    """The same at batch 100 with the loss's formulas run over the step's own 100 rows
    (``data_loss``), as each step took its loss before issue 51: set against
    test_output_delta_and_loss in the same run."""
    spec = ModelSpec(loss=loss, output_activation="sigmoid")
    m = MLP(spec, TrainSpec(batch_size=100), dtype="float32")
    m.ensure_batch(100)
    rng = np.random.default_rng(0)
    m.A[-1][:100] = rng.random((100, 10), dtype=np.float32)
    y = rng.integers(0, 10, 100)

    def step_share() -> None:
        m.data_loss(y, 100)
        m.output_delta(y, 100)

    benchmark(step_share)


def test_penalty(benchmark):
    """The L2 penalty at the article's weights, which every step still computes (Keras's
    reported loss is the penalty at each batch's weights)."""
    m, _ = model(100)
    benchmark(m.penalty)


@pytest.mark.parametrize("way", ["reciprocal", "divide"])
def test_sigmoid_last_pass(benchmark, way):
    """The sigmoid's last pass, 1 / (1 + e), over the first hidden layer at batch 500 (72
    wide): ``reciprocal`` or ``divide(1, .)``, the same bits (MLP._sigmoid_of_negated)."""
    z = np.random.default_rng(0).random((500, 72), dtype=np.float32) + 1
    if way == "reciprocal":
        benchmark(lambda: np.reciprocal(z, out=z))
    else:
        benchmark(lambda: np.divide(1.0, z, out=z))


@pytest.mark.parametrize("batch", BATCHES)
def test_forward(benchmark, gflops, batch):
    m, _ = model(batch)
    benchmark(m.forward, batch)
    gflops(benchmark, SPEC.flops_per_sample()[0] * batch)


@pytest.mark.parametrize("batch", BATCHES)
def test_backward(benchmark, gflops, batch):
    m, y = model(batch)
    m.forward(batch)
    m.output_delta(y, batch)
    benchmark(m.backward, batch)
    fwd, step = SPEC.flops_per_sample()
    gflops(benchmark, (step - fwd) * batch)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("padded", [False, True], ids=["w70-30", "w72-32-padded"])
def test_gemm_only_step(benchmark, gflops, batch, dtype, padded):
    """The bound of a training step: its GEMMs alone at the same shapes (forward, the weight
    gradients, the deltas of the hidden layers), nothing between them; also at the padded
    shapes the -pad plans run (GFLOP/s of the specified work). A plan's step cannot pass its
    own shapes' bound; the gap between the two is the step's work outside GEMMs."""
    from gemm_only import gemm_only_step

    from mlpbench.backends.numpy.trainer import PAD_TO

    gemms = gemm_only_step(SPEC.layers, batch, dtype, PAD_TO if padded else 1)
    benchmark(gemms)
    gflops(benchmark, SPEC.flops_per_sample()[1] * batch, dtype)


def plans_for_this_environment() -> list[str]:
    """The thread plans that run as named under the OpenBLAS variables this process started
    with: a benchmark cannot change them once NumPy has loaded, so `make benchmarks` runs this
    file once per setting, and between them every plan of
    mlpbench.backends.numpy.trainer.THREAD_PLANS is measured (tests/test_plans.py checks the
    Makefile)."""
    from mlpbench.backends.numpy.trainer import THREAD_PLANS
    from mlpbench.sweep.tuning import environment_mismatch

    return [n for n in THREAD_PLANS if not environment_mismatch(THREAD_PLANS, n, os.environ)]


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("plan", plans_for_this_environment(), ids=lambda p: f"plan-{p}")
def test_training_step(benchmark, gflops, batch, dtype, plan):
    """Gather, forward, loss, backward and the update of one batch, as each thread plan runs
    it: the model the trainer builds for ``-o plan=NAME``. Each round takes the next batch of a
    permutation of 20000 samples (63 MB in float32, more than the caches), so the gather reads
    from memory as in training, not the same cached rows again."""
    from mlpbench.backends.numpy.parallel import DataParallelMLP
    from mlpbench.backends.numpy.trainer import NumpyTrainer
    from mlpbench.machine.threads import blas_info

    threads = max(1, int(blas_info()["blas_threads"] or 1))
    trainer = NumpyTrainer(
        SPEC, TrainSpec(batch_size=batch), dtype=dtype, options={"plan": plan, "threads": threads}
    )
    m = trainer.model
    # One BLAS thread per block in the data-parallel plans, as their train_epoch sets.
    limit = threadpool_limits(1 if isinstance(m, DataParallelMLP) else threads, user_api="blas")
    m.ensure_batch(batch)
    rng = np.random.default_rng(1)
    x = rng.random((20000, 784)).astype(dtype)
    y = rng.integers(0, 10, 20000)
    batches = itertools.cycle(np.split(rng.permutation(20000), 20000 // batch))
    clock = PhaseClock(enabled=False)
    with limit:
        benchmark(lambda: m.step(x, y, next(batches), 0.001, clock))
    gflops(benchmark, SPEC.flops_per_sample()[1] * batch, dtype)


@pytest.mark.parametrize("batch", [100, 500, 2000])
@pytest.mark.parametrize(
    "rows", ["float32", "uint8", "uint8-divided"],
    ids=["float32-rows", "uint8-rows", "uint8-rows-divided"],
)  # fmt: skip
def test_batch_gather(benchmark, batch, rows):
    """One batch's gather from a 60000-row MNIST-sized set at random rows: float32 rows
    (3136 bytes each), as ``source_rows = false`` gathers them, or uint8 rows (784 bytes)
    through a uint8 buffer and one exact conversion into the float32 batch, as every plan
    does where the data has source rows (the first layer then scales by 1/255); or, as the
    earlier ``-src`` plans did, divided by 255 in that pass (why the division moved)."""
    from mlpbench.backends.numpy.model import SourceRows, gather

    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (60000, 784), dtype=np.uint8)
    # each call takes the next batch of an epoch's order, as the training loop does: the rows
    # it reads are cold (a fixed batch would be cached after its first round)
    batches = itertools.cycle(np.array_split(rng.permutation(60000), 60000 // batch))
    out = np.empty((batch, 784), np.float32)
    if rows == "float32":
        x = raw.astype(np.float32) / np.float32(255)
        benchmark(lambda: gather(np, x, next(batches), out))
    else:
        source, scratch = SourceRows(raw, np.float32(255)), np.empty((batch, 784), np.uint8)

        def divided() -> None:  # the earlier -src gather: the uint8 take, then one division
            np.take(raw, next(batches), axis=0, out=scratch, mode="clip")
            np.divide(scratch, source.divisor, out=out)

        plain = lambda: gather(np, source, next(batches), out, scratch)  # noqa: E731
        benchmark(divided if rows == "uint8-divided" else plain)
