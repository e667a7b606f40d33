"""The NumPy backend as a :class:`mlpbench.api.protocol.Trainer`; CuPy runs the same code on a
GPU."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlpbench.api import plancache
from mlpbench.api import protocol as api
from mlpbench.api.framework import FrameworkBackend, best_matmul_s
from mlpbench.backends.numpy.model import MLP, Ablation, PhaseClock, SourceRows
from mlpbench.backends.numpy.parallel import DataParallelMLP

OPTIONS: dict[str, Any] = {  # name -> kind (mlpbench.api.protocol.check_value)
    "threads": int,
    "compute_input_delta": bool,
    "bias_as_column": bool,
    "phases": bool,
    "split_rows": bool,
    "data_parallel": bool,
    "transposed_gradient": bool,
    "pad_to": int,
    "chunk_rows": int,
    "plan": str,  # the thread plan the harness chose (recorded; its settings come with it)
    # batches gathered from the rows in their source dtype where the data has them (uint8
    # MNIST), the first layer scaling (model.SourceRows); false: from the float rows
    "source_rows": bool,
    "fused": bool,  # element-wise work in fused kernels: few launches a step on a GPU (fused.py)
}

# Ways to use the machine's threads and its BLAS (mlpbench.sweep.tuning: `mlpbench tune` measures
# which is fastest here). Variables are read by OpenBLAS when NumPy loads: the sweep sets them per
# point. "-tgrad": each weight gradient computed as (D^T A)^T, which some BLAS kernels run faster
# (`make benchmarks`: test_first_layer_gemm, test_training_step). "-pad": hidden widths rounded
# up to a multiple of PAD_TO, which the BLAS kernels may run faster (mlpbench.backends.numpy.model;
# tune skips it on networks whose widths are multiples already, mlpbench.sweep.tuning).
# "one_thread": a plan that differs from the others on one thread too, so tune measures it there as
# well.
PAD_TO = 8  # a candidate, not a claim: tune keeps a "-pad" plan only where it measures faster
# "-chunk": each thread's block run in pieces of at most CHUNK_ROWS rows that stay in the caches
# through the gather and the first layer's two GEMMs (mlpbench.backends.numpy.parallel); on one
# thread too. Also a candidate: tune measures it only where a block has more rows than that
# (mlpbench.sweep.tuning).
CHUNK_ROWS = 512


def _variant(plan: dict[str, Any], option: str, value: int, **marks: Any) -> dict[str, Any]:
    """``plan`` with one more option, also stated as a plan field of the same name, which
    :func:`differs_at` reads to skip the plan where it is its sibling (``pad_to``,
    ``chunk_rows``)."""
    return {**plan, **marks, "options": {**plan["options"], option: value}, option: value}


def _with_named_plan(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options with those of the plan they name (a plan's settings win), as the trainer
    runs them: a plan named alone (`mlpbench run -o plan=NAME`, or from Python) brings its
    settings, as a sweep's with_plan does; its variables are the caller's to set."""
    named = THREAD_PLANS.get(str(options.get("plan", "auto")), {})
    return {**options, **named.get("options", {})}


def default_plan(threads: int, batch_size: int) -> str:
    """The plan that won most often where no table exists yet, by the shape it won at: of the
    32 slots `mlpbench tune` chose on the two machines measured so far (a 2-core Xeon with
    AVX-512 and a 2-core AMD EPYC Zen 5; docs/numpy-backend.md), one thread went to the
    spin family with the transposed gradient and padding, two threads at small batches to the
    element-wise row split, and two threads at batch 2000 and up to the data-parallel step.
    None of them needs an environment variable, so it runs as named wherever it is built."""
    if threads == 1:
        return "spin-tgrad-pad"
    if batch_size < 500:
        return "spin-split"
    if batch_size < 2000:
        return "spin-tgrad-pad"
    return "data-parallel-pad"


def auto_plan(
    spec: api.ModelSpec, train: api.TrainSpec, device: str, dtype: str, threads: int
) -> tuple[str, str]:
    """``plan = "auto"``: this machine's tuned choice for the point if ``mlpbench tune`` (or a
    sweep) measured it, else :func:`default_plan`; and where the name came from."""
    layers = "-".join(map(str, spec.layers))
    entry = plancache.lookup("numpy", layers, dtype, device, threads, train.batch_size)
    if entry and entry.choice in THREAD_PLANS:
        return entry.choice, "tuned on this machine"
    return default_plan(threads, train.batch_size), "no tuned table here: the default"


