"""The contract between the harness and a backend.

A backend is any class meeting :class:`Trainer`. It receives a :class:`ModelSpec`, a
:class:`TrainSpec`, a device and a dtype, starts from the weights the harness hands it
(``ModelSpec.initial_weights``), and reports one :class:`EpochRecord` per epoch. Nothing here
imports an ML framework: backends import this module, never the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, get_type_hints, runtime_checkable

import numpy as np

from mlpbench.errors import UserError, did_you_mean

ACTIVATIONS = ("sigmoid", "tanh", "relu")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")
LOSSES = ("categorical_crossentropy", "binary_crossentropy")
INITS = ("glorot_uniform", "sqrt_nodes")
OPTIMIZERS = ("sgd", "rmsprop")
DTYPES = ("float32", "float64", "bfloat16")  # bfloat16: bfloat16 compute, float32 weights
DEVICES = ("cpu", "gpu")
TRAIN_ACCURACY = ("none", "batch", "full")
SHUFFLE = ("own", "harness", "none")
PHASES = ("shuffle", "forward", "backward", "update", "eval")


class SpecError(UserError, ValueError):
    """A bad option: the message names the option and the allowed values."""


def check_value(name: str, value: Any, kind: Any) -> Any:
    """``value`` as ``kind`` (bool, int, float, str, or a tuple of allowed values), else a
    SpecError naming ``name``. No silent coercion: 2.5 is not an int, "2" is not a number,
    "maybe" is not a boolean, and a float must be finite. Ints are accepted as floats."""
    if isinstance(kind, tuple):
        _choice(name, value, kind)
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise SpecError(f"{name} = {value!r}: must be true or false")
        return value
    if kind is int:
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise SpecError(f"{name} = {value!r}: must be an integer")
        return int(value)
    if kind is float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, bool
        )
        if not ok or not math.isfinite(value):
            raise SpecError(f"{name} = {value!r}: must be a finite number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise SpecError(f"{name} = {value!r}: must be a string")
        return value
    return value


def check_fields(spec: Any) -> None:
    """Check (and normalize) every field of a frozen spec dataclass against its annotation."""
    hints = get_type_hints(type(spec))
    for f in fields(spec):
        kind, value = hints[f.name], getattr(spec, f.name)
        if getattr(kind, "__origin__", None) is tuple:  # tuple[int, ...]
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise SpecError(f"{f.name} = {value!r}: must be a list of integers")
            value = tuple(check_value(f.name, v, int) for v in value)
        else:
            value = check_value(f.name, value, kind)
        object.__setattr__(spec, f.name, value)


def nvidia_gpu_present() -> bool:
    """An NVIDIA GPU on this machine, seen without importing a framework (for capabilities())."""
    from pathlib import Path

    return Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidia0").exists()


def _choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if isinstance(value, (dict, list)) or value not in allowed:
        hint = "" if isinstance(value, (dict, list)) else did_you_mean(value, allowed)
        raise SpecError(
            f"{name} = {value!r} is not allowed{hint}; choose one of: "
            + ", ".join(map(str, allowed))
        )


@dataclass(frozen=True)
class ModelSpec:
    """The network every backend builds: a dense MLP.

    Regularization follows Keras's convention so that both backends optimize one loss:
    ``l2`` adds ``l2 * sum(W**2)`` and ``l1`` adds ``l1 * sum(|W|)`` per regularized kernel
    (biases never), so the gradient gains ``2*l2*W + l1*sign(W)``. As in the article's Keras
    model the output layer is not regularized unless ``regularize_output`` is set.
    """

    layers: tuple[int, ...] = field(
        default=(784, 70, 30, 10), metadata={"help": "layer sizes, input to output: 784,70,30,10"}
    )
    activation: str = field(
        default="sigmoid", metadata={"help": "hidden-layer activation", "choices": ACTIVATIONS}
    )
    output_activation: str = field(
        default="sigmoid", metadata={"help": "output activation", "choices": OUTPUT_ACTIVATIONS}
    )
    loss: str = field(default="categorical_crossentropy", metadata={"choices": LOSSES})
    l1: float = field(default=0.0, metadata={"help": "L1 factor per regularized kernel"})
    l2: float = field(default=0.01, metadata={"help": "L2 factor per regularized kernel"})
    regularize_output: bool = field(
        default=False, metadata={"help": "regularize the output kernel too"}
    )
    init: str = field(
        default="glorot_uniform", metadata={"help": "initial weights", "choices": INITS}
    )
    init_factor: float = field(
        default=2.0, metadata={"help": "the article's init_weight_fact (init = sqrt_nodes)"}
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if len(self.layers) < 2:
            raise SpecError(
                f"layers = {list(self.layers)!r} needs at least an input and an output size, "
                "e.g. [784, 70, 30, 10]"
            )
        if any(n <= 0 for n in self.layers):
            raise SpecError(f"layers = {list(self.layers)!r}: every layer size must be > 0")
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("output_activation", self.output_activation, OUTPUT_ACTIVATIONS)
        _choice("loss", self.loss, LOSSES)
        _choice("init", self.init, INITS)
        if self.l1 < 0 or self.l2 < 0:
            raise SpecError(f"l1 = {self.l1}, l2 = {self.l2}: regularization factors must be >= 0")

    @property
    def n_layers(self) -> int:
        """Number of weight layers (dense layers)."""
        return len(self.layers) - 1

    def regularized(self, layer: int) -> bool:
        return layer < self.n_layers - 1 or self.regularize_output

    def initial_weights(self, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (kernel, bias) pairs every backend starts from, float64, kernel shape (n_in, n_out).

        ``glorot_uniform`` is Keras's default: U(-r, r), r = sqrt(6 / (n_in + n_out)).
        ``sqrt_nodes`` is the article's interval: U(-r, r), r = init_factor / sqrt(n_in).
        Biases start at zero, as Keras's do.
        """
        rng = np.random.default_rng(seed)
        out = []
        for n_in, n_out in zip(self.layers[:-1], self.layers[1:]):
            if self.init == "glorot_uniform":
                r = math.sqrt(6.0 / (n_in + n_out))
            else:
                r = self.init_factor / math.sqrt(n_in)
            out.append((rng.uniform(-r, r, size=(n_in, n_out)), np.zeros(n_out)))
        return out

    def flops_per_sample(self) -> tuple[int, int]:
        """(forward, training step) floating-point operations per sample, GEMMs only.

        A dense layer n_in -> n_out costs 2*n_in*n_out per sample for each of: the forward
        product, the weight gradient, and the delta propagated to the layer below. The input
        layer needs no delta, so a step costs 6*sum(n_in*n_out) - 2*n_0*n_1. Element-wise work
        (activations, bias, optimizer) is O(n) per sample and left out, as is usual.
        """
        sizes = [a * b for a, b in zip(self.layers[:-1], self.layers[1:])]
        forward = 2 * sum(sizes)
        return forward, 3 * forward - 2 * sizes[0]


