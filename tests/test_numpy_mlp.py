"""The NumPy MLP: exact gradients, learning, dtype discipline, ablations."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench import data as datasets
from mlpbench.api.protocol import ModelSpec, SpecError, TrainSpec
from mlpbench.backends.numpy.fused import EPS
from mlpbench.backends.numpy.model import MLP, Ablation, PhaseClock
from mlpbench.backends.numpy.trainer import NumpyTrainer

CASES = [
    ("sigmoid", "sigmoid", "categorical_crossentropy"),
    ("tanh", "softmax", "categorical_crossentropy"),
    ("relu", "sigmoid", "binary_crossentropy"),
    ("sigmoid", "softmax", "categorical_crossentropy"),
]


def total_loss(m: MLP, x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    m.X[:n] = x
    m.forward(n)
    return m.data_loss(y, n) + m.penalty()


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "rows-split"])
@pytest.mark.parametrize("ablation", [Ablation(), Ablation(True, True)], ids=["fast", "article"])
@pytest.mark.parametrize("act,out,loss", CASES)
def test_gradient_matches_central_differences(act, out, loss, ablation, workers):
    spec = ModelSpec(
        layers=(6, 5, 4, 3),
        activation=act,
        output_activation=out,
        loss=loss,
        l1=0.01,
        l2=0.02,
        regularize_output=True,
    )
    m = MLP(spec, TrainSpec(batch_size=7), dtype="float64", ablation=ablation, workers=workers)
    m.split.min_range = 0  # split even these tiny arrays, so every row job is checked
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 6)), rng.integers(0, 3, 7)
    m.ensure_batch(7)
    total_loss(m, x, y)
    m.output_delta(y, 7)
    m.backward(7)
    analytic = m.grads.copy()
    numeric = np.zeros_like(analytic)
    h = 1e-6
    for i in range(len(analytic)):  # every weight and bias of every layer
        old = m.params[i]
        m.params[i] = old + h
        plus = total_loss(m, x, y)
        m.params[i] = old - h
        minus = total_loss(m, x, y)
        m.params[i] = old
        numeric[i] = (plus - minus) / (2 * h)
    start = 0
    for l, g in enumerate(m.G_ext):  # layer views lie in order in the flat vector
        num = numeric[start : start + g.size]
        start += g.size
        rel = np.linalg.norm(g.ravel() - num) / np.linalg.norm(num)
        assert rel < 1e-6, f"layer {l}: relative error {rel:.2e}"


def test_regularization_is_keras_convention():
    spec = ModelSpec(layers=(3, 2, 2), l2=0.5, l1=0.25)
    m = MLP(spec, TrainSpec(), dtype="float64")
    w0 = m.W[0]
    expected = 0.5 * float((w0**2).sum()) + 0.25 * float(np.abs(w0).sum())
    assert m.penalty() == pytest.approx(expected)  # output layer not regularized by default


def test_loss_falls_and_learns(synthetic, small_spec):
    data = datasets.load(synthetic, "float64")
    losses = []
    t = NumpyTrainer(
        small_spec, TrainSpec(epochs=8, batch_size=50, seed=0, learning_rate=0.02), dtype="float64"
    )
    t.fit(data, lambda e: losses.append(e.loss))
    assert len(losses) == 8
    assert losses[-1] < 0.7 * losses[0]
    _, acc = t.evaluate(data.x_test, data.y_test)
    assert acc > 0.8


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [{}, {"compute_input_delta": True, "bias_as_column": True}])
def test_training_loop_keeps_dtype(dtype, options, synthetic, small_spec):
    data = datasets.load(synthetic, dtype)
    t = NumpyTrainer(
        small_spec,
        TrainSpec(epochs=2, batch_size=64, optimizer="sgd", momentum=0.9, train_accuracy="full"),
        dtype=dtype,
        options=options,
    )
    t.fit(data)
    m = t.model
    arrays = [m.params, m.grads, m.state, m.scratch, m.X, m.rowsum, *m.A, *m.delta, *m.tmp]
    arrays += [a for a in m.A_ext if a is not None]
    for a in arrays:
        assert a.dtype == np.dtype(dtype)
    assert all(w.dtype == np.dtype(dtype) for w in t.weights())


def test_float32_loop_does_not_upcast(synthetic, small_spec, monkeypatch):
    """Every matmul in a float32 step gets float32 operands and a float32 result."""
    data = datasets.load(synthetic, "float32")
    t = NumpyTrainer(small_spec, TrainSpec(epochs=1, batch_size=64), dtype="float32")
    seen = []
    real = np.matmul

    def spy(a, b, *args, **kw):
        out = real(a, b, *args, **kw)
        seen.append((a.dtype, b.dtype, out.dtype))
        return out

    monkeypatch.setattr(t.model.xp, "matmul", spy)
    t.fit(data)
    assert seen and all(d == (np.float32,) * 3 for d in seen)


def test_input_delta_is_skipped_unless_asked(small_spec):
    m = MLP(small_spec, TrainSpec(batch_size=4), dtype="float64")
    m.ensure_batch(4)
    m.X[:4] = 0.5
    m.forward(4)
    m.output_delta(np.array([0, 1, 2, 3]), 4)
    m.delta[0][...] = 7.0
    m.backward(4)
    assert np.all(m.delta[0] == 7.0)  # untouched: never computed
    m.ablation = Ablation(compute_input_delta=True)
    m.backward(4)
    assert not np.all(m.delta[0] == 7.0)


@pytest.mark.parametrize("act,out,loss", CASES)
def test_row_split_gives_identical_weights(act, out, loss, synthetic):
    """Element-wise work on 2 threads is the same arithmetic as on one: bit for bit."""
    spec = ModelSpec(layers=(20, 12, 8, 4), activation=act, output_activation=out, loss=loss)
    data = datasets.load(synthetic, "float32")
    order = np.random.default_rng(0).permutation(len(data.x))
    results = []
    for workers in (1, 2):
        m = MLP(spec, TrainSpec(batch_size=64), workers=workers)
        m.split.min_range = 0
        loss_value, _ = m.train_epoch(data.x, data.y, order, 0.01, PhaseClock(False))
        results.append((m.params.copy(), loss_value, m.predict_scores(data.x, data.y)))
    (p1, l1, s1), (p2, l2, s2) = results
    assert np.array_equal(p1, p2)
    assert l1 == pytest.approx(l2, rel=1e-6)  # sums of row ranges: only the order differs
    assert s1 == pytest.approx(s2, rel=1e-6)


def test_ablations_do_not_change_the_maths(synthetic, small_spec):
    data = datasets.load(synthetic, "float64")
    results = []
    for options in ({}, {"compute_input_delta": True}, {"bias_as_column": True}):
        t = NumpyTrainer(
            small_spec,
            TrainSpec(epochs=2, batch_size=50, shuffle="none"),
            dtype="float64",
            options=options,
        )
        t.fit(data)
        results.append(t.weights())
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_decay_is_the_articles_compounding_rule():
    rates = TrainSpec(epochs=35, learning_rate=0.001, decay=1e-6).epoch_learning_rates()
    assert rates[0] == 0.001
    assert rates[-1] == pytest.approx(0.0009994051838157095, rel=1e-12)  # the article's print


def test_train_accuracy_modes(synthetic, small_spec):
    data = datasets.load(synthetic, "float32")
    for mode in ("none", "batch", "full"):
        recs = []
        t = NumpyTrainer(small_spec, TrainSpec(epochs=1, batch_size=50, train_accuracy=mode))
        t.fit(data, recs.append)
        assert np.isnan(recs[0].accuracy) == (mode == "none")
        assert ("eval" in recs[0].phases) == (mode == "full")


def test_flops_formula():
    fwd, step = ModelSpec(layers=(784, 70, 30, 10)).flops_per_sample()
    assert fwd == 2 * (784 * 70 + 70 * 30 + 30 * 10)
    assert step == 3 * fwd - 2 * 784 * 70


@pytest.mark.parametrize(
    "bad",
    [
        dict(layers=()),
        dict(layers=(784,)),
        dict(layers=(784, 0, 10)),
        dict(activation="swish"),
        dict(loss="mse"),
    ],
)
def test_bad_model_specs(bad):
    with pytest.raises(SpecError):
        ModelSpec(**bad)


def test_bce_needs_sigmoid_output():
    with pytest.raises(SpecError, match="binary_crossentropy"):
        MLP(
            ModelSpec(layers=(3, 2), output_activation="softmax", loss="binary_crossentropy"),
            TrainSpec(),
        )


class ArrayModuleProxy:
    """Stands in for CuPy: NumPy underneath, but only through the array module, and with
    CuPy's narrower `take` (no `mode`). Catches code that bypasses `xp` or NumPy-only calls."""

    __name__ = "proxy"

    def __init__(self) -> None:
        self.calls: set[str] = set()

    def take(self, a, indices, axis=None, out=None):
        self.calls.add("take")
        return np.take(a, indices, axis=axis, out=out)

    def __getattr__(self, name):
        self.calls.add(name)
        return getattr(np, name)


