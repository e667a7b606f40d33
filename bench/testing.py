"""A conformance kit for backend authors: does a Trainer keep the protocol and the maths?

Use it from pytest::

    import pytest
    from bench.testing import CHECKS

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_conformance(check):
        check("mybackend")          # an installed backend name, or the Trainer class itself

Each check trains for at most 4 epochs on small synthetic data, so the kit runs in seconds.
Parity compares with the built-in NumPy backend from the same initial weights and batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import data as datasets
from bench import registry
from bench.protocol import PHASES, Capabilities, EpochRecord, ModelSpec, TrainSpec

SPEC = ModelSpec(layers=(20, 12, 8, 4), l2=0.001, l1=0.0005)
DATA = datasets.DataSpec(
    dataset="synthetic", synthetic_samples=480, synthetic_features=20, synthetic_classes=4, seed=7
)


def _cls(backend: str | type) -> type:
    return registry.load(backend).cls if isinstance(backend, str) else backend


def _dtype(cls: type) -> str:
    dtypes = cls.capabilities().dtypes
    return "float64" if "float64" in dtypes else dtypes[0]


def _train(
    backend: str | type, dtype: str | None = None, epochs: int = 2, **train: Any
) -> tuple[Any, list[EpochRecord], Any]:
    cls = _cls(backend)
    dtype = dtype or _dtype(cls)
    spec = TrainSpec(
        **{
            "epochs": epochs,
            "batch_size": 48,
            "seed": 5,
            "shuffle": "harness",
            "learning_rate": 0.01,
            **train,
        }
    )
    data = datasets.load(DATA, dtype)
    trainer = cls(SPEC, spec, device="cpu", dtype=dtype, options={"threads": 1})
    records: list[EpochRecord] = []
    trainer.fit(data, records.append)
    return trainer, records, data


def check_capabilities(backend: str | type) -> None:
    caps = _cls(backend).capabilities()
    assert isinstance(caps, Capabilities), "capabilities() must return bench.protocol.Capabilities"
    assert "cpu" in caps.devices and "cpu" not in caps.unavailable, "the kit needs the CPU device"
    assert caps.dtypes and set(caps.dtypes) <= {"float32", "float64"}, caps.dtypes


def check_epoch_records(backend: str | type) -> None:
    cls = _cls(backend)
    _, records, _ = _train(backend)
    assert [r.epoch for r in records] == [0, 1], "one EpochRecord per epoch, epochs from 0"
    for r in records:
        assert isinstance(r, EpochRecord)
        assert r.wall_s > 0 and r.cpu_s >= 0, "wall_s > 0 and cpu_s >= 0 seconds"
        assert math.isfinite(r.loss) and r.loss > 0, f"training loss must be finite: {r.loss}"
        assert set(r.phases) <= set(PHASES), f"unknown phases {set(r.phases) - set(PHASES)}"
        if cls.capabilities().phases:
            assert r.phases, "capabilities() says phases=True but the record has none"
            assert sum(r.phases.values()) <= r.wall_s * 1.05, "phases add up to more than the epoch"


def check_initial_weights(backend: str | type) -> None:
    cls = _cls(backend)
    dtype = _dtype(cls)
    trainer = cls(SPEC, TrainSpec(seed=5), device="cpu", dtype=dtype, options={"threads": 1})
    expected = [a for pair in SPEC.initial_weights(5) for a in pair]
    got = trainer.weights()
    assert len(got) == len(expected), "weights() is [kernel0, bias0, kernel1, bias1, ...]"
    for g, e in zip(got, expected):
        assert g.shape == e.shape, f"shape {g.shape}, expected {e.shape} (kernels are (in, out))"
        assert g.dtype == np.dtype(dtype), f"weights in {g.dtype}, run dtype {dtype}"
        np.testing.assert_allclose(g, e, rtol=1e-6, err_msg="must start from initial_weights()")


def check_weights_after_fit(backend: str | type) -> None:
    trainer, _, _ = _train(backend, epochs=1)
    shapes = [s for a, b in zip(SPEC.layers[:-1], SPEC.layers[1:]) for s in ((a, b), (b,))]
    assert [w.shape for w in trainer.weights()] == shapes


def check_determinism(backend: str | type) -> None:
    a, ra, _ = _train(backend, epochs=1)
    b, rb, _ = _train(backend, epochs=1)
    for x, y in zip(a.weights(), b.weights()):
        np.testing.assert_allclose(
            x, y, rtol=1e-6, atol=1e-9, err_msg="same seed and batches must give the same weights"
        )
    assert math.isclose(ra[0].loss, rb[0].loss, rel_tol=1e-6)


def check_evaluate(backend: str | type) -> None:
    trainer, _, data = _train(backend, epochs=4, learning_rate=0.02)
    loss, acc = trainer.evaluate(data.x_test, data.y_test)
    assert math.isfinite(loss) and loss > 0, f"evaluate() loss {loss}"
    assert 0.0 <= acc <= 1.0, f"evaluate() accuracy {acc}"
    assert acc > 1.5 / DATA.synthetic_classes, f"accuracy {acc:.2f} barely above chance"


def check_parity_with_numpy(backend: str | type) -> None:
    """Same initial weights, same batches: the weights must agree with the NumPy backend's
    (loaded by name, like any plugin: the harness imports no backend)."""
    reference = _cls("numpy")
    cls = _cls(backend)
    dtype = _dtype(cls)
    tol = 1e-6 if dtype == "float64" else 1e-3
    for optimizer, extra in (("sgd", {"momentum": 0.9}), ("rmsprop", {"learning_rate": 0.001})):
        theirs, rt, _ = _train(cls, dtype, epochs=1, optimizer=optimizer, **extra)
        ours, ro, _ = _train(reference, dtype, epochs=1, optimizer=optimizer, **extra)
        for i, (a, b) in enumerate(zip(ours.weights(), theirs.weights())):
            err = float(np.abs(a - b).max() / np.abs(a).max())
            assert err < tol, f"{optimizer}: array {i} differs from NumPy's by {err:.1e} (> {tol})"
        assert math.isclose(rt[0].loss, ro[0].loss, rel_tol=tol * 10)


CHECKS: list[Callable[[str | type], None]] = [
    check_capabilities,
    check_epoch_records,
    check_initial_weights,
    check_weights_after_fit,
    check_determinism,
    check_evaluate,
    check_parity_with_numpy,
]


def run_all(backend: str | type) -> dict[str, str]:
    """Every check, without pytest: {check name: "ok" or the failure}."""
    out = {}
    for check in CHECKS:
        try:
            check(backend)
            out[check.__name__] = "ok"
        except Exception as e:
            out[check.__name__] = f"{type(e).__name__}: {e}"
    return out
