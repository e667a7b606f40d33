"""A conformance kit for backend authors: does a Trainer keep the protocol and the maths?

Use it from pytest::

    import pytest
    from mlpbench.api.conformance import CHECKS

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_conformance(check):
        check("mybackend")          # an installed backend name, or the Trainer class itself

Each check trains for at most 4 epochs on small synthetic data (480 samples, batches of 50, so
the last batch is partial), in float64 and float32 where the backend offers them. Parity
compares with the built-in NumPy backend (loaded by name, like any plugin) from the same
initial weights and batches: every hidden activation, output and loss the specs offer, both
optimizers, the learning-rate decay, and evaluate(), within 1e-6 (float64) or 1e-3 (float32)
relative. A failure is a :class:`KitFailure`: one sentence that says what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlpbench import data as datasets
from mlpbench.api import records as checks
from mlpbench.api import registry
from mlpbench.api.protocol import (
    DTYPES,
    Capabilities,
    EpochRecord,
    ModelSpec,
    SpecError,
    TrainSpec,
)

SPEC = ModelSpec(layers=(20, 12, 8, 4), l2=0.001, l1=0.0005)
DATA = datasets.DataSpec(
    dataset="synthetic", synthetic_samples=480, synthetic_features=20, synthetic_classes=4, seed=7
)
BATCH = 50  # 480 = 9 x 50 + 30: the last batch is partial
TOLERANCE = {"float64": 1e-6, "float32": 1e-3}
# Every hidden activation, output and loss the specs offer, both optimizers, and the decay.
CASES: list[tuple[str, ModelSpec, dict[str, Any]]] = [
    ("sigmoid/sigmoid/categorical, SGD with momentum", SPEC, {"optimizer": "sgd", "momentum": 0.9}),
    (
        "relu/softmax/categorical, RMSprop with decay",
        ModelSpec(layers=SPEC.layers, activation="relu", output_activation="softmax", l2=0.001),
        {"optimizer": "rmsprop", "decay": 0.5},
    ),
    (
        "tanh/sigmoid/binary, plain SGD",
        ModelSpec(
            layers=SPEC.layers, activation="tanh", loss="binary_crossentropy", l2=0.001, l1=0.001
        ),
        {"optimizer": "sgd", "learning_rate": 0.05},
    ),
]


class KitFailure(AssertionError):
    """A conformance failure, as one sentence naming what is wrong."""


def expect(ok: Any, sentence: str) -> None:
    if not ok:
        raise KitFailure(sentence)


def _cls(backend: str | type) -> type:
    return registry.load(backend).cls if isinstance(backend, str) else backend


def _dtypes(cls: type) -> list[str]:
    """The kit's dtypes this backend offers: float64 first (the tight tolerance), float32."""
    offered = cls.capabilities().dtypes
    return [d for d in ("float64", "float32") if d in offered]


def _train(
    backend: str | type,
    dtype: str,
    epochs: int = 2,
    spec: ModelSpec = SPEC,
    **train: Any,
) -> tuple[Any, list[EpochRecord], Any]:
    cls = _cls(backend)
    settings = {
        "epochs": epochs,
        "batch_size": BATCH,
        "seed": 5,
        "shuffle": "harness",
        "learning_rate": 0.01,
        **train,
    }
    data = datasets.load(DATA, dtype)
    try:
        trainer = cls(
            spec, TrainSpec(**settings), device="cpu", dtype=dtype, options={"threads": 1}
        )
    except Exception as e:
        raise KitFailure(f"building the trainer failed: {type(e).__name__}: {e}") from e
    records: list[EpochRecord] = []
    try:
        trainer.fit(data, records.append)
    except Exception as e:
        raise KitFailure(f"fit() failed: {type(e).__name__}: {e}") from e
    expect(
        len(records) == epochs,
        f"fit() reported {len(records)} epoch record(s) for {epochs} epochs: one per epoch",
    )
    return trainer, records, data


def check_capabilities(backend: str | type) -> None:
    caps = _cls(backend).capabilities()
    expect(
        isinstance(caps, Capabilities),
        "capabilities() must return mlpbench.api.protocol.Capabilities",
    )
    expect("cpu" in caps.devices and "cpu" not in caps.unavailable, "the kit needs the CPU")
    unknown = [d for d in caps.dtypes if d not in DTYPES]
    expect(not unknown, f"capabilities() names unknown dtypes {unknown}; known: {DTYPES}")
    expect(
        _dtypes(_cls(backend)),
        f"capabilities() offers {caps.dtypes}: the kit needs float32 or float64",
    )