def test_model_runs_through_the_array_module_only(synthetic, small_spec):
    from mlpbench.backends.numpy.model import PhaseClock

    data = datasets.load(synthetic, "float32")
    proxy = ArrayModuleProxy()
    ref = MLP(small_spec, TrainSpec(batch_size=50), dtype="float32")
    m = MLP(small_spec, TrainSpec(batch_size=50), dtype="float32", xp=proxy)
    order = np.random.default_rng(0).permutation(len(data.x))
    for model in (ref, m):
        model.train_epoch(data.x, data.y, order, 0.01, PhaseClock(False))
    assert {"take", "matmul", "exp", "divide"} <= proxy.calls
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_training_step_stays_lean_in_python_calls():
    """At batch 100 the step's fixed Python work is a sizeable share of it (`make benchmarks`'
    test_step_python_overhead), so the hot path is guarded by its count of Python and builtin
    calls, which does not depend on the machine: 95 Python calls before the constants were
    hoisted, 70 before the error state and the binary cross-entropy's labels left the per-call
    path (issue 27: the tuned run against a plain script), 59 until the loss left the step for
    the epoch's outputs (issue 51), 56 now."""

    for loss in ("categorical_crossentropy", "binary_crossentropy"):
        _assert_lean_step(ModelSpec(loss=loss))


