"""The MLP in raw TensorFlow 2 (``tf.function`` and ``GradientTape``; no Keras): the engine
under Keras's default backend, without Keras, so a report can split Keras's time into the
engine's and Keras's own.

One traced call per batch by default; ``-o epoch_graph=true`` runs all of an epoch's steps in
one traced call (a ``tf.while_loop`` over the batches). Threads: TensorFlow's intra- and
inter-op pools are set to ``threads`` before the first op (``tf.config.threading``). The batch
gather runs inside the graph.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from mlpbench.api import protocol as api
from mlpbench.api.framework import FrameworkBackend

EPS = 1e-7  # Keras's probability clip
OPTIONS: dict[str, Any] = {"threads": int, "epoch_graph": bool}


class TfTrainer(FrameworkBackend):
    """Mini-batch training with a ``tf.function`` step (or one per epoch)."""

    NAME, MODULE, INSTALL, OPTIONS = "tf", "tensorflow", "pip install tensorflow-cpu", OPTIONS

    INSTALL_GPU = "pip install 'tensorflow[and-cuda]'"  # the GPU wheels
    PACKAGES = {"tensorflow": "tensorflow", "tensorflow-cpu": "tensorflow"}
    QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # hide TensorFlow's info and warnings
    PROFILE_CATEGORIES = {r"libtensorflow|_pywrap_tensorflow|_pywrap_tf|libtf": "framework runtime"}

    @classmethod
    def thread_env(cls, threads: int) -> dict[str, str]:
        """At most ``threads`` for the ops, and at most 2 ops at once."""
        return {
            "TF_NUM_INTRAOP_THREADS": str(threads),
            "TF_NUM_INTEROP_THREADS": str(max(1, min(threads, 2))),
        }

    def setup(self, options: dict[str, Any]) -> None:
        spec, train, device, dtype = self.spec, self.train, self.device, self.dtype
        if spec.loss == "binary_crossentropy" and spec.output_activation != "sigmoid":
            raise api.SpecError("loss = 'binary_crossentropy' needs output_activation = 'sigmoid'")
        self.spec, self.train, self.device, self.dtype = spec, train, device, dtype
        self.threads = int(options.get("threads", 1))
        self.epoch_graph = bool(options.get("epoch_graph", False))
        t0 = time.perf_counter()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if device == "cpu":
            os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(self.threads)
            tf.config.threading.set_inter_op_parallelism_threads(self.threads)
        except RuntimeError:  # already initialized in this process (tests): keep it
            pass
        if device == "gpu" and not tf.config.list_physical_devices("GPU"):
            raise RuntimeError("device 'gpu' asked, but TensorFlow sees no GPU")
        self.tf = tf
        self.import_s = time.perf_counter() - t0
        self.param_dtype = "float32" if dtype == "bfloat16" else dtype
        self.params = []
        for w, b in spec.initial_weights(train.seed):
            self.params += [
                tf.Variable(w.astype(self.param_dtype)),
                tf.Variable(b.astype(self.param_dtype)),
            ]
        self.slots = [tf.Variable(tf.zeros_like(p)) for p in self.params]
        self._build()

    # ------------------------------------------------------------------ the maths
    def _build(self) -> None:
        tf, spec, train = self.tf, self.spec, self.train
        compute = tf.bfloat16 if self.dtype == "bfloat16" else tf.as_dtype(self.param_dtype)
        acts = {
            "sigmoid": tf.sigmoid,
            "tanh": tf.tanh,
            "relu": tf.nn.relu,
            "softmax": lambda z: tf.nn.softmax(z, axis=-1),
        }
        hidden, output = acts[spec.activation], acts[spec.output_activation]
        last = spec.n_layers - 1
        params, slots, pdt = self.params, self.slots, tf.as_dtype(self.param_dtype)

        def forward(x: Any) -> Any:
            a = tf.cast(x, compute)
            for l in range(spec.n_layers):
                w, b = params[2 * l], params[2 * l + 1]
                z = tf.matmul(a, tf.cast(w, compute)) + tf.cast(b, compute)
                if l < last:
                    a = hidden(z)
                else:  # the output layer in float32 under the mixed policy, as Keras does
                    a = output(tf.cast(z, tf.float32) if self.dtype == "bfloat16" else z)
            return tf.cast(a, pdt)

        def data_loss(a: Any, y: Any) -> Any:
            if spec.loss == "categorical_crossentropy":
                p = tf.gather(a, y, batch_dims=1) / tf.reduce_sum(a, axis=1)
                return -tf.reduce_mean(tf.math.log(tf.clip_by_value(p, EPS, 1 - EPS)))
            t = tf.clip_by_value(a, EPS, 1 - EPS)
            onehot = tf.one_hot(y, tf.shape(a)[1], dtype=a.dtype)
            return -tf.reduce_mean(onehot * tf.math.log(t) + (1 - onehot) * tf.math.log(1 - t))

        def penalty() -> Any:
            total = tf.constant(0.0, pdt)
            for l in range(spec.n_layers):
                if spec.regularized(l):
                    w = params[2 * l]
                    if spec.l2:
                        total += spec.l2 * tf.reduce_sum(w * w)
                    if spec.l1:
                        total += spec.l1 * tf.reduce_sum(tf.abs(w))
            return total

        def apply(grads: list[Any], lr: Any) -> None:
            for p, g, v in zip(params, grads, slots):
                if train.optimizer == "rmsprop":
                    v.assign(train.rho * v + (1 - train.rho) * g * g)
                    p.assign_sub(lr * g / tf.sqrt(v + train.epsilon))
                elif train.momentum:
                    v.assign(train.momentum * v - lr * g)
                    p.assign_add(v)
                else:
                    p.assign_sub(lr * g)

        def step(x: Any, y: Any, idx: Any, lr: Any) -> tuple[Any, Any]:
            xb, yb = tf.gather(x, idx), tf.gather(y, idx)
            with tf.GradientTape() as tape:
                a = forward(xb)
                value = data_loss(a, yb) + penalty()
            apply(tape.gradient(value, params), lr)
            m = tf.cast(tf.shape(idx)[0], pdt)
            correct = tf.reduce_sum(
                tf.cast(tf.argmax(a, axis=1, output_type=tf.int32) == yb, tf.int32)
            )
            return value * m, correct

        def epoch(x: Any, y: Any, order: Any, lr: Any) -> tuple[Any, Any]:
            n, b = tf.shape(order)[0], train.batch_size
            steps = (n + b - 1) // b
            total, correct = tf.constant(0.0, pdt), tf.constant(0, tf.int32)
            for i in tf.range(steps):
                value, c = step(x, y, order[i * b : tf.minimum((i + 1) * b, n)], lr)
                total += value
                correct += c
            return total, correct

        self._step = tf.function(step, reduce_retracing=True)
        self._epoch = tf.function(epoch)
        self._forward = tf.function(forward, reduce_retracing=True)
        self._data_loss = data_loss
        self._penalty = tf.function(penalty)

    # ------------------------------------------------------------------ training
    def fit(self, data: api.TrainData, on_epoch_end: api.OnEpochEnd | None = None) -> None:
        tf, t = self.tf, self.train
        x = tf.constant(data.x.astype(self.param_dtype, copy=False))
        y = tf.constant(data.y.astype(np.int32))
        n = len(data.x)
        rng = np.random.default_rng(t.seed)
        for epoch, lr in enumerate(t.epoch_learning_rates()):
            w0, c0 = time.perf_counter(), time.process_time()
            order = api.epoch_order(t, epoch, n, rng).astype(np.int32)
            lr_t = tf.constant(lr, tf.as_dtype(self.param_dtype))
            if self.epoch_graph:
                total, correct = self._epoch(x, y, tf.constant(order), lr_t)
                total, correct = float(total), int(correct)
            else:
                total, correct = 0.0, 0
                sums = [
                    self._step(x, y, tf.constant(order[s : s + t.batch_size]), lr_t)
                    for s in range(0, n, t.batch_size)
                ]
                total = float(tf.add_n([v for v, _ in sums]))  # waits for the ops: clock after
                correct = int(tf.add_n([c for _, c in sums]))
            acc = correct / n if t.train_accuracy == "batch" else math.nan
            phases = {}
            if t.train_accuracy == "full":
                e0 = time.perf_counter()
                _, acc = self.evaluate(data.x, data.y)
                phases["eval"] = time.perf_counter() - e0
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if on_epoch_end:
                on_epoch_end(api.EpochRecord(epoch, wall, cpu, total / n, acc, phases))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        tf = self.tf
        total, correct, n = 0.0, 0, len(x)
        for start in range(0, n, 10000):
            xb = tf.constant(x[start : start + 10000].astype(self.param_dtype, copy=False))
            yb = y[start : start + 10000]
            a = self._forward(xb)
            total += float(self._data_loss(a, tf.constant(yb.astype(np.int32)))) * len(yb)
            correct += int((a.numpy().argmax(axis=1) == yb).sum())
        return total / n + float(self._penalty()), correct / n

    def weights(self) -> list[np.ndarray]:
        return [p.numpy() for p in self.params]

    def info(self) -> dict[str, Any]:
        tf = self.tf
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        return {
            "import_s": self.import_s,
            "framework_threads": f"tf intra={intra or 'all'} inter={inter or 'all'}",
            "tensorflow": tf.__version__,
            "epoch_graph": self.epoch_graph,
        }
