"""The conformance kit catches every broken copy of a backend that an author could write, and
says what is wrong in one sentence (issue 17). The reference is the plain NumPy backend, which
passes; each broken copy changes one thing."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.api import conformance as testing
from mlpbench.backends.numpy.plain import PlainTrainer
from mlpbench.backends.numpy.plain_maths import PlainMLP, activate


class DropsLastBatch(PlainTrainer):
    def fit(self, data, on_epoch_end=None):
        n, b = len(data.x), self.train.batch_size
        keep = n - n % b
        data.x, data.y = data.x[:keep], data.y[:keep]
        super().fit(data, on_epoch_end)


class EvaluateWithoutPenalty(PlainTrainer):
    def evaluate(self, x, y):
        a = self.forward(x.astype(self.dtype))[-1]
        return self.net.data_loss(a, y), float((a.argmax(axis=1) == y).mean())


class IgnoresDecay(PlainTrainer):
    def fit(self, data, on_epoch_end=None):
        from dataclasses import replace

        self.train = replace(self.train, decay=0.0)
        super().fit(data, on_epoch_end)


class UnseededShuffle(PlainTrainer):
    def fit(self, data, on_epoch_end=None):
        if self.train.shuffle == "own":
            import mlpbench.api.protocol as protocol

            original = protocol.epoch_order  # the plain backend calls it through the module
            rng = np.random.default_rng()  # no seed
            protocol.epoch_order = lambda t, e, n, _rng: rng.permutation(n)
            try:
                return super().fit(data, on_epoch_end)
            finally:
                protocol.epoch_order = original
        return super().fit(data, on_epoch_end)


class AcceptsUnknownOptions(PlainTrainer):
    @classmethod
    def check_options(cls, options):
        return dict(options or {})


class Float64Weights(PlainTrainer):
    def weights(self):
        return [w.astype(np.float64) for w in super().weights()]


def _wrong_activation(name):
    def act(z, n):
        if n == name == "relu":
            return np.maximum(z, 0.01 * z)  # leaky
        if n == name == "softmax":
            return 1.0 / (1.0 + np.exp(-z))  # sigmoid instead
        return activate(z, n)

    return act


def _with_activation(wrong):
    """The plain maths, its forward pass computed with ``wrong`` for the activation."""

    class Maths(PlainMLP):
        def forward(self, x):
            import mlpbench.backends.numpy.plain_maths as plain

            plain.activate, old = wrong, plain.activate
            try:
                return super().forward(x)
            finally:
                plain.activate = old

    return Maths


class WrongRelu(PlainTrainer):
    MATHS = _with_activation(_wrong_activation("relu"))


class WrongSoftmax(PlainTrainer):
    MATHS = _with_activation(_wrong_activation("softmax"))


class CategoricalGradient(PlainMLP):
    """The binary cross-entropy's loss, with the categorical one's gradient."""

    def step(self, x, y, lr):
        if self.model["loss"] != "binary_crossentropy":
            return super().step(x, y, lr)
        self.model = {**self.model, "loss": "categorical_crossentropy"}
        try:
            return super().step(x, y, lr)
        finally:
            self.model = {**self.model, "loss": "binary_crossentropy"}


class WrongBinaryCrossEntropy(PlainTrainer):
    MATHS = CategoricalGradient


class TooFewEpochs(PlainTrainer):
    def fit(self, data, on_epoch_end=None):
        from dataclasses import replace

        self.train = replace(self.train, epochs=max(1, self.train.epochs - 1))
        super().fit(data, on_epoch_end)


class ClipsAtOneThousandthMaths(PlainMLP):
    def data_loss(self, a, y):
        rows = np.arange(len(y))
        t = np.clip(a, 1e-3, 1 - 1e-3)
        onehot = np.zeros_like(a)
        onehot[rows, y] = 1
        return float(-(onehot * np.log(t) + (1 - onehot) * np.log(1 - t)).mean())


class ClipsAtOneThousandth(PlainTrainer):
    """Issue 52: a plugin that clipped the loss's probabilities at 1e-3, not Keras's 1e-7,
    passed every check."""

    MATHS = ClipsAtOneThousandthMaths


BROKEN = [
    (ClipsAtOneThousandth, testing.check_loss_clipping, "clip the probabilities"),
    (DropsLastBatch, testing.check_parity_with_numpy, "differs from the NumPy backend"),
    (EvaluateWithoutPenalty, testing.check_parity_with_numpy, "evaluate() gives the loss"),
    (IgnoresDecay, testing.check_parity_with_numpy, "RMSprop with decay"),
    (UnseededShuffle, testing.check_determinism, "shuffle = 'own'"),
    (AcceptsUnknownOptions, testing.check_options, "unknown option was accepted"),
    (Float64Weights, testing.check_initial_weights, "float32 run returned weights in float64"),
    (WrongRelu, testing.check_parity_with_numpy, "relu/softmax/categorical"),
    (WrongSoftmax, testing.check_parity_with_numpy, "relu/softmax/categorical"),
    (WrongBinaryCrossEntropy, testing.check_parity_with_numpy, "tanh/sigmoid/binary"),
    (TooFewEpochs, testing.check_epoch_records, "epoch record(s) for 2 epochs"),
]


def test_the_reference_passes_every_check():
    assert set(testing.run_all(PlainTrainer).values()) == {"ok"}


@pytest.mark.parametrize("broken,check,needle", BROKEN, ids=lambda v: getattr(v, "__name__", ""))
def test_the_kit_fails_a_broken_copy_in_one_sentence(broken, check, needle):
    with pytest.raises(testing.KitFailure) as failure:
        check(broken)
    message = str(failure.value)
    assert needle in message, message
    assert "\n" not in message and message.strip()
    report = testing.run_all(broken)  # without pytest: the same sentence, no traceback
    assert report[check.__name__] == message
