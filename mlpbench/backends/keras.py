"""The same MLP in Keras 3, as a :class:`mlpbench.api.protocol.Trainer`.

The framework is configured before it is imported (Keras backend, visible devices, log level)
and before TensorFlow initializes (intra/inter-op threads), so a worker process gets exactly
the run's settings. Keras is imported lazily for the same reason.

Maths kept equal to the NumPy backend:

* L1/L2: ``keras.regularizers.L1L2(l1, l2)`` adds ``l1*sum|W| + l2*sum(W**2)`` per kernel, which is
  exactly ``ModelSpec``'s definition; the output kernel is regularized only if asked.
* Categorical cross-entropy on a *sigmoid* output: Keras's TensorFlow backend tags sigmoid
  outputs with their logits and then silently computes softmax cross-entropy of the logits
  instead of the documented normalized-probability loss (the JAX backend does not). We strip
  that tag so every backend optimizes the documented loss; ``keras_logits_shortcut = true``
  restores Keras's behaviour, which then no longer matches the NumPy maths.
* RMSprop and SGD(momentum) are Keras's own; the article's decay is a schedule over epochs.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from mlpbench.api import protocol as api
from mlpbench.api.framework import FrameworkBackend

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
FEEDS = ("arrays", "tf.data")
OPTIONS: dict[str, Any] = {  # name -> kind (mlpbench.api.protocol.check_value)
    "threads": int,
    "keras_backend": KERAS_BACKENDS,
    "jit_compile": ("auto", True, False),
    "steps_per_execution": int,
    "feed": FEEDS,
    "keras_logits_shortcut": bool,
}
STEPS_PER_EXECUTION = 32


ENGINE_BACKENDS = {"tensorflow": "tf", "jax": "jax", "torch": "torch"}


def _configure_environment(keras_backend: str, device: str, threads: int) -> None:
    """Environment the framework reads at import: must run before the first Keras import."""
    os.environ.setdefault("KERAS_BACKEND", keras_backend)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide info/warnings, keep errors
    if device == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    for var, value in tf_thread_env(threads).items():
        os.environ.setdefault(var, value)


def tf_thread_env(threads: int) -> dict[str, str]:
    """TensorFlow's own pools (Keras on any engine may load it): at most ``threads`` for the
    ops, and at most 2 ops at once."""
    return {
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(max(1, min(threads, 2))),
    }


TF_QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # hide TensorFlow's info and warnings, keep errors


class KerasTrainer(FrameworkBackend):
    """Keras ``Sequential`` of ``Dense`` layers trained by one ``fit()`` call."""

    NAME, MODULE, INSTALL, OPTIONS = "keras", "keras", "pip install 'mlpbench[keras]'", OPTIONS

    INSTALL_GPU = "pip install keras 'tensorflow[and-cuda]'"  # the GPU wheels
    PACKAGES = {
        "keras": "keras",
        "tf-keras": "tf_keras",
        "tensorflow": "tensorflow",
        "tensorflow-cpu": "tensorflow",
    }  # its other engines (jax, torch) are named by their own backends
    TEMPLATE = "standalone_keras.py"  # in mlpbench/backends/templates/
    SCRIPT_IN_OLD_STACKS = True  # Keras 2.3's fit() in the article's Python 3.8 stack
    QUIET_ENV = TF_QUIET
    PROFILE_CATEGORIES = {  # the runtime of whichever engine it runs on
        r"libtensorflow|_pywrap_tensorflow|_pywrap_tf|libtf|xla_extension|jaxlib|libjax|"
        r"libtorch|libc10|torch/_C": "framework runtime"
    }

    @classmethod
    def thread_env(cls, threads: int) -> dict[str, str]:
        return tf_thread_env(threads)

    @classmethod
    def engines(cls) -> dict[str, str]:
        """Keras's engines here (the ``keras_backend`` axis): name -> "ok" or why not."""

        modules = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
        return {
            name: "ok" if importlib.util.find_spec(module) else f"{module} is not installed"
            for name, module in modules.items()
        }

    @classmethod
    def check_options(cls, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options, checked by name and kind (the sweep calls this before it starts)."""
        options = super().check_options(options)
        if options.get("keras_backend") == "torch" and options.get("steps_per_execution", 1) != 1:
            raise api.SpecError("steps_per_execution must be 1 with keras_backend = 'torch'")
        if options.get("steps_per_execution", 1) < 1:
            raise api.SpecError("keras option steps_per_execution must be >= 1")
        return options

    def setup(self, options: dict[str, Any]) -> None:
        spec, train, device, dtype = self.spec, self.train, self.device, self.dtype
        self.keras_backend = options.get("keras_backend", "tensorflow")
        self.feed = options.get("feed", "arrays")
        self.spec, self.train, self.device, self.dtype = spec, train, device, dtype
        # bfloat16 is a compute policy: variables, data and outputs stay float32
        self.storage_dtype = "float32" if dtype == "bfloat16" else dtype
        self.threads = int(options.get("threads", os.cpu_count() or 1))
        self.jit_compile = options.get("jit_compile", "auto")
        # Keras's default is 1 step per call; 32 runs batches in one compiled call and halves
        # the epoch time at small batches on CPU (measured: batch 100, 0.98 -> 0.51 s/epoch).
        # The benchmark must not handicap Keras, so the fastest setting found is our default.
        # Keras on PyTorch runs one step per call only.
        default_spe = 1 if self.keras_backend == "torch" else STEPS_PER_EXECUTION
        self.steps_per_execution = int(options.get("steps_per_execution", default_spe))
        self.logits_shortcut = bool(options.get("keras_logits_shortcut", False))

        t0 = time.perf_counter()
        _configure_environment(self.keras_backend, device, self.threads)
        import keras

        self.keras = keras
        self.keras2 = int(keras.__version__.split(".")[0]) < 3  # tf.keras / tf-keras
        if self.keras2 and self.keras_backend != "tensorflow":
            raise api.SpecError(
                f"keras_backend = {self.keras_backend!r} needs Keras 3; Keras "
                f"{keras.__version__} runs on TensorFlow only"
            )
        if keras.backend.backend() != self.keras_backend:
            raise RuntimeError(
                f"Keras already runs on {keras.backend.backend()!r} in this process; "
                f"keras_backend = {self.keras_backend!r} needs a fresh process"
            )
        self.framework_threads = self._configure_framework(device)
        self.import_s = time.perf_counter() - t0
        self.model = self._build()

    # ------------------------------------------------------------------ setup
    def _configure_framework(self, device: str) -> str:
        """Threads and devices; returns the effective thread settings as text."""
        if self.keras_backend == "tensorflow":
            import tensorflow as tf

            try:
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
                tf.config.threading.set_inter_op_parallelism_threads(self.threads)
            except RuntimeError:  # already initialized in this process (tests): keep it
                pass
            gpus = tf.config.list_physical_devices("GPU")
            if device == "gpu" and not gpus:
                raise RuntimeError("device 'gpu' asked, but TensorFlow sees no GPU")
            if device == "cpu" and gpus:
                tf.config.set_visible_devices([], "GPU")
            intra = tf.config.threading.get_intra_op_parallelism_threads()
            inter = tf.config.threading.get_inter_op_parallelism_threads()
            return f"tf intra={intra or 'all'} inter={inter or 'all'}"
        if self.keras_backend == "torch":
            import torch

            torch.set_num_threads(self.threads)
            if device == "gpu" and not torch.cuda.is_available():
                raise RuntimeError("device 'gpu' asked, but PyTorch sees no CUDA device")
            return f"torch {torch.get_num_threads()}"
        import jax

        if self.storage_dtype == "float64":
            # JAX keeps 32 bits unless told: Keras's float64 variables would silently be float32
            jax.config.update("jax_enable_x64", True)
        if device == "gpu" and not any(d.platform == "gpu" for d in jax.devices()):
            raise RuntimeError("device 'gpu' asked, but JAX sees no GPU")
        return "jax (XLA's own pool)"

    def _build(self) -> Any:
        """The Sequential model. bfloat16 is Keras's ``mixed_bfloat16`` policy, as Keras
        recommends: bfloat16 compute, float32 variables, and the output layer in float32."""
        keras, spec = self.keras, self.spec
        dt = self.storage_dtype
        (keras.backend if self.keras2 else keras.config).set_floatx(dt)
        policy = "mixed_bfloat16" if self.dtype == "bfloat16" else dt
        layers: list[Any] = [keras.Input(shape=(spec.layers[0],), dtype=dt)]
        last = spec.n_layers - 1
        for l, n_out in enumerate(spec.layers[1:]):
            reg = None
            if spec.regularized(l) and (spec.l1 or spec.l2):
                reg = keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2)
            act = spec.output_activation if l == last else spec.activation
            layers.append(
                keras.layers.Dense(
                    n_out,
                    activation=act,
                    kernel_regularizer=reg,
                    dtype=dt if l == last else policy,
                )
            )
        model = keras.Sequential(layers)
        weights = []
        for w, b in spec.initial_weights(self.train.seed):
            weights += [w.astype(dt), b.astype(dt)]
        model.set_weights(weights)
        held = {str(w.dtype) for w in model.get_weights()}
        if held != {dt}:  # a run labelled float64 must not train in float32
            raise RuntimeError(f"Keras holds the weights as {sorted(held)}, not {dt}")
        self._compile(model, self.steps_per_execution)
        return model

    def _compile(self, model: Any, steps_per_execution: int) -> None:
        model.compile(
            optimizer=self._optimizer(),
            loss=self._loss(),
            metrics=["accuracy"] if self.train.train_accuracy == "batch" else [],
            # Keras 2 knows True, False and None (its "auto")
            jit_compile=None if self.keras2 and self.jit_compile == "auto" else self.jit_compile,
            steps_per_execution=steps_per_execution,
        )
        self.effective_steps_per_execution = steps_per_execution

    def _loss(self) -> Any:
        keras, name = self.keras, self.spec.loss
        if self.logits_shortcut:
            return name
        fn = getattr(keras.losses, name)
        ops = ops_of(keras)

        def loss(y_true: Any, y_pred: Any) -> Any:
            # A new tensor carries no cached logits, so Keras uses the documented formula.
            return fn(y_true, ops.multiply(y_pred, 1.0))

        loss.__name__ = name
        return loss

    def _optimizer(self) -> Any:
        keras, t = self.keras, self.train
        lr: Any = t.learning_rate
        if t.decay:
            lr = self._schedule = EpochSchedule.make(keras, t.epoch_learning_rates())
        if t.optimizer == "rmsprop":
            return keras.optimizers.RMSprop(learning_rate=lr, rho=t.rho, epsilon=t.epsilon)
        return keras.optimizers.SGD(learning_rate=lr, momentum=t.momentum)

    _schedule: Any = None

    # ------------------------------------------------------------------ training
    def fit(self, data: api.TrainData, on_epoch_end: api.OnEpochEnd | None = None) -> None:
        keras, t = self.keras, self.train
        n = len(data.x)
        dt = self.storage_dtype
        x = np.ascontiguousarray(data.x, dtype=dt)
        y = api.one_hot(data.y, data.n_classes, dt)
        steps = math.ceil(n / t.batch_size)
        # Keras logs a wrong epoch loss when steps_per_execution does not divide the epoch's
        # steps (the weights are right): use the largest divisor not above the setting.
        spe = max(k for k in range(1, min(self.steps_per_execution, steps) + 1) if steps % k == 0)
        if spe != self.effective_steps_per_execution:
            self._compile(self.model, spe)
        if self._schedule is not None:
            self._schedule.steps = steps  # read when fit() traces the train step
        # Keras's own shuffling draws from the global seeds: set them from train.seed, so that
        # shuffle = "own" is reproducible (the conformance kit checks it).
        keras.utils.set_random_seed(t.seed)
        timer = type("EpochTimer", (_EpochTimer, keras.callbacks.Callback), {})
        callback = timer(self, x, data.y, on_epoch_end)
        common = dict(epochs=t.epochs, verbose=0, callbacks=[callback])
        if t.shuffle == "harness":
            # The harness's batches, in its order: a generator over all epochs.
            self.model.fit(
                _harness_batches(x, y, t),
                steps_per_epoch=steps,
                shuffle=False,
                **common,
            )
        elif self.feed == "tf.data":
            self.model.fit(self._tf_dataset(x, y), shuffle=False, **common)
        else:
            self.model.fit(x, y, batch_size=t.batch_size, shuffle=t.shuffle == "own", **common)

    def _tf_dataset(self, x: np.ndarray, y: np.ndarray) -> Any:
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if self.train.shuffle == "own":
            ds = ds.shuffle(len(x), seed=self.train.seed, reshuffle_each_iteration=True)
        return ds.batch(self.train.batch_size).prefetch(tf.data.AUTOTUNE)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        dt = self.storage_dtype
        x = np.ascontiguousarray(x, dtype=dt)
        batch = min(len(x), 10000)
        probs = self.model.predict(x, batch_size=batch, verbose=0)
        onehot = api.one_hot(y, probs.shape[1], dt)
        loss = self.model.evaluate(x, onehot, batch_size=batch, verbose=0, return_dict=True)
        return float(loss["loss"]), float((probs.argmax(axis=1) == y).mean())

    def weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.model.get_weights()]

    def info(self) -> dict[str, Any]:
        keras = self.keras
        out: dict[str, Any] = {
            "import_s": self.import_s,
            "framework_threads": self.framework_threads,
            "keras": keras.__version__,
            "keras_backend": self.keras_backend,
            # The harness's backend for the engine alone: the engine split sets them side by side.
            "engine": ENGINE_BACKENDS.get(self.keras_backend, ""),
            "jit_compile": getattr(self.model, "jit_compile", self.jit_compile),
            "steps_per_execution": self.effective_steps_per_execution,
            "feed": self.feed,
        }
        if self.keras_backend == "tensorflow":
            import tensorflow as tf

            out["tensorflow"] = tf.__version__
        return out


def _harness_batches(
    x: np.ndarray, y: np.ndarray, train: api.TrainSpec
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for epoch in range(train.epochs):
        idx = api.epoch_order(train, epoch, len(x))
        for start in range(0, len(idx), train.batch_size):
            sel = idx[start : start + train.batch_size]
            yield x[sel], y[sel]


class _EpochTimer:
    """Mixed into ``keras.callbacks.Callback`` at fit time (Keras is imported lazily): wall and
    CPU time per epoch, the loss, and the train-accuracy modes."""

    def __init__(self, owner: KerasTrainer, x: np.ndarray, labels: np.ndarray, sink: Any) -> None:
        super().__init__()
        self.owner, self.x, self.labels, self.sink = owner, x, labels, sink
        self._t = (0.0, 0.0)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._t = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        logs = logs or {}
        acc, phases = float(logs.get("accuracy", math.nan)), {}
        if self.owner.train.train_accuracy == "full":
            t0 = time.perf_counter()
            probs = self.model.predict(self.x, batch_size=min(len(self.x), 10000), verbose=0)
            acc = float((probs.argmax(axis=1) == self.labels).mean())
            phases["eval"] = time.perf_counter() - t0
        wall, cpu = time.perf_counter() - self._t[0], time.process_time() - self._t[1]
        if self.sink:
            self.sink(
                api.EpochRecord(epoch, wall, cpu, float(logs.get("loss", math.nan)), acc, phases)
            )


class EpochSchedule:
    """The article's per-epoch decay as a Keras schedule: a table indexed by step // steps."""

    @staticmethod
    def make(keras: Any, rates: list[float]) -> Any:
        class _Schedule(keras.optimizers.schedules.LearningRateSchedule):
            def __init__(self) -> None:
                self.rates = rates
                self.steps = 1  # steps per epoch, set by fit()

            def __call__(self, step: Any) -> Any:
                ops = ops_of(keras)
                table = ops.convert_to_tensor(self.rates, dtype=keras.backend.floatx())
                epoch = ops.minimum(ops.floor_divide(step, self.steps), len(self.rates) - 1)
                return ops.take(table, ops.cast(epoch, "int32"))

            def get_config(self) -> dict[str, Any]:
                return {"rates": self.rates, "steps": self.steps}

        return _Schedule()


def ops_of(keras: Any) -> Any:
    """``keras.ops`` (Keras 3), or TensorFlow's functions of the same names (Keras 2, which
    runs on TensorFlow only): multiply, convert_to_tensor, minimum, floor_divide, take, cast."""
    if hasattr(keras, "ops"):
        return keras.ops
    import types

    import tensorflow as tf

    return types.SimpleNamespace(
        multiply=tf.multiply,
        convert_to_tensor=tf.convert_to_tensor,
        minimum=tf.minimum,
        floor_divide=tf.math.floordiv,
        take=tf.gather,
        cast=tf.cast,
    )