def check_options(backend: str | type) -> None:
    cls = _cls(backend)
    dtype = _dtypes(cls)[0]
    try:
        cls(SPEC, TrainSpec(), device="cpu", dtype=dtype, options={"threads": 1})
    except Exception as e:
        raise KitFailure(f"options {{'threads': 1}} must be accepted, got {e!r}") from e
    try:
        cls(SPEC, TrainSpec(), dtype=dtype, options={"threads": 1, "no_such_option": 1})
    except SpecError as e:
        expect("no_such_option" in str(e), f"the error must name the unknown option: {e}")
        return
    except Exception as e:
        raise KitFailure(
            f"an unknown option must raise mlpbench.api.protocol.SpecError, not {type(e).__name__}"
        ) from e
    raise KitFailure("an unknown option was accepted: raise SpecError naming the allowed ones")


def check_epoch_records(backend: str | type) -> None:
    """The records and info() the worker would write: the same rules (mlpbench.api.records),
    the same sentences, and what the kit asks beyond them (a loss > 0, phases within the
    epoch)."""
    cls = _cls(backend)
    trainer, records, _ = _train(backend, _dtypes(cls)[0])
    try:
        checks.check_epochs(records, 2)
        checks.check_info(trainer.info())
    except checks.RecordError as e:
        raise KitFailure(str(e)) from None
    for r in records:
        expect(r.wall_s > 0, f"epoch {r.epoch + 1}: wall_s = {r.wall_s} must be > 0")
        expect(r.loss > 0, f"epoch {r.epoch + 1}: the training loss must be > 0, got {r.loss}")
        if cls.capabilities().phases:
            expect(r.phases, "capabilities() says phases=True but the record has none")
            expect(
                sum(r.phases.values()) <= r.wall_s * 1.05,
                "the phases add up to more than the epoch's wall time",
            )


def check_initial_weights(backend: str | type) -> None:
    cls = _cls(backend)
    expected = [a for pair in SPEC.initial_weights(5) for a in pair]
    for dtype in _dtypes(cls):
        trainer = cls(SPEC, TrainSpec(seed=5), device="cpu", dtype=dtype, options={"threads": 1})
        got = trainer.weights()
        expect(
            len(got) == len(expected),
            f"weights() returned {len(got)} arrays: [kernel0, bias0, kernel1, bias1, ...]",
        )
        for i, (g, e) in enumerate(zip(got, expected)):
            g = np.asarray(g)
            expect(g.shape == e.shape, f"array {i} has shape {g.shape}, expected {e.shape}")
            expect(
                g.dtype == np.dtype(dtype),
                f"a {dtype} run returned weights in {g.dtype}: keep the run's dtype",
            )
            expect(
                np.allclose(g, e, rtol=TOLERANCE[dtype]),
                f"array {i} does not start from ModelSpec.initial_weights(seed)",
            )


def check_weights_after_fit(backend: str | type) -> None:
    shapes = [s for a, b in zip(SPEC.layers[:-1], SPEC.layers[1:]) for s in ((a, b), (b,))]
    for dtype in _dtypes(_cls(backend)):
        trainer, _, _ = _train(backend, dtype, epochs=1)
        got = [np.asarray(w) for w in trainer.weights()]
        expect(
            [w.shape for w in got] == shapes, f"after fit() the shapes are {[w.shape for w in got]}"
        )
        wrong = {str(w.dtype) for w in got} - {dtype}
        expect(not wrong, f"a {dtype} run returned weights in {sorted(wrong)} after fit()")


def check_determinism(backend: str | type) -> None:
    """The same seed gives the same weights, with the harness's batches and with the backend's
    own shuffling (which must be drawn from ``train.seed``)."""
    dtype = _dtypes(_cls(backend))[0]
    for shuffle in ("harness", "own"):
        a, ra, _ = _train(backend, dtype, epochs=2, shuffle=shuffle)
        b, rb, _ = _train(backend, dtype, epochs=2, shuffle=shuffle)
        same = all(
            np.allclose(x, y, rtol=1e-6, atol=1e-9) for x, y in zip(a.weights(), b.weights())
        )
        expect(
            same and math.isclose(ra[-1].loss, rb[-1].loss, rel_tol=1e-6),
            f"shuffle = {shuffle!r}: two runs with the same seed gave different weights "
            + ("(draw the own order from train.seed)" if shuffle == "own" else ""),
        )


