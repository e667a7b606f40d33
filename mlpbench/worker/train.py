"""One training run, in this process: load data, build the trainer, time it, summarize.

``mlpbench run`` calls this directly; the sweep's worker calls it in a fresh process per point.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from mlpbench import data as datasets
from mlpbench.api import records as checks
from mlpbench.api import registry
from mlpbench.api.framework import hook
from mlpbench.api.protocol import EpochRecord, SpecError
from mlpbench.api.spec import MAX_EPOCHS, RunSpec
from mlpbench.machine.probe import RunProbe
from mlpbench.machine.threads import blas_info, cpu_list, env_text, run_environment
from mlpbench.results.schema import RunSummary

if TYPE_CHECKING:
    from mlpbench.worker.profiler import Profiler


class Skip(Exception):
    """This point cannot run here (e.g. no GPU); a reason, not a failure."""


def steady_stats(epochs: list[EpochRecord]) -> tuple[float, float, float]:
    """(median, min, max) epoch wall time after the first epoch (which carries tracing)."""
    times = [e.wall_s for e in (epochs[1:] if len(epochs) > 1 else epochs)]
    return statistics.median(times), min(times), max(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0




def epochs_for(epochs: list[EpochRecord], min_measured_s: float, planned: int) -> int:
    """How many epochs a run needs so that its steady epochs (2..N) add up to at least
    ``min_measured_s`` (pyperf calibrates its loops the same way): ``planned`` when they do
    already, or when the target is 0."""
    if min_measured_s <= 0 or len(epochs) < 2:
        return planned
    steady, _, _ = steady_stats(epochs)
    if steady * (len(epochs) - 1) >= min_measured_s or steady <= 0:
        return planned
    return min(MAX_EPOCHS, max(planned + 1, 1 + math.ceil(min_measured_s / steady)))


def framework_environment(backend: type, threads: int) -> None:
    """The backend's own variables, before its framework loads: its thread pools sized for
    the point (over the user's), its start-up logs quiet (unless the user set them)."""
    os.environ.update({str(k): str(v) for k, v in hook(backend, "thread_env", threads).items()})
    for key, value in hook(backend, "quiet_env").items():
        os.environ.setdefault(str(key), str(value))


def run(
    spec: RunSpec,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
    profiler: Profiler | None = None,
) -> tuple[RunSummary, list[EpochRecord]]:
    """Train once; returns the run's summary (runs.csv fields) and its epoch records. With a
    ``profiler``, its steady epochs are sampled and ``profiler.result`` is their profile."""
    entry = registry.load(spec.backend)
    framework_environment(entry.cls, spec.threads)
    why = entry.capabilities.why_not(spec.device, spec.dtype)
    if why:
        raise Skip(f"{spec.backend}: {why}")
    # bfloat16 runs get float32 data (NumPy has no bfloat16); the backend casts for compute.
    data = datasets.load(spec.data, "float32" if spec.dtype == "bfloat16" else spec.dtype)
    n = len(data.x)
    if spec.train.batch_size > n:
        raise SpecError(
            f"batch_size = {spec.train.batch_size} is larger than the training data ({n} samples)"
        )
    if spec.model.layers[0] != data.x.shape[1] or spec.model.layers[-1] != data.n_classes:
        raise SpecError(
            f"layers = {list(spec.model.layers)} do not fit {spec.data.dataset}: it needs "
            f"{data.x.shape[1]} inputs and {data.n_classes} outputs"
        )
    options = {"threads": spec.threads, **spec.options}
    train = spec.train
    if profiler is not None:  # attached before the model starts its threads
        profiler.steps_per_epoch = math.ceil(n / train.batch_size)
        profiler.start()
    while True:
        t0 = time.perf_counter()
        trainer = entry.cls(
            spec.model, train, device=spec.device, dtype=spec.dtype, options=options
        )
        build_s = time.perf_counter() - t0
        info = checks.check_info(trainer.info())
        framework_import_s = checks.number(info.pop("import_s", 0.0), "info()['import_s']")
        epochs: list[EpochRecord] = []
        violations: list[checks.RecordError] = []

        def record(
            e: EpochRecord,
            into: list[EpochRecord] = epochs,
            bad: list[checks.RecordError] = violations,
            of: int = train.epochs,
        ) -> None:
            # Checked as it arrives: a bad record stops the fit and is never passed on, even
            # if the backend swallows the exception.
            try:
                checks.check_epoch(e, len(into), of)
            except checks.RecordError as error:
                bad.append(error)
                raise
            into.append(e)
            if profiler is not None:
                profiler.epoch_ended(e.epoch, of)
            if on_epoch_end:
                on_epoch_end(e)

        probe = RunProbe()
        c0, t0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.fit_started()
        try:
            trainer.fit(data, record)
        except Exception:
            if violations:
                raise violations[0] from None
            raise
        train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        machine = probe.finish()
        if violations:
            raise violations[0]
        checks.check_count(len(epochs), train.epochs)  # each record checked in record()
        more = epochs_for(epochs, spec.min_measured_s, train.epochs)
        if more == train.epochs:
            break
        train = replace(train, epochs=more)  # too short to time well: once more, longer
    if profiler is not None:
        profiler.result = profiler.finish(hook(entry.cls, "profile_categories"))
    answer = trainer.evaluate(data.x_test, data.y_test)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise checks.RecordError(f"evaluate() returned {answer!r:.60}, not (loss, accuracy)")
    test_loss = checks.number(answer[0], "evaluate()'s test loss", nan_ok=True)
    test_acc = checks.number(answer[1], "evaluate()'s test accuracy", nan_ok=True)
    last = epochs[-1]
    steady, lo, hi = steady_stats(epochs)
    if steady <= 0:
        raise checks.RecordError(
            f"the steady epoch took {steady:g} s: wall_s must be each epoch's measured seconds"
        )
    _, train_flops = spec.model.flops_per_sample()
    blas = blas_info()
    summary = RunSummary(
        dataset=data.name,
        n_train=n,
        epochs=len(epochs),
        import_s=entry.import_s + framework_import_s,
        setup_s=max(build_s - framework_import_s, 0.0),
        first_epoch_s=epochs[0].wall_s,
        steady_epoch_s=steady,
        steady_epoch_min_s=lo,
        steady_epoch_max_s=hi,
        train_s=train_s,
        cpu_s=cpu_s,
        samples_per_s=n / steady,
        gflops=train_flops * n / steady / 1e9,
        final_loss=float(last.loss),
        final_accuracy=float(last.accuracy),
        test_loss=float(test_loss),
        test_accuracy=float(test_acc),
        peak_rss_mb=peak_rss_mb(),
        blas=blas["blas"],
        blas_threads=int(blas["blas_threads"]),
        blas_architecture=str(blas.get("blas_architecture", "")),
        run_env=checks.bounded(env_text(run_environment()), checks.MAX_LABEL_CHARS),
        framework_threads=checks.bounded(
            str(info.pop("framework_threads", "")), checks.MAX_LABEL_CHARS
        ),
        plan=checks.bounded(str(info.pop("plan", "")), checks.MAX_LABEL_CHARS),
        backend_version=entry.version,
        backend_info=checks.info_text(info),
        cpus=cpu_list(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "",
        **machine,
    )
    return summary, epochs
