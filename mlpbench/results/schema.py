"""The results schema: the columns of runs.csv and epochs.csv, their types, and the version.

A folder holds ``runs.csv`` (one :class:`RunRecord` per run), ``epochs.csv`` (one row per
epoch), ``environment.json`` (machine, peaks, ``schema_version``, ``columns``) and
``config.toml``. The worker builds a :class:`RunSummary`; the sweep wraps it in a RunRecord.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, get_type_hints

from mlpbench.config.points import AXIS_TYPES, KEY_COLUMNS, PointKey

SCHEMA_VERSION = 6
"""Bumped whenever a column is added, removed or changes meaning (with a migration in
``migrations`` and the new column lists in ``tests/golden/schema.json``: a test fails when the
columns change without both)."""
STATUSES = ("ok", "skipped", "failed")


def column(doc: str, default: Any = MISSING) -> Any:
    """A dataclass field that is a CSV column; ``doc`` is its line in docs/columns.md."""
    return field(default=default, metadata={"doc": doc})


@dataclass
class RunSummary:
    """What one successful run measured (``mlpbench.worker.train.run``); each field is a runs.csv
    column, and its ``doc`` is that column's line in docs/columns.md."""

    dataset: str = column("the dataset the run trained on (mnist, fashion-mnist, synthetic)")
    n_train: int = column("training samples")
    epochs: int = column("epochs trained")
    import_s: float = column(
        "seconds to import the backend's framework (0 where the worker had it already)"
    )
    setup_s: float = column("seconds to build the model (the Trainer's constructor)")
    first_epoch_s: float = column(
        "wall seconds of epoch 1 (tracing, compilation and warm-up land here)"
    )
    steady_epoch_s: float = column("the steady-state epoch: median wall seconds of epochs 2..N")
    steady_epoch_min_s: float = column("the fastest of epochs 2..N")
    steady_epoch_max_s: float = column("the slowest of epochs 2..N")
    train_s: float = column("wall seconds of the whole fit")
    cpu_s: float = column("CPU seconds of the process during the fit (all threads)")
    samples_per_s: float = column("training samples per second at the steady epoch")
    gflops: float = column(
        "achieved GFLOP/s at the steady epoch (docs/contracts.md: FLOPs per sample)"
    )
    final_loss: float = column("training loss of the last epoch")
    final_accuracy: float = column(
        "training accuracy of the last epoch (NaN where train_accuracy = none)"
    )
    test_loss: float = column("loss on the test split after training")
    test_accuracy: float = column("accuracy on the test split after training")
    peak_rss_mb: float = column("the worker's peak resident memory, MiB")
    blas: str = column("the BLAS NumPy used (threadpoolctl: vendor and version)")
    blas_threads: int = column("BLAS threads in effect during the run")
    framework_threads: str = column("the framework's own pool sizes, as the backend reports them")
    backend_version: str = column("the backend's version (its package's)")
    backend_info: str = column(
        "the backend's info(): versions and effective settings as key=value pairs joined by ;, "
        "cut at 4096 characters with a marker"
    )
    blas_architecture: str = column(
        "the BLAS kernel the run got (threadpoolctl's architecture, such as Haswell or Zen; "
        "OPENBLAS_CORETYPE changes it)",
        "",
    )
    run_env: str = column(
        "the thread and BLAS variables the worker ran with (OMP_*, OPENBLAS_*, MKL_*, ...), "
        "as VAR=value joined by ; (a reproducer sets them again)",
        "",
    )
    # What the machine did during the run (mlpbench.machine.probe.RunProbe).
    cpus: str = column("the CPUs the worker was pinned to (a list such as 0-1)", "")
    plan: str = column(
        "the thread plan the run used, where its backend has plans (docs/numpy-backend.md)", ""
    )
    other_load_pct: float = column("other processes' share of all CPUs during the run, %", math.nan)
    steal_pct: float = column("CPU time stolen by the hypervisor during the run, %", math.nan)
    involuntary_switches: int = column(
        "the worker's involuntary context switches during the run", 0
    )
    load_avg: float = column("the 1-minute load average at the end of the run", math.nan)
    cpu_mhz: float = column("the CPU clock at the end of the run, MHz", math.nan)


