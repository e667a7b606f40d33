"""The benchmark MLP in PyTorch, as an mlpbench backend plugin.

Autograd computes the gradients; the optimizer steps are written out so that they are Keras's
rules exactly (``torch.optim.RMSprop`` adds epsilon outside the square root, Keras inside).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from mlpbench.api import protocol as api
from mlpbench.api.framework import FrameworkBackend

EPS = 1e-7  # Keras's probability clip
OPTIONS: dict[str, Any] = {"threads": int}  # name -> kind


class TorchTrainer(FrameworkBackend):
    """The shared parts come from ``FrameworkBackend`` (mlpbench.api.framework): capabilities
    from these attributes, the options checked once before ``setup``, and the hooks."""

    NAME, MODULE, INSTALL, OPTIONS = "torch", "torch", "pip install torch", OPTIONS
    DTYPES, PHASES = ("float32", "float64"), True
    PACKAGES = {"torch": "torch", "mlpbench-torch": "mlpbench_torch"}
    # In a profile (mlpbench run --profile), PyTorch's own libraries are its runtime: the
    # dispatcher and autograd (its GEMM and element-wise kernels are named by their symbols).
    PROFILE_CATEGORIES = {r"libtorch|libc10|torch/_C": "framework runtime"}

    @classmethod
    def capabilities(cls) -> api.Capabilities:
        found = super().capabilities()  # and the GPU only where PyTorch sees CUDA
        if "gpu" not in found.unavailable and not torch.cuda.is_available():
            found.unavailable["gpu"] = "PyTorch sees no CUDA device"
        return found

    def setup(self, options: dict[str, Any]) -> None:
        spec, train, device, dtype = self.spec, self.train, self.device, self.dtype
        if "threads" in options:
            torch.set_num_threads(int(options["threads"]))
        if device == "gpu" and not torch.cuda.is_available():
            raise RuntimeError("device 'gpu' asked, but PyTorch sees no CUDA device")
        self.spec, self.train = spec, train
        self.device = torch.device("cuda" if device == "gpu" else "cpu")
        self.dtype = getattr(torch, dtype)
        self.params: list[tuple[torch.Tensor, torch.Tensor]] = []
        for w, b in spec.initial_weights(train.seed):
            self.params.append((self._tensor(w).requires_grad_(), self._tensor(b).requires_grad_()))
        self.flat = [p for pair in self.params for p in pair]
        self.state = [torch.zeros_like(p) for p in self.flat]

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=self.dtype, device=self.device).clone()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    # ------------------------------------------------------------------ maths
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec, last = self.spec, self.spec.n_layers - 1
        for l, (w, b) in enumerate(self.params):
            x = torch.addmm(b, x, w)
            name = spec.output_activation if l == last else spec.activation
            x = {
                "sigmoid": torch.sigmoid,
                "tanh": torch.tanh,
                "relu": torch.relu,
                "softmax": lambda z: torch.softmax(z, dim=1),
            }[name](x)
        return x

    def data_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.spec.loss == "categorical_crossentropy":  # Keras: normalize, clip, -log p_y
            p = out / out.sum(dim=1, keepdim=True)
            return -torch.log(p.gather(1, y[:, None]).clamp(EPS, 1 - EPS)).mean()
        onehot = torch.nn.functional.one_hot(y, out.shape[1]).to(out.dtype)
        a = out.clamp(EPS, 1 - EPS)
        return -(onehot * torch.log(a) + (1 - onehot) * torch.log(1 - a)).mean()

    def penalty(self) -> torch.Tensor:
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        for l, (w, _) in enumerate(self.params):
            if self.spec.regularized(l):
                if self.spec.l2:
                    total = total + self.spec.l2 * (w * w).sum()
                if self.spec.l1:
                    total = total + self.spec.l1 * w.abs().sum()
        return total

    @torch.no_grad()
    def update(self, lr: float) -> None:
        t = self.train
        for p, v in zip(self.flat, self.state):
            g = p.grad
            if t.optimizer == "rmsprop":
                v.mul_(t.rho).addcmul_(g, g, value=1 - t.rho)
                p.addcdiv_(g, (v + t.epsilon).sqrt_(), value=-lr)
            elif t.momentum:
                v.mul_(t.momentum).add_(g, alpha=-lr)
                p.add_(v)
            else:
                p.add_(g, alpha=-lr)
            p.grad = None

    # ------------------------------------------------------------------ protocol
    def fit(self, data: api.TrainData, on_epoch_end: api.OnEpochEnd | None = None) -> None:
        t = self.train
        x = self._tensor(data.x)
        y = torch.as_tensor(data.y, device=self.device)
        n = len(data.x)
        rng = np.random.default_rng(t.seed)
        for epoch, lr in enumerate(t.epoch_learning_rates()):
            self._sync()
            w0, c0 = time.perf_counter(), time.process_time()
            phases = dict.fromkeys(("shuffle", "forward", "backward", "update"), 0.0)
            order = torch.as_tensor(api.epoch_order(t, epoch, n, rng), device=self.device)
            loss_sum, correct = 0.0, 0
            for start in range(0, n, t.batch_size):
                t0 = time.perf_counter()
                idx = order[start : start + t.batch_size]
                xb, yb = x[idx], y[idx]
                t1 = time.perf_counter()
                out = self.forward(xb)
                loss = self.data_loss(out, yb) + self.penalty()
                if t.train_accuracy == "batch":
                    correct += int((out.argmax(dim=1) == yb).sum())
                self._sync()
                t2 = time.perf_counter()
                loss.backward()
                self._sync()
                t3 = time.perf_counter()
                self.update(lr)
                self._sync()
                t4 = time.perf_counter()
                loss_sum += float(loss.detach()) * len(idx)
                for k, a, b in (
                    ("shuffle", t0, t1),
                    ("forward", t1, t2),
                    ("backward", t2, t3),
                    ("update", t3, t4),
                ):
                    phases[k] += b - a
            acc = correct / n if t.train_accuracy == "batch" else math.nan
            if t.train_accuracy == "full":
                e0 = time.perf_counter()
                _, acc = self._scores(x, y)
                phases["eval"] = time.perf_counter() - e0
            self._sync()
            if on_epoch_end:
                on_epoch_end(
                    api.EpochRecord(
                        epoch,
                        time.perf_counter() - w0,
                        time.process_time() - c0,
                        loss_sum / n,
                        acc,
                        phases,
                    )
                )

    @torch.no_grad()
    def _scores(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        out = self.forward(x)
        loss = self.data_loss(out, y) + self.penalty()
        return float(loss), float((out.argmax(dim=1) == y).double().mean())

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        return self._scores(self._tensor(x), torch.as_tensor(y, device=self.device))

    def weights(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self.flat]

    def info(self) -> dict[str, Any]:
        return {
            "torch": torch.__version__,
            "framework_threads": f"torch {torch.get_num_threads()}",
            "torch_device": str(self.device),
        }