def check_evaluate(backend: str | type) -> None:
    dtype = _dtypes(_cls(backend))[0]
    trainer, _, data = _train(backend, dtype, epochs=4, learning_rate=0.02)
    loss, acc = trainer.evaluate(data.x_test, data.y_test)
    expect(math.isfinite(loss) and loss > 0, f"evaluate() returned the loss {loss}")
    expect(0.0 <= acc <= 1.0, f"evaluate() returned the accuracy {acc}, not in [0, 1]")
    if acc <= 1.5 / DATA.synthetic_classes:
        ours, _, _ = _train(_cls("numpy"), dtype, epochs=4, learning_rate=0.02)
        _, reached = ours.evaluate(data.x_test, data.y_test)
        raise KitFailure(
            f"after 4 epochs the accuracy is {acc:.2f}, barely above chance; the NumPy backend "
            f"reaches {reached:.2f} on the same data: it does not learn as it should "
            "(check_parity_with_numpy says where it differs)"
        )


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


def _shapes_agree(ours: Any, theirs: Any, where: str) -> None:
    for i, (a, b) in enumerate(zip(ours.weights(), theirs.weights())):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            hint = (
                ": the kernel is transposed (kernels are (n_in, n_out), as Keras's)"
                if a.ndim == 2 and b.shape == a.shape[::-1]
                else ""
            )
            raise KitFailure(
                f"{where}: weights() array {i} has shape {b.shape}, the NumPy backend's "
                f"{a.shape}{hint}"
            )


def _agree(backend: Any, reference: Any, dtype: str, spec: ModelSpec, **train: Any) -> bool:
    theirs, _, _ = _train(backend, dtype, epochs=2, spec=spec, **train)
    ours, _, _ = _train(reference, dtype, epochs=2, spec=spec, **train)
    return all(
        np.shape(a) == np.shape(b) and _relative(a, b) < TOLERANCE[dtype]
        for a, b in zip(ours.weights(), theirs.weights())
    )


def _cause(backend: Any, reference: Any, dtype: str, spec: ModelSpec, train: dict) -> str:
    """Why the weights differ, found by training both again with one thing removed: the
    penalty, or the last partial batch (480 samples in batches of 48 have none)."""
    from dataclasses import replace

    if spec.l1 or spec.l2:
        bare = replace(spec, l1=0.0, l2=0.0)
        if _agree(backend, reference, dtype, bare, **train):
            return (
                "without L1/L2 the two agree, so the penalty differs: each regularized kernel's "
                "gradient gains 2*l2*W + l1*sign(W) (never the biases; the output layer only "
                "with regularize_output), and the loss gains l2*sum(W**2) + l1*sum(|W|)"
            )
    if _agree(backend, reference, dtype, spec, **{**train, "batch_size": 48}):
        return (
            f"with no partial batch (batch 48) the two agree, so the last batch "
            f"({DATA.synthetic_samples % BATCH} of {BATCH} samples) is handled differently: "
            "train on it too, its gradient averaged over its own samples"
        )
    return (
        "check the maths in docs/plugins.md (activations, loss, penalty, update, decay, the "
        "last partial batch)"
    )


def check_parity_with_numpy(backend: str | type) -> None:
    """Same initial weights, same batches: the weights, the epoch losses and evaluate() must
    agree with the NumPy backend's, for every case in ``CASES`` and every dtype offered. A
    difference is explained where a second training finds its cause (the penalty, the last
    partial batch)."""
    reference = _cls("numpy")
    for dtype in _dtypes(_cls(backend)):
        tol = TOLERANCE[dtype]
        for name, spec, train in CASES:
            theirs, rt, data = _train(backend, dtype, epochs=2, spec=spec, **train)
            ours, ro, _ = _train(reference, dtype, epochs=2, spec=spec, **train)
            _shapes_agree(ours, theirs, f"{name}, {dtype}")
            for i, (a, b) in enumerate(zip(ours.weights(), theirs.weights())):
                err = _relative(a, b)
                if err >= tol:
                    raise KitFailure(
                        f"{name}, {dtype}: after 2 epochs array {i} differs from the NumPy "
                        f"backend's by {err:.1e} (more than {tol:g}); "
                        + _cause(backend, reference, dtype, spec, train)
                    )
            a_ours, a_theirs = _losses_agree(
                (ours, ro), (theirs, rt), data, tol * 10, f"{name}, {dtype}",
                "the data loss plus the penalty; an epoch's, the mean over its batches",
            )  # fmt: skip
            expect(
                abs(a_ours - a_theirs) <= 1 / len(data.y_test) + 1e-9,
                f"{name}, {dtype}: evaluate() gives the accuracy {a_theirs}, the NumPy backend "
                f"{a_ours}",
            )