THREAD_PLANS: dict[str, dict[str, Any]] = {
    "spin": {"env": {}, "options": {"split_rows": False}, "one_thread": True},  # as shipped
    "spin-tgrad": {
        "env": {},
        "options": {"split_rows": False, "transposed_gradient": True},
        "one_thread": True,
    },
    "spin-split": {"env": {}, "options": {"split_rows": True}},  # + element-wise row split
    "sleep": {"env": {"OPENBLAS_THREAD_TIMEOUT": "4"}, "options": {"split_rows": False}},
    "sleep-split": {"env": {"OPENBLAS_THREAD_TIMEOUT": "4"}, "options": {"split_rows": True}},
    # the batch cut into one row block per thread, one BLAS thread each
    # (mlpbench.backends.numpy.parallel)
    "data-parallel": {"env": {}, "options": {"split_rows": False, "data_parallel": True}},
    "data-parallel-tgrad": {
        "env": {},
        "options": {"split_rows": False, "data_parallel": True, "transposed_gradient": True},
    },
}
THREAD_PLANS.update(
    {
        f"{name}-pad": _variant(THREAD_PLANS[name], "pad_to", PAD_TO)
        for name in ("spin", "spin-tgrad", "data-parallel", "data-parallel-tgrad")
    }
)
THREAD_PLANS.update(
    {
        f"{name}-chunk": _variant(THREAD_PLANS[name], "chunk_rows", CHUNK_ROWS, one_thread=True)
        for name in ("data-parallel-tgrad", "data-parallel-tgrad-pad")
    }
)


def _cupy_status() -> tuple[Any, str | None]:
    """(cupy module or None, why the GPU is unavailable or None)."""
    try:
        import cupy
    except Exception as e:  # ImportError, or a CUDA library that fails to load
        return None, f"CuPy is not installed ({type(e).__name__}); pip install cupy-cuda12x"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy finds no GPU"
    except Exception as e:
        return None, f"CuPy finds no usable GPU: {e}"
    return cupy, None


PLAN_OPTIONS = {k for plan in THREAD_PLANS.values() for k in plan["options"]}
"""The options a thread plan sets: given by hand, they replace ``auto``."""


