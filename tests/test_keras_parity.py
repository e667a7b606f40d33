"""The Keras twin computes the NumPy backend's maths: same start, same batches, same weights.

Both backends start from ModelSpec.initial_weights(seed) and train on the harness's batch
order, so any difference beyond rounding is a difference in the maths.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench import data as datasets
from mlpbench.api.protocol import ModelSpec, TrainSpec

pytest.importorskip("keras", reason="the Keras backend needs `make install` (keras, tensorflow)")
from mlpbench.backends.keras import KerasTrainer  # noqa: E402
from mlpbench.backends.numpy.trainer import NumpyTrainer  # noqa: E402

SPEC = ModelSpec(l2=0.01, l1=0.001)


def mnist(dtype: str, subset: int = 2000):
    spec = datasets.DataSpec(subset=subset, test_subset=500)
    return datasets.load(spec, dtype)


def train_both(tr: TrainSpec, dtype: str, data, spec: ModelSpec = SPEC, **keras_options):
    numpy_t = NumpyTrainer(spec, tr, dtype=dtype)
    keras_t = KerasTrainer(spec, tr, dtype=dtype, options={"threads": 2, **keras_options})
    n_losses, k_losses = [], []
    numpy_t.fit(data, lambda e: n_losses.append(e.loss))
    keras_t.fit(data, lambda e: k_losses.append(e.loss))
    return numpy_t, keras_t, n_losses, k_losses


def max_relative_errors(a, b):
    return [float(np.abs(x - y).max() / np.abs(x).max()) for x, y in zip(a, b)]


OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", momentum=0.9, learning_rate=0.01),
    "rmsprop": dict(optimizer="rmsprop", learning_rate=0.001),
}


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-6), ("float32", 1e-3)])
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_weights_agree_after_20_steps(opt, dtype, tol):
    tr = TrainSpec(epochs=1, batch_size=100, shuffle="harness", seed=3, **OPTIMIZERS[opt])
    numpy_t, keras_t, _, _ = train_both(tr, dtype, mnist(dtype))  # 2000 / 100 = 20 steps
    assert keras_t.model.optimizer.iterations.numpy() == 20
    for layer, err in enumerate(max_relative_errors(numpy_t.weights(), keras_t.weights())):
        assert err < tol, f"array {layer}: relative difference {err:.2e}"
    assert all(w.dtype == np.dtype(dtype) for w in keras_t.weights())


def test_loss_curves_agree_over_3_epochs():
    tr = TrainSpec(epochs=3, batch_size=100, shuffle="harness", seed=3, decay=1e-3)
    _, _, n_losses, k_losses = train_both(tr, "float32", mnist("float32", subset=3000))
    assert len(n_losses) == len(k_losses) == 3
    for n, k in zip(n_losses, k_losses):
        assert abs(n - k) / abs(k) < 0.01, (n_losses, k_losses)


def test_keras_logits_shortcut_changes_the_maths():
    """Keras-on-TF computes softmax-CE of the logits for a sigmoid output: documented here."""
    tr = TrainSpec(epochs=1, batch_size=100, shuffle="harness", seed=3)
    numpy_t, keras_t, _, _ = train_both(tr, "float64", mnist("float64"), keras_logits_shortcut=True)
    assert max(max_relative_errors(numpy_t.weights(), keras_t.weights())) > 1e-2


def test_softmax_output_agrees_with_shortcut_on():
    """With a softmax output the shortcut is exact, so parity holds either way."""
    spec = ModelSpec(output_activation="softmax", l2=0.01)
    tr = TrainSpec(epochs=1, batch_size=100, shuffle="harness", seed=3)
    numpy_t, keras_t, _, _ = train_both(
        tr, "float64", mnist("float64"), spec=spec, keras_logits_shortcut=True
    )
    assert max(max_relative_errors(numpy_t.weights(), keras_t.weights())) < 1e-6


def test_evaluate_and_epoch_records():
    tr = TrainSpec(epochs=2, batch_size=200, train_accuracy="batch")
    data = mnist("float32")
    keras_t = KerasTrainer(SPEC, tr, dtype="float32", options={"threads": 2})
    recs = []
    keras_t.fit(data, recs.append)
    assert [r.epoch for r in recs] == [0, 1]
    assert all(r.wall_s > 0 and r.cpu_s > 0 and 0 <= r.accuracy <= 1 for r in recs)
    loss, acc = keras_t.evaluate(data.x_test, data.y_test)
    assert loss > 0 and 0 <= acc <= 1
    info = keras_t.info()
    assert info["keras_backend"] == "tensorflow" and info["import_s"] >= 0


KERAS_ON_ENGINE = """
import sys
import numpy as np
from mlpbench import data as datasets
from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.keras import KerasTrainer
from mlpbench.backends.numpy.trainer import NumpyTrainer
engine = sys.argv[1]
for dtype in sys.argv[2:]:  # one process for both: the engine's import is most of the cost
    data = datasets.load(datasets.DataSpec(subset=1000, test_subset=200), dtype)
    tr = TrainSpec(epochs=1, batch_size=100, shuffle="harness", seed=3)
    a = NumpyTrainer(ModelSpec(), tr, dtype=dtype)
    b = KerasTrainer(ModelSpec(), tr, dtype=dtype, options={"keras_backend": engine})
    a.fit(data)
    b.fit(data)
    assert b.info()["keras_backend"] == engine
    assert all(w.dtype == dtype for w in b.weights()), [w.dtype for w in b.weights()]
    w = zip(a.weights(), b.weights())
    print(dtype, max(float(np.abs(x - y).max() / np.abs(x).max()) for x, y in w))
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["torch", "jax"])
def test_keras_on_other_engines_computes_the_same_maths(engine):
    """keras_backend is chosen per process, before Keras is imported: run it in a fresh one.
    Both engines keep parity with NumPy in float64 (1e-6) and float32 (1e-3)."""
    import os
    import subprocess
    import sys

    pytest.importorskip(engine)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    tolerance = {"float64": 1e-6, "float32": 1e-3}
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_ON_ENGINE, engine, *tolerance],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = dict(line.split() for line in proc.stdout.strip().splitlines()[-2:])
    assert list(seen) == list(tolerance), proc.stdout
    for dtype, tol in tolerance.items():
        assert float(seen[dtype]) < tol, (engine, dtype, seen[dtype])