def _assert_lean_step(spec: ModelSpec) -> None:
    import sys
    from collections import Counter

    m = MLP(spec, TrainSpec(batch_size=100), dtype="float32")
    rng = np.random.default_rng(0)
    x, y = rng.random((300, 784), dtype=np.float32), rng.integers(0, 10, 300)
    idx, clock = np.arange(100), PhaseClock(True)
    m.ensure_batch(100)
    m.step(x, y, idx, 0.001, clock)
    calls: Counter[str] = Counter()

    def count(frame, event, arg):
        calls[event] += 1

    sys.setprofile(count)
    try:
        m.step(x, y, idx, 0.001, clock)
    finally:
        sys.setprofile(None)
    print(spec.loss, dict(calls))
    assert calls["call"] <= 58, (spec.loss, calls)  # Python calls (functions, lambdas, methods)
    assert calls["c_call"] <= 22, (spec.loss, calls)  # builtins and C methods called from Python


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "rows-split"])
def test_the_epoch_outputs_loss_is_the_reference_loss(workers):
    """The loss the epoch takes from its steps' outputs (EpochOutputs) equals the reference
    definition (``data_loss``, in every row range of the split), saturated outputs included
    (Keras's clipping); and both equal Keras's formulas written out here."""

    def keras(loss: str, a: np.ndarray, y: np.ndarray) -> float:
        if loss == "binary_crossentropy":  # mean over outputs of -[y log t + (1-y) log(1-t)]
            t, onehot = np.clip(a, EPS, 1 - EPS), np.eye(a.shape[1])[y]
            return float(-(onehot * np.log(t) + (1 - onehot) * np.log(1 - t)).mean(axis=1).mean())
        p = np.clip((a / a.sum(axis=1, keepdims=True))[np.arange(len(y)), y], EPS, 1 - EPS)
        return float(-np.log(p).mean())

    for loss, out in (("binary_crossentropy", "sigmoid"), ("categorical_crossentropy", "softmax")):
        spec = ModelSpec(layers=(6, 5, 4), output_activation=out, loss=loss)
        m = MLP(spec, TrainSpec(batch_size=9), dtype="float64", workers=workers)
        m.split.min_range = 0
        m.ensure_batch(9)
        rng = np.random.default_rng(3)
        a = rng.random((9, 4))
        a[0] = [0.0, 1.0, 0.5, 1e-12]  # beyond the clipping at both ends
        a /= a.sum(axis=1, keepdims=True) if out == "softmax" else 1.0
        y = rng.integers(0, 4, 9)
        y[0] = 0
        m.A[-1][:9] = a
        reference = m.data_loss(y, 9)
        assert reference == pytest.approx(keras(loss, a, y), rel=1e-12)
        m.outputs.put(m.outputs.reserve(9), a, y)
        summed, _ = m.outputs.take()
        assert summed / 9 == pytest.approx(reference, rel=1e-12)


