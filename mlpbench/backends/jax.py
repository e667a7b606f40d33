"""The MLP in pure JAX (jax.numpy, jax.grad, jax.jit; no Keras, no Flax): the engine Keras runs
on, without Keras, so a report can split Keras's time into the engine's and Keras's own.

One compiled call per batch by default; ``-o scan=true`` runs all full batches of an epoch in
one compiled ``lax.scan``. The batch gather happens on the device inside the compiled step.
Threads: XLA sizes its CPU pool from the cores the process may use, and ignores the usual
variables; the harness pins each run to ``threads`` cores (the sweep's workers and
``mlpbench run``), and with one thread XLA's multi-threaded Eigen is turned off. ``bfloat16``
follows Keras's mixed policy: bfloat16 compute, float32 parameters, the loss in float32.
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
OPTIONS: dict[str, Any] = {"threads": int, "scan": bool}


class JaxTrainer(FrameworkBackend):
    """Mini-batch training with one jitted step (or one jitted scan per epoch)."""

    NAME, MODULE, INSTALL, OPTIONS = "jax", "jax", "pip install 'jax[cpu]'", OPTIONS

    INSTALL_GPU = "pip install 'jax[cuda12]'"  # the GPU wheels
    PACKAGES = {"jax": "jax", "jaxlib": "jaxlib"}
    PROFILE_CATEGORIES = {r"xla_extension|jaxlib|libjax": "framework runtime"}

    @classmethod
    def gemm_peak(cls, dtype: str, device: str, n: int, repeats: int) -> float | None:
        """GFLOP/s of the best of ``repeats`` square matmuls of ``n`` in ``dtype`` with XLA: the
        peak of a dtype the NumPy family cannot compute (bfloat16), for the sweep's
        calibration; float32 and float64 are NumPy's (CuPy's on the GPU), the yardstick every
        series is set against. Run in the calibration's own process (threads and cores set by
        the harness)."""
        if dtype in ("float32", "float64"):
            return None
        os.environ.setdefault("JAX_PLATFORMS", "cpu" if device == "cpu" else "cuda,cpu")
        if len(os.sched_getaffinity(0)) == 1:
            os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
        import jax
        import jax.numpy as jnp

        key = jax.random.PRNGKey(0)
        a = jax.random.normal(key, (n, n), jnp.float32).astype(dtype)
        b = jax.random.normal(jax.random.split(key)[0], (n, n), jnp.float32).astype(dtype)
        matmul = jax.jit(jnp.matmul)
        matmul(a, b).block_until_ready()
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            matmul(a, b).block_until_ready()
            best = min(best, time.perf_counter() - t0)
        return 2 * n**3 / best / 1e9

    def setup(self, options: dict[str, Any]) -> None:
        spec, train, device, dtype = self.spec, self.train, self.device, self.dtype
        self.spec, self.train, self.device, self.dtype = spec, train, device, dtype
        self.threads = int(options.get("threads", 1))
        self.scan = bool(options.get("scan", False))
        if spec.loss == "binary_crossentropy" and spec.output_activation != "sigmoid":
            from mlpbench.api.protocol import SpecError

            raise SpecError("loss = 'binary_crossentropy' needs output_activation = 'sigmoid'")
        t0 = time.perf_counter()
        self._configure(device)
        import jax
        import jax.numpy as jnp

        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp = jax, jnp
        self.import_s = time.perf_counter() - t0
        self.param_dtype = "float32" if dtype == "bfloat16" else dtype
        self.params = [
            (jnp.asarray(w, self.param_dtype), jnp.asarray(b, self.param_dtype))
            for w, b in spec.initial_weights(train.seed)
        ]
        zeros = [(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in self.params]
        self.state = zeros
        self._build()

    def _configure(self, device: str) -> None:
        """Before JAX loads: the platform, and one thread when asked for one."""
        os.environ.setdefault("JAX_PLATFORMS", "cpu" if device == "cpu" else "cuda,cpu")
        if device == "cpu" and self.threads == 1:
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_cpu_multi_thread_eigen" not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()

    # ------------------------------------------------------------------ the maths
    def _build(self) -> None:
        jax, jnp, spec, train = self.jax, self.jnp, self.spec, self.train
        compute = jnp.bfloat16 if self.dtype == "bfloat16" else jnp.dtype(self.param_dtype)
        acts = {
            "sigmoid": jax.nn.sigmoid,
            "tanh": jnp.tanh,
            "relu": jax.nn.relu,
            "softmax": lambda z: jax.nn.softmax(z, axis=-1),
        }
        hidden, output = acts[spec.activation], acts[spec.output_activation]
        last = spec.n_layers - 1

        def forward(params: Any, x: Any) -> Any:
            a = x.astype(compute)
            for l, (w, b) in enumerate(params):
                z = a @ w.astype(compute) + b.astype(compute)
                if l < last:
                    a = hidden(z)
                else:  # the output layer in float32 under the mixed policy, as Keras does
                    a = output(z.astype(jnp.float32) if self.dtype == "bfloat16" else z)
            return a.astype(jnp.dtype(self.param_dtype))

        def data_loss(a: Any, y: Any) -> Any:
            rows = jnp.arange(a.shape[0])
            if spec.loss == "categorical_crossentropy":
                p = a[rows, y] / a.sum(axis=1)
                return -jnp.mean(jnp.log(jnp.clip(p, EPS, 1 - EPS)))
            t = jnp.clip(a, EPS, 1 - EPS)
            onehot = jax.nn.one_hot(y, a.shape[1], dtype=a.dtype)
            return -jnp.mean(onehot * jnp.log(t) + (1 - onehot) * jnp.log(1 - t))

        def penalty(params: Any) -> Any:
            total = 0.0
            for l, (w, _) in enumerate(params):
                if spec.regularized(l):
                    if spec.l2:
                        total = total + spec.l2 * jnp.sum(w * w)
                    if spec.l1:
                        total = total + spec.l1 * jnp.sum(jnp.abs(w))
            return total

        def loss(params: Any, x: Any, y: Any) -> tuple[Any, Any]:
            a = forward(params, x)
            return data_loss(a, y) + penalty(params), a

        def update(p: Any, g: Any, v: Any, lr: Any) -> tuple[Any, Any]:
            if train.optimizer == "rmsprop":
                v = train.rho * v + (1 - train.rho) * g * g
                return p - lr * g / jnp.sqrt(v + train.epsilon), v
            if train.momentum:
                v = train.momentum * v - lr * g
                return p + v, v
            return p - lr * g, v

        def step(carry: Any, idx: Any, x: Any, y: Any, lr: Any) -> tuple[Any, Any]:
            params, state = carry
            xb, yb = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
            (value, a), grads = jax.value_and_grad(loss, has_aux=True)(params, xb, yb)
            new_params, new_state = [], []
            for (w, b), (gw, gb), (vw, vb) in zip(params, grads, state):
                w, vw = update(w, gw, vw, lr)
                b, vb = update(b, gb, vb, lr)
                new_params.append((w, b))
                new_state.append((vw, vb))
            correct = jnp.sum(jnp.argmax(a, axis=1) == yb)
            return (new_params, new_state), (value * idx.shape[0], correct)

        def one(params: Any, state: Any, idx: Any, x: Any, y: Any, lr: Any) -> Any:
            (params, state), out = step((params, state), idx, x, y, lr)
            return params, state, out

        def scanned(params: Any, state: Any, idx: Any, x: Any, y: Any, lr: Any) -> Any:
            (params, state), (losses, correct) = jax.lax.scan(
                lambda c, i: step(c, i, x, y, lr), (params, state), idx
            )
            return params, state, (losses.sum(), correct.sum())

        self._step = jax.jit(one)
        self._scan = jax.jit(scanned)
        self._loss = jax.jit(lambda params, x, y: (loss(params, x, y)[0], forward(params, x)))
        self._penalty = jax.jit(penalty)
        self._forward = jax.jit(forward)

    # ------------------------------------------------------------------ training
    def fit(self, data: api.TrainData, on_epoch_end: api.OnEpochEnd | None = None) -> None:
        jnp, t = self.jnp, self.train
        x = jnp.asarray(data.x, self.param_dtype)
        y = jnp.asarray(data.y, jnp.int32)
        n, b = len(data.x), t.batch_size
        full = n // b
        rng = np.random.default_rng(t.seed)
        params, state = self.params, self.state
        for epoch, lr in enumerate(t.epoch_learning_rates()):
            w0, c0 = time.perf_counter(), time.process_time()
            order = api.epoch_order(t, epoch, n, rng).astype(np.int32)
            lr_t = jnp.asarray(lr, self.param_dtype)
            sums = []
            if self.scan and full > 1:
                idx = jnp.asarray(order[: full * b].reshape(full, b))
                params, state, out = self._scan(params, state, idx, x, y, lr_t)
                sums.append(out)
                rest = range(full * b, n, b)
            else:
                rest = range(0, n, b)
            for start in rest:
                idx = jnp.asarray(order[start : start + b])
                params, state, out = self._step(params, state, idx, x, y, lr_t)
                sums.append(out)
            loss = float(sum(s[0] for s in sums)) / n  # waits for the device: clock after
            correct = int(sum(s[1] for s in sums))
            self.jax.block_until_ready(params)
            acc = correct / n if t.train_accuracy == "batch" else math.nan
            phases = {}
            if t.train_accuracy == "full":
                e0 = time.perf_counter()
                self.params = params
                _, acc = self.evaluate(data.x, data.y)
                phases["eval"] = time.perf_counter() - e0
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if on_epoch_end:
                on_epoch_end(api.EpochRecord(epoch, wall, cpu, loss, acc, phases))
        self.params, self.state = params, state

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        jnp = self.jnp
        total, correct, n = 0.0, 0, len(x)
        for start in range(0, n, 10000):
            xb = jnp.asarray(x[start : start + 10000], self.param_dtype)
            yb = jnp.asarray(y[start : start + 10000], jnp.int32)
            value, a = self._loss(self.params, xb, yb)
            pen = float(self._penalty(self.params))
            total += (float(value) - pen) * len(xb)
            correct += int((np.asarray(a).argmax(axis=1) == y[start : start + 10000]).sum())
        return total / n + float(self._penalty(self.params)), correct / n

    def weights(self) -> list[np.ndarray]:
        return [np.asarray(a) for pair in self.params for a in pair]

    def info(self) -> dict[str, Any]:
        return {
            "import_s": self.import_s,
            "framework_threads": f"xla on {len(os.sched_getaffinity(0))} cores"
            if hasattr(os, "sched_getaffinity")
            else "xla",
            "jax": self.jax.__version__,
            "scan": self.scan,
            "platform": self.jax.devices()[0].platform,
        }
