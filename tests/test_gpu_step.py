"""The NumPy backend's step on a GPU, tested without one (issue 40): a fake array module stands
in for CuPy. NumPy does the arithmetic; every call through the module is counted, and so is
every read of a device value back to the host (``float``, ``int``, ``bool``, ``.item()``,
``.get()``), each of which makes a real GPU wait. With phases off, a step reads nothing back:
the loss and the hit counts stay on the device and are read once an epoch."""

from __future__ import annotations

import types
from collections import Counter
from typing import Any

import numpy as np

from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.numpy.model import MLP, PhaseClock

READS: Counter = Counter()


LAUNCHES: Counter = Counter()  # kernels started outside an array-module call
DEPTH = [0]  # > 0 while an array-module call runs (its ufuncs are that one call)


def _is_gather(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


class Device(np.ndarray):
    """An array on the fake device: reading it to the host is counted, and so is each kernel
    it starts by itself: an operator or a method (``a += b``, ``a @ b``, ``a.sum()``: a ufunc
    each, as on CuPy) and a gather by an index array (``y[idx]``)."""

    def __array_wrap__(self, array, context=None, return_scalar=False):  # keep 0-d on device
        return np.asarray(array).view(Device)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if DEPTH[0] == 0:
            LAUNCHES[f"{ufunc.__name__}.{method}"] += 1
        DEPTH[0] += 1
        try:
            inputs = tuple(np.asarray(x) if isinstance(x, Device) else x for x in inputs)
            if "out" in kwargs:
                kwargs["out"] = tuple(np.asarray(x) for x in kwargs["out"])
            result = getattr(ufunc, method)(*inputs, **kwargs)
        finally:
            DEPTH[0] -= 1
        return _on_device(result) if not isinstance(result, tuple) else result

    def __getitem__(self, index: Any) -> Any:
        if DEPTH[0] == 0 and _is_gather(index):
            LAUNCHES["gather"] += 1
        return super().__getitem__(index)

    def __setitem__(self, index: Any, value: Any) -> None:
        if DEPTH[0] == 0:
            LAUNCHES["setitem"] += 1
        super().__setitem__(index, value)

    def __float__(self) -> float:
        READS["float"] += 1
        return float(np.asarray(self))

    def __int__(self) -> int:
        READS["int"] += 1
        return int(np.asarray(self))

    def __bool__(self) -> bool:
        READS["bool"] += 1
        return bool(np.asarray(self))

    def __index__(self) -> int:
        READS["index"] += 1
        return int(np.asarray(self))

    def item(self, *args: Any) -> Any:
        READS["item"] += 1
        return np.asarray(self).item(*args)

    def get(self) -> np.ndarray:
        READS["get"] += 1
        return np.asarray(self).copy()


def _on_device(value: Any) -> Any:
    if isinstance(value, np.ndarray) and not isinstance(value, Device):
        return value.view(Device)
    if isinstance(value, np.generic):
        return np.asarray(value).view(Device)
    return value


class FakeCupy(types.ModuleType):
    """CuPy's place: NumPy's functions, each call counted, results kept on the device."""

    def __init__(self) -> None:
        super().__init__("cupy")
        fake = self

        class Compiled:
            """A kernel the fake cannot compile: its NumPy reference, one launch a call."""

            def __init__(self, *params: Any, name: str = "kernel", **kw: Any) -> None:
                from mlpbench.backends.numpy.fused import KERNELS

                self.name, self.reference = name, KERNELS[name].reference
                assert (KERNELS[name].in_params, KERNELS[name].out_params) == params[:2]

            def __call__(self, *args: Any) -> Any:
                fake.calls[self.name] += 1
                DEPTH[0] += 1
                try:
                    return _on_device(self.reference(*args))
                finally:
                    DEPTH[0] -= 1

        self.ElementwiseKernel = self.ReductionKernel = Compiled
        self.__version__ = "0.0-fake"
        self.calls: Counter = Counter()
        self.cuda = types.SimpleNamespace(
            Device=lambda: types.SimpleNamespace(synchronize=lambda: None)
        )

    def __getattr__(self, name: str) -> Any:
        target = getattr(np, name)
        if not callable(target) or isinstance(target, type):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if DEPTH[0] == 0:
                self.calls[name] += 1
            DEPTH[0] += 1
            try:
                return _on_device(target(*args, **kwargs))
            finally:
                DEPTH[0] -= 1

        return call


SPEC = ModelSpec(layers=(20, 12, 8, 4), l2=0.001)


def _steps(phases: bool, batch_accuracy: bool, fused: bool = False) -> tuple[Counter, Counter, int]:
    """(kernels started, host reads, steps) of four steps."""
    fake = FakeCupy()
    train = TrainSpec(epochs=1, batch_size=50, learning_rate=0.01)
    model = MLP(SPEC, train, "float32", fake, fused=fused)
    rng = np.random.default_rng(0)
    x = fake.asarray(rng.random((200, 20), dtype=np.float32))
    y = fake.asarray(rng.integers(0, 4, 200))
    order = fake.asarray(rng.permutation(200))
    model.ensure_batch(50)
    fake.calls.clear()
    READS.clear()
    LAUNCHES.clear()
    clock = PhaseClock(phases)
    model.outputs.accuracy = batch_accuracy
    steps = 0
    for start in range(0, 200, 50):
        model.step(x, y, order[start : start + 50], 0.01, clock)
        steps += 1
    return fake.calls + LAUNCHES, Counter(READS), steps


def test_a_gpu_step_reads_nothing_back_with_phases_off():
    """`output_delta(..., with_loss=True)` read the loss back every step (`_nll_sum` returned a
    Python float), and so did the penalty, once per layer."""
    launches, reads, steps = _steps(phases=False, batch_accuracy=True)
    assert steps == 4 and sum(reads.values()) == 0, reads
    per_step = sum(launches.values()) / steps
    # The unfused step's count, as a ceiling: 67 kernels a step on this network (72 while each
    # step took its own loss, before EpochOutputs): array-module calls, the operators' and
    # methods' ufuncs, gathers by index arrays.
    assert per_step <= 67, launches


def test_the_fused_step_starts_under_half_the_kernels_and_reads_nothing_back():
    """Option ``fused``: each run of element-wise work is one kernel (fused.py), compiled by
    the array module (``ElementwiseKernel``); here the fake runs each kernel's NumPy reference
    as one launch."""
    unfused, _, steps = _steps(phases=False, batch_accuracy=True)
    fused, reads, fused_steps = _steps(phases=False, batch_accuracy=True, fused=True)
    assert fused_steps == steps == 4 and sum(reads.values()) == 0, reads
    kernels = {k for k in fused if k.startswith("mlpbench_")}
    assert kernels == {
        "mlpbench_bias_sigmoid", "mlpbench_sigmoid_delta", "mlpbench_output_delta",
        "mlpbench_rmsprop", "mlpbench_penalty",
    }  # fmt: skip
    assert sum(fused.values()) * 2 <= sum(unfused.values()), (fused, unfused)


def test_an_epoch_on_a_gpu_reads_its_loss_once():
    fake = FakeCupy()
    model = MLP(SPEC, TrainSpec(epochs=1, batch_size=50, learning_rate=0.01), "float32", fake)
    rng = np.random.default_rng(1)
    x = fake.asarray(rng.random((200, 20), dtype=np.float32))
    y = fake.asarray(rng.integers(0, 4, 200))
    READS.clear()
    loss, acc = model.train_epoch(x, y, fake.asarray(rng.permutation(200)), 0.01,
                                  PhaseClock(False), batch_accuracy=True)  # fmt: skip
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert sum(READS.values()) <= 2, READS  # the loss and the hits, once each


def test_the_cpu_path_keeps_python_numbers():
    """On NumPy the steps' loss and hits stay a Python float and int, as they always were (no
    0-d arrays on the CPU path)."""
    model = MLP(SPEC, TrainSpec(epochs=1, batch_size=50, learning_rate=0.01), "float32", np)
    rng = np.random.default_rng(0)
    x = rng.random((200, 20), dtype=np.float32)
    y = rng.integers(0, 4, 200)
    model.ensure_batch(50)
    model.outputs.accuracy = True
    model.step(x, y, np.arange(50), 0.01, PhaseClock(False))
    loss, hits = model.outputs.take()
    assert type(loss) is float and type(hits) is int


C_TYPES = {"T": "T", "I": "I", "int32": "int", "int64": "long long", "float32": "float"}


def _declaration(params: str, out: bool) -> list[str]:
    args = []
    for param in params.split(","):
        words = param.split()
        raw = words[0] == "raw"
        kind, name = C_TYPES[words[-2]], words[-1]
        args.append(f"Raw<{kind}> {name}" if raw else f"{kind}{'&' if out else ''} {name}")
    return args


def _cpp_of(kernel) -> str:
    """A kernel's CUDA source as a C++ function (what ElementwiseKernel and ReductionKernel
    wrap around it, less the device parts: ``i`` is the element's index, a raw array is
    indexed by it)."""
    head = "#include <cmath>\n#include <cstddef>\nusing namespace std;\n"
    head += "template <typename X> struct Raw { X* p; X& operator[](ptrdiff_t k) const "
    head += "{ return p[k]; } };\n"
    if kernel.reduce:
        reduce_expr, post_map, identity = kernel.reduce
        args = ", ".join(_declaration(kernel.in_params, out=False))
        (out,) = _declaration(kernel.out_params, out=True)
        return head + (
            f"T map_({args}) {{ return (T)({kernel.operation}); }}\n"
            f"T reduce_(T a, T b) {{ return {reduce_expr}; }}\n"
            f"void post_(T a, {out}) {{ {post_map}; }}\n"
            f"T identity_() {{ return (T)({identity}); }}\n"
        )
    args = ", ".join(
        ["ptrdiff_t i"]
        + _declaration(kernel.in_params, out=False)
        + _declaration(kernel.out_params, out=True)
    )
    return head + f"void {kernel.name}({args}) {{\n{kernel.operation};\n}}\n"


def test_the_cuda_source_of_each_fused_kernel_compiles(tmp_path):
    """The CUDA bodies run only on a GPU, which CI has not: each is compiled here as C++ (with
    g++, for float and double) so that a typo or an undeclared name fails a test, not a GPU
    sweep. Outside CI, without a C++ compiler the test says so and skips; under CI=true (.ci/run
    installs g++) it must run."""
    import os
    import shutil
    import subprocess

    from mlpbench.backends.numpy.fused import KERNELS

    compiler = shutil.which("g++") or shutil.which("clang++")
    install = "apt-get install -y g++ (Debian); .ci/run installs it"
    if compiler is None:
        import pytest

        assert os.environ.get("CI") != "true", f"CI=true but no C++ compiler: {install}"
        pytest.skip(f"no C++ compiler (g++ or clang++) to compile the kernels' source: {install}")
    for kernel in KERNELS.values():
        source = tmp_path / f"{kernel.name}.cpp"
        source.write_text(_cpp_of(kernel))
        for t in ("float", "double"):
            done = subprocess.run(
                [compiler, "-fsyntax-only", "-std=c++14", "-Wall", "-Werror", f"-DT={t}",
                 "-DI=long", str(source)], capture_output=True, text=True,
            )  # fmt: skip
            assert done.returncode == 0, f"{kernel.name} ({t}):\n{done.stderr}"