def test_sigmoid_overflow_is_silent_on_every_thread(synthetic, small_spec):
    """exp(-z) overflows to inf for very negative z (sigmoid 0, the right limit): no warning,
    on the caller's thread or the row split's (NumPy's error state is per thread)."""
    import warnings
    from dataclasses import replace

    spec = replace(small_spec, output_activation="sigmoid", loss="binary_crossentropy")
    data = datasets.load(synthetic, "float32")
    for workers in (1, 2):
        m = MLP(spec, TrainSpec(batch_size=50), dtype="float32", workers=workers)
        m.split.min_range = 0
        m.params *= 1e4  # pre-activations far beyond float32's exp range
        order = np.random.default_rng(0).permutation(len(data.x))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            m.train_epoch(data.x, data.y, order, 0.01, PhaseClock(False))
            m.predict_scores(data.x, data.y)


def test_weights_are_a_snapshot_not_a_view_of_the_parameters():
    """weights() hands back copies: training on must not change what was handed out (an
    unpadded kernel's view is contiguous, so asking for a contiguous array alone copied
    nothing)."""
    for pad_to in (1, 8):
        m = MLP(ModelSpec(layers=(6, 5, 3)), TrainSpec(), dtype="float64", pad_to=pad_to)
        w = m.get_weights()
        before = [a.copy() for a in w]
        m.params += 1.0
        assert all(np.array_equal(a, b) for a, b in zip(w, before)), pad_to


@pytest.mark.parametrize(
    "plan,accuracy,ablation",
    [
        ("spin-tgrad-pad", "batch", {}),
        ("spin", "full", {}),
        ("data-parallel-pad", "full", {}),
        ("spin", "batch", {"bias_as_column": True, "compute_input_delta": True}),
    ],
)
def test_source_rows_train_the_float_rows_weights_to_float_rounding(plan, accuracy, ablation):
    """Issue 40: every plan gathers each batch from the uint8 rows (a quarter of the bytes)
    and the first layer scales by 1/255 (``(X W) / 255``, its gradient likewise): the losses,
    accuracies and weights equal the float rows' (``source_rows = false``) to float32
    rounding. ``train_accuracy = "full"`` evaluates the float rows (it failed on the uint8
    ones: ``SourceRows`` has no len)."""
    from mlpbench import data as datasets
    from mlpbench.backends.numpy.trainer import NumpyTrainer
    from mlpbench.data import DataSpec

    spec = DataSpec(
        dataset="synthetic", synthetic_samples=400, synthetic_features=64, synthetic_classes=4
    )  # 64 inputs, batches of 50: the first layer's delta is the smaller, and is scaled
    data = datasets.load(spec, "float32")
    assert data.x_rows is not None and data.x_rows.dtype == np.uint8
    runs = {}
    for source in (True, False):
        t = NumpyTrainer(
            ModelSpec(layers=(64, 8, 4)),
            TrainSpec(epochs=3, batch_size=50, train_accuracy=accuracy),
            options={"threads": 2, "plan": plan, "source_rows": source, **ablation},
        )
        records: list = []
        t.fit(data, records.append)
        assert (t.model.step_source is not None) == source  # the uint8 scratch, or none
        assert t.info()["source_rows"] == str(source).lower()  # recorded in runs.csv
        assert t.model.input_scale is None  # only while an epoch trains on source rows
        runs[source] = records, t.weights()
    (with_src, w_src), (floats, w_float) = runs[True], runs[False]
    for a, b in zip(with_src, floats):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
        assert a.accuracy == pytest.approx(b.accuracy, abs=1 / 400 + 1e-12)
    for a, b in zip(w_src, w_float):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # the two differ (else the scaled first layer would not have run)
    assert any(not np.array_equal(a, b) for a, b in zip(w_src, w_float))


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(layers=(20, 12, 8, 4), l2=0.01),  # the article's: every kernel fused
        ModelSpec(layers=(20, 8, 4), l1=0.001, l2=0.001),
        ModelSpec(layers=(20, 8, 4), activation="tanh", output_activation="softmax"),
    ],
    ids=["article", "l1-l2", "tanh-softmax"],
)
def test_fused_kernels_train_what_the_unfused_step_trains(synthetic, spec, dtype, rtol):
    """Issue 40: option ``fused`` runs each fused kernel's NumPy reference on the CPU (the
    CUDA source runs on a GPU); the losses, batch accuracies and weights equal the unfused
    step's to rounding. A layer or loss the kernels do not cover (tanh, softmax) takes the
    unfused path inside the same step."""
    data = datasets.load(synthetic, dtype)
    runs = {}
    for fused in (False, True):
        epochs: list = []
        t = NumpyTrainer(spec, TrainSpec(epochs=3, batch_size=50, train_accuracy="batch"),
                         dtype=dtype, options={"fused": fused})  # fmt: skip
        t.fit(data, on_epoch_end=epochs.append)
        assert (t.model.fused is not None) == fused and not (fused and t.model.fused.compiled)
        runs[fused] = ([(e.loss, e.accuracy) for e in epochs], t.weights())
    (losses, weights), (fused_losses, fused_weights) = runs[False], runs[True]
    np.testing.assert_allclose(fused_losses, losses, rtol=rtol)
    for a, b in zip(fused_weights, weights):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    assert losses[-1][0] < losses[0][0]  # it trained