SATURATED = ModelSpec(
    layers=SPEC.layers, loss="binary_crossentropy", init="sqrt_nodes", init_factor=60.0
)
"""Initial weights so large that most sigmoid outputs sit within 1e-4 of 0 or 1: there the
loss is decided by how it is clipped (Keras clips the probabilities to [1e-7, 1 - 1e-7])."""


def check_loss_clipping(backend: str | type) -> None:
    """With saturated outputs, the loss is the clipped one: a backend that clips at another
    epsilon (1e-3, say) reports a loss that is finite and plausible, and wrong; the other
    checks' networks never saturate, so only this one sees it."""
    reference = _cls("numpy")
    dtype = _dtypes(_cls(backend))[0]
    train = {"optimizer": "sgd", "learning_rate": 1e-9}  # the initial weights, measured
    theirs, rt, data = _train(backend, dtype, epochs=1, spec=SATURATED, **train)
    ours, ro, _ = _train(reference, dtype, epochs=1, spec=SATURATED, **train)
    tol = max(TOLERANCE[dtype] * 10, 1e-4)
    _losses_agree(
        (ours, ro), (theirs, rt), data, tol, "with saturated sigmoid outputs (binary "
        "cross-entropy)", "clip the probabilities to [1e-7, 1 - 1e-7] before the log, as Keras "
        "does",
    )  # fmt: skip


def _losses_agree(
    reference: tuple[Any, list[EpochRecord]],
    backend: tuple[Any, list[EpochRecord]],
    data: Any,
    rel_tol: float,
    where: str,
    hint: str,
) -> tuple[float, float]:
    """Each epoch's loss and evaluate()'s loss within ``rel_tol`` of the NumPy backend's, or a
    KitFailure naming ``where`` and ``hint``; returns both accuracies (reference, backend)."""
    (ours, ro), (theirs, rt) = reference, backend
    for e, (x, y) in enumerate(zip(ro, rt)):
        expect(
            math.isclose(x.loss, y.loss, rel_tol=rel_tol),
            f"{where}: the epoch {e} loss is {y.loss:.6g}, the NumPy backend's {x.loss:.6g} "
            f"({hint})",
        )
    l_ours, a_ours = ours.evaluate(data.x_test, data.y_test)
    l_theirs, a_theirs = theirs.evaluate(data.x_test, data.y_test)
    expect(
        math.isclose(l_ours, l_theirs, rel_tol=rel_tol),
        f"{where}: evaluate() gives the loss {l_theirs:.6g}, the NumPy backend {l_ours:.6g} "
        f"({hint})",
    )
    return a_ours, a_theirs


CHECKS: list[Callable[[str | type], None]] = [
    check_capabilities,
    check_options,
    check_epoch_records,
    check_initial_weights,
    check_weights_after_fit,
    check_determinism,
    check_evaluate,
    check_parity_with_numpy,
    check_loss_clipping,
]


def run_all(backend: str | type) -> dict[str, str]:
    """Every check, without pytest: {check name: "ok" or the failure's sentence}."""
    out = {}
    for check in CHECKS:
        try:
            check(backend)
            out[check.__name__] = "ok"
        except KitFailure as e:
            out[check.__name__] = str(e)
        except Exception as e:
            out[check.__name__] = f"{type(e).__name__}: {e}"
    return out


def check_all(backend: str | type) -> None:
    """Every check, without pytest, failing as a test would: a :class:`KitFailure` naming each
    check that failed with its sentence (``python -c "...; check_all('mine')"`` exits 1)."""
    failed = {name: why for name, why in run_all(backend).items() if why != "ok"}
    if failed:
        raise KitFailure("; ".join(f"{name}: {why}" for name, why in failed.items()))