def differs_at(plan: dict[str, Any], threads: int, batch_size: int, widths: Sequence[int]) -> bool:
    """Whether the plan can run a point differently from the other plans, so that measuring
    it is worth a trial: a padding plan only where some hidden width is not a multiple of its
    ``pad_to`` already; a ``chunk_rows`` plan only where a thread's block of the batch has
    more rows than that (else it is its unchunked sibling); and on one thread only a plan
    marked ``one_thread`` (there are no idle BLAS threads and no split)."""
    pad = int(plan.get("pad_to", 1))
    if pad > 1 and all(w % pad == 0 for w in widths):
        return False
    chunk = int(plan.get("chunk_rows", 0))
    if chunk and -(-batch_size // max(1, threads)) <= chunk:
        return False
    return threads != 1 or bool(plan.get("one_thread"))


class NumpyTrainer(FrameworkBackend):
    """Mini-batch training of :class:`mlpbench.backends.numpy.model.MLP`, one phase clock per
    epoch."""

    NAME, OPTIONS = "numpy", OPTIONS
    PACKAGES = {"numpy": "numpy", "threadpoolctl": "threadpoolctl", "cupy-cuda12x": "cupy"}
    TEMPLATE = "standalone_numpy.py"  # in mlpbench/backends/templates/: the same maths, plainly

    @classmethod
    def capabilities(cls) -> api.Capabilities:
        _, why = _cupy_status()
        return api.Capabilities(
            devices=("cpu", "gpu"),
            dtypes=("float32", "float64"),
            phases=True,
            unavailable={"gpu": why} if why else {},
        )

    @classmethod
    def check_options(cls, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options, checked by name and kind (the sweep calls this before it starts)."""
        options = super().check_options(options)
        plan = options.get("plan", "auto")
        if plan != "auto" and plan not in THREAD_PLANS:
            raise api.SpecError(
                f"numpy option plan = {plan!r}; allowed: auto, {', '.join(THREAD_PLANS)}"
            )
        if options.get("pad_to", 1) < 1:
            raise api.SpecError(f"numpy option pad_to = {options['pad_to']}: must be at least 1")
        chunk = options.get("chunk_rows", 0)
        if chunk < 0:
            raise api.SpecError(f"numpy option chunk_rows = {chunk}: must be at least 0 (0: none)")
        if chunk and not _with_named_plan(options).get("data_parallel", False):
            raise api.SpecError(
                f"numpy option chunk_rows = {chunk} needs data_parallel = true "
                "(or a data-parallel plan); without it the batch is never cut"
            )
        return options

    @classmethod
    def gemm_peak(cls, dtype: str, device: str, n: int, repeats: int) -> float | None:
        """The GPU's GEMM peak in float32/float64, with CuPy (the CPU's is NumPy's own, measured
        by the harness)."""
        if device != "gpu" or dtype not in ("float32", "float64"):
            return None
        cupy, why = _cupy_status()
        if cupy is None:
            raise RuntimeError(why)
        best = best_matmul_s(cupy, dtype, n, repeats, cupy.cuda.Device().synchronize)
        return 2 * n**3 / best / 1e9

    @classmethod
    def thread_plans(cls) -> dict[str, dict[str, Any]]:
        return THREAD_PLANS

    @classmethod
    def default_plan(cls, threads: int, batch_size: int) -> str:
        """The plan ``auto`` runs where this machine has no tuned table."""
        return default_plan(threads, batch_size)

    @classmethod
    def plans_that_differ(cls, threads: int, batch_size: int, widths: Sequence[int]) -> list[str]:
        """The plans worth a trial at a point of this shape (the harness's tuner asks)."""
        plans = THREAD_PLANS.items()
        return [n for n, plan in plans if differs_at(plan, threads, batch_size, widths)]

    def setup(self, options: dict[str, Any]) -> None:
        spec, train, device, dtype = self.spec, self.train, self.device, self.dtype
        self.plan_source = "named"
        own = PLAN_OPTIONS & set(options)  # the caller picked the path by hand: no plan
        if str(options.get("plan", plancache.AUTO)) == plancache.AUTO and own:
            self.plan_source = f"by hand: {', '.join(sorted(own))}"
        elif str(options.get("plan", plancache.AUTO)) == plancache.AUTO and device != "cpu":
            self.plan_source = "none: a CPU thread plan has no say on the GPU"
        elif str(options.get("plan", plancache.AUTO)) == plancache.AUTO:
            threads_ = int(options.get("threads", 1))
            name, self.plan_source = auto_plan(spec, train, device, dtype, threads_)
            options = {**options, **THREAD_PLANS[name]["options"], "plan": name}
        else:
            options = _with_named_plan(options)
        self.spec, self.train, self.device, self.dtype = spec, train, device, dtype
        self.xp: Any = np
        self._sync = None
        if device == "gpu":
            cupy, why = _cupy_status()
            if cupy is None:
                raise RuntimeError(f"device 'gpu' unavailable for the numpy backend: {why}")
            self.xp = cupy
            self._sync = cupy.cuda.Device().synchronize
        self.plan = str(options.get("plan", ""))
        self.phases = bool(options.get("phases", True))
        self.source_rows = bool(options.get("source_rows", True))
        threads = int(options.get("threads", 1))
        ablation = Ablation.from_options(options)
        shape = {
            "transposed_gradient": bool(options.get("transposed_gradient", False)),
            "pad_to": int(options.get("pad_to", 1)),
        }
        if options.get("data_parallel", False) and self.xp is np:
            chunk = int(options.get("chunk_rows", 0))
            self.model: MLP = DataParallelMLP(
                spec, train, dtype, ablation, workers=threads, chunk_rows=chunk, **shape
            )
        else:  # element-wise work on as many threads as the BLAS has (split_rows=false: one)
            workers = threads if options.get("split_rows", True) else 1
            fused = bool(options.get("fused", False))
            self.model = MLP(
                spec, train, dtype, self.xp, ablation, workers=workers, fused=fused, **shape
            )

    def fit(self, data: api.TrainData, on_epoch_end: api.OnEpochEnd | None = None) -> None:
        xp, t = self.xp, self.train
        rows = xp.asarray(data.x, dtype=self.dtype)  # the float rows (as evaluated)
        x: Any = rows
        if self.source_rows and xp is np and data.x_rows is not None:
            x = SourceRows(data.x_rows, np.dtype(self.dtype).type(data.x_divisor))
        y = xp.asarray(data.y)
        n = len(data.x)
        rng = np.random.default_rng(t.seed)
        clock = PhaseClock(self.phases, self._sync)
        for epoch, lr in enumerate(t.epoch_learning_rates()):
            if self._sync:
                self._sync()
            w0, c0 = time.perf_counter(), time.process_time()
            clock.start()
            order = xp.asarray(api.epoch_order(t, epoch, n, rng))
            clock.lap("shuffle")
            loss, acc = self.model.train_epoch(
                x, y, order, lr, clock, batch_accuracy=t.train_accuracy == "batch"
            )
            if t.train_accuracy == "full":  # the article's way: predict the whole training set
                clock.start()
                _, acc = self.model.predict_scores(rows, y)
                clock.lap("eval")
            if self._sync:
                self._sync()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if on_epoch_end:
                on_epoch_end(api.EpochRecord(epoch, wall, cpu, loss, acc, clock.take()))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        xp = self.xp
        return self.model.predict_scores(xp.asarray(x, dtype=self.dtype), xp.asarray(y))

    def weights(self) -> list[np.ndarray]:
        return self.model.get_weights()

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"numpy": np.__version__, "array_module": self.xp.__name__}
        # whether batches come from the rows' source dtype where the data has one (CPU only)
        out["source_rows"] = str(self.source_rows and self.xp is np).lower()
        if self.plan and self.plan != "auto":
            out["plan"] = self.plan
            out["plan_source"] = self.plan_source
        elif self.device != "cpu":
            out["plan"] = f"none ({self.device}: no CPU thread plan)"
        if self.xp is not np:
            out["cupy"] = self.xp.__version__
        return out