@pytest.mark.parametrize("buffer", ["one buffer an epoch", "a buffer a step"])
@pytest.mark.parametrize("loss,out", [("binary_crossentropy", "sigmoid"),
                                      ("categorical_crossentropy", "softmax")])  # fmt: skip
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_the_epoch_loss_from_its_outputs_is_each_steps_loss(
    buffer, loss, out, optimizer, synthetic, monkeypatch
):
    """Issue 51: the step no longer takes its own loss; the epoch takes it from the steps'
    outputs (EpochOutputs), whenever its buffer fills. The epoch's loss and batch accuracy
    are still the mean over its batches of each batch's loss at the weights it was computed
    with (penalty included), as a reference loop computes it step by step; and SGD's
    gradients carried by the output delta train the same weights as the plain update."""
    from mlpbench.backends.numpy import outputs

    if buffer == "a buffer a step":
        monkeypatch.setattr(outputs, "ELEMENTS", 1)
    spec = ModelSpec(layers=(20, 12, 8, 4), output_activation=out, loss=loss, l2=0.01, l1=0.001)
    train = TrainSpec(batch_size=64, optimizer=optimizer, momentum=0.9, learning_rate=0.05)
    data = datasets.load(synthetic, "float64")
    order = np.random.default_rng(0).permutation(len(data.x))
    epoch, ref = MLP(spec, train, dtype="float64"), MLP(spec, train, dtype="float64")
    ref.ensure_batch(64)
    loss_value, acc = epoch.train_epoch(data.x, data.y, order, 0.05, PhaseClock(False), True)
    total, hits = 0.0, 0
    for start in range(0, len(order), 64):
        idx = order[start : start + 64]
        m, yb = len(idx), data.y[idx]
        ref.X[:m] = data.x[idx]
        scores = ref.forward(m)
        total += (ref.data_loss(yb, m) + ref.penalty()) * m
        hits += int((scores.argmax(axis=1) == yb).sum())
        ref.output_delta(yb, m)  # the gradient itself, and the update's own scaling
        ref.backward(m)
        ref.update(0.05)
    assert loss_value == pytest.approx(total / len(order), rel=1e-12)
    assert acc == hits / len(order)
    np.testing.assert_allclose(epoch.params, ref.params, rtol=1e-12, atol=1e-15)