@dataclass(frozen=True)
class TrainSpec:
    """How to train. ``decay`` is the article's ``decrease_const``: the learning rate of
    epoch e (0-based) is ``learning_rate / prod_{i=1..e} (1 + decay * i)``."""

    epochs: int = field(default=35, metadata={"help": "epochs to train"})
    batch_size: int = field(default=500, metadata={"help": "samples per step"})
    optimizer: str = field(default="rmsprop", metadata={"choices": OPTIMIZERS})
    learning_rate: float = field(default=0.001, metadata={"aliases": ("--lr",)})
    momentum: float = field(
        default=0.0, metadata={"help": "sgd: Keras's rule v = m*v - lr*g; w += v"}
    )
    rho: float = field(default=0.9, metadata={"help": "rmsprop's decay (Keras's default)"})
    epsilon: float = field(
        default=1e-7, metadata={"help": "rmsprop's epsilon, inside the square root (Keras)"}
    )
    decay: float = field(default=0.0, metadata={"help": "the article's decrease_const"})
    shuffle: str = field(
        default="own",
        metadata={
            "help": "own: the backend's shuffling; harness: the same batches for every "
            "backend; none",
            "choices": SHUFFLE,
        },
    )
    seed: int = field(default=0, metadata={"help": "initial weights and batch order"})
    train_accuracy: str = field(
        default="none",
        metadata={"help": "the article's two ways, with their cost", "choices": TRAIN_ACCURACY},
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if self.epochs <= 0:
            raise SpecError(f"epochs = {self.epochs}: must be > 0")
        if self.batch_size <= 0:
            raise SpecError(f"batch_size = {self.batch_size}: must be > 0")
        if self.learning_rate <= 0:
            raise SpecError(f"learning_rate = {self.learning_rate}: must be > 0")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("shuffle", self.shuffle, SHUFFLE)
        _choice("train_accuracy", self.train_accuracy, TRAIN_ACCURACY)

    def epoch_learning_rates(self) -> list[float]:
        """The learning rate of each epoch under the article's compounding decay."""
        rates, lr = [], self.learning_rate
        for e in range(self.epochs):
            lr = lr / (1.0 + self.decay * e)
            rates.append(lr)
        return rates


def backend_options(
    backend: str,
    options: Mapping[str, Any] | None,
    allowed: Sequence[str] | Mapping[str, Any],
) -> dict[str, Any]:
    """A backend's options as a dict; unknown keys are an error naming the allowed ones.

    ``allowed`` is the option names, or better a mapping of each name to its kind (bool, int,
    float, str, or a tuple of allowed values): then a value of the wrong kind is an error too.
    """
    if not isinstance(options, Mapping) and options is not None:
        raise SpecError(f"{backend} backend options must be a table of KEY = VALUE")
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed), key=str)
    if unknown:
        raise SpecError(
            f"unknown {backend} backend option(s) {', '.join(map(repr, unknown))}"
            f"{did_you_mean(unknown[0], allowed)}; allowed: {', '.join(allowed)}"
        )
    if isinstance(allowed, Mapping):
        for key, value in options.items():
            options[key] = check_value(f"{backend} option {key}", value, allowed[key])
    return options