SUMMARY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunSummary))


@dataclass
class RunRecord:
    """One row of runs.csv: which run, how it ended, and what it measured."""

    run_id: str = column(
        "the run's id in this folder (r0000, r0001, ...); epochs.csv rows carry it too"
    )
    key: PointKey
    repeat: int = column("which repeat of its point the run is (0-based)")
    status: str = column("ok | skipped | failed")
    reason: str = column("why a run was skipped or failed, one sentence", "")
    summary: RunSummary | None = None
    peak_gflops: float = column(
        "the calibrated GEMM peak of the run's (dtype, threads, device), GFLOP/s", math.nan
    )
    efficiency: float = column("gflops / peak_gflops", math.nan)
    started_at: str = column("when the worker started, local ISO time", "")
    worker_s: float = column(
        "wall seconds of the whole worker process (start-up, data, fit, evaluation)", math.nan
    )
    host: str = column("a stable id of the machine that ran it (hashed /etc/machine-id)", "")
    hostname: str = column("the machine's host name", "")

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id}
        out.update(zip(KEY_COLUMNS, (*self.key.values(), self.repeat)))
        out.update(status=self.status, reason=self.reason)
        if self.summary is not None:
            out.update({name: getattr(self.summary, name) for name in SUMMARY_FIELDS})
        out.update(
            peak_gflops=self.peak_gflops,
            efficiency=self.efficiency,
            started_at=self.started_at,
            worker_s=self.worker_s,
            host=self.host,
            hostname=self.hostname,
        )
        return out


RUN_COLUMNS: list[str] = [
    "run_id",
    *KEY_COLUMNS,
    "status",
    "reason",
    *SUMMARY_FIELDS,
    "peak_gflops",
    "efficiency",
    "started_at",
    "worker_s",
    "host",
    "hostname",
]
SUMMARY_TYPES = get_type_hints(RunSummary)
RUN_TYPES: dict[str, Any] = {
    "run_id": str,
    **AXIS_TYPES,
    "repeat": int,
    "status": str,
    "reason": str,
    **{  # empty unless the run is ok
        name: t if t is str else t | None
        for name, t in ((n, SUMMARY_TYPES[n]) for n in SUMMARY_FIELDS)
    },
    "peak_gflops": float,
    "efficiency": float,
    "started_at": str,
    "worker_s": float,
    "host": str,
    "hostname": str,
}
PHASE_COLUMNS = ["phase_shuffle", "phase_forward", "phase_backward", "phase_update", "phase_eval"]
EPOCH_DOCS: dict[str, str] = {
    "epoch": "the epoch's number, 1..N",
    "wall_s": "the epoch's wall seconds",
    "cpu_s": "the process's CPU seconds during the epoch (all threads)",
    "loss": "the training loss the backend reports for the epoch",
    "accuracy": "the training accuracy for the epoch (NaN where train_accuracy = none)",
    "phase_shuffle": "seconds shuffling and gathering batches (backends that report phases)",
    "phase_forward": "seconds in the forward pass",
    "phase_backward": "seconds in backpropagation (deltas and gradients)",
    "phase_update": "seconds in the optimizer's update",
    "phase_eval": "seconds evaluating training accuracy (train_accuracy = batch or full)",
}
EPOCH_COLUMNS = [
    "run_id",
    *KEY_COLUMNS,
    "epoch",
    "wall_s",
    "cpu_s",
    "loss",
    "accuracy",
    *PHASE_COLUMNS,
]
EPOCH_TYPES: dict[str, Any] = {
    "run_id": str,
    **AXIS_TYPES,
    "repeat": int,
    "epoch": int,
    **{c: float for c in EPOCH_COLUMNS[len(KEY_COLUMNS) + 2 :]},
}
FILES = ("runs.csv", "epochs.csv", "environment.json", "config.toml")


def columns_record() -> dict[str, Any]:
    """What environment.json stores beside ``schema_version``: the columns of each CSV."""
    return {"runs.csv": list(RUN_COLUMNS), "epochs.csv": list(EPOCH_COLUMNS)}