def epoch_order(
    train: TrainSpec, epoch: int, n: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The order of the ``n`` samples in one epoch, by ``train.shuffle``.

    ``harness``: a permutation from the seed and the epoch alone, so every backend trains on the
    same batches (parity tests use it); ``none``: stored order; ``own``: drawn from ``rng``, the
    backend's own generator.
    """
    if train.shuffle == "harness":
        return np.random.default_rng([train.seed, epoch]).permutation(n)
    if train.shuffle == "none" or rng is None:
        return np.arange(n)
    return rng.permutation(n)


def one_hot(labels: np.ndarray, n_classes: int, dtype: Any) -> np.ndarray:
    out = np.zeros((len(labels), n_classes), dtype=dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


@dataclass
class TrainData:
    """Preprocessed data in the run's dtype. Labels are integer class ids."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str = ""
    x_rows: np.ndarray | None = None
    """The training rows in their source dtype (uint8 for MNIST) where ``x == x_rows /
    x_divisor`` exactly in the run's dtype: a backend may gather a batch from them and convert
    in the same pass, a quarter of the bytes (None where the scaling is not that division)."""
    x_divisor: float = 0.0


@dataclass
class EpochRecord:
    """What a backend reports after each epoch. Times in seconds; NaN where unknown."""

    epoch: int
    wall_s: float
    cpu_s: float
    loss: float
    accuracy: float = math.nan
    phases: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Capabilities:
    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[str, ...] = ("float32", "float64")
    phases: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)  # device -> why not here

    def why_not(self, device: str, dtype: str) -> str | None:
        """The reason a (device, dtype) point cannot run here, or None if it can."""
        if device in self.unavailable:
            return f"device {device!r} unavailable: {self.unavailable[device]}"
        if device not in self.devices:
            return f"device {device!r} not supported (supports: {', '.join(self.devices)})"
        if dtype not in self.dtypes:
            return f"dtype {dtype!r} not supported (supports: {', '.join(self.dtypes)})"
        return None


OnEpochEnd = Callable[[EpochRecord], None]


@runtime_checkable
class Trainer(Protocol):
    """A backend: one class, registered under the entry-point group ``mlpbench.backends``.

    The harness builds it once per run, in a fresh process whose thread variables are already
    set, calls ``fit`` once and then ``evaluate``, ``weights`` (tests) and ``info``.
    """

    @classmethod
    def capabilities(cls) -> Capabilities:
        """Devices and dtypes this backend supports, and why a device cannot run here.

        Called without building a trainer (``mlpbench backends``, the sweep's checks): cheap,
        and importing no framework that would start thread pools."""
        ...

    def __init__(
        self,
        spec: ModelSpec,
        train: TrainSpec,
        device: str = "cpu",
        dtype: str = "float32",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Build the network from ``spec.initial_weights(train.seed)``. ``options`` holds the
        run's ``threads`` and the config's backend options; an unknown key is a SpecError that
        names the allowed ones (``backend_options``). Optionally the class also offers
        ``check_options(options)``, which the sweep calls before any point runs."""
        ...

    def fit(self, data: TrainData, on_epoch_end: OnEpochEnd | None = None) -> None:
        """Train ``train.epochs`` epochs (numbered from 0) on ``data``; after each, report an
        :class:`EpochRecord` (wall and CPU seconds of that epoch, training loss with the
        penalty, accuracy if measured, phases if timed)."""
        ...

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(loss including the penalty, accuracy) on ``x``, ``y`` (integer labels)."""
        ...

    def weights(self) -> list[np.ndarray]:
        """``[kernel0, bias0, kernel1, bias1, ...]`` as NumPy arrays in the run's dtype,
        kernels shaped (n_in, n_out)."""
        ...

    def info(self) -> dict[str, Any]:
        """Versions and effective settings; they reach runs.csv's ``backend_info``.
        ``framework_threads`` gets its own column; ``import_s`` (seconds spent importing the
        framework inside ``__init__``) is added to the import time and kept out of the build
        time."""
        ...
