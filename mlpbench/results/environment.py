"""``Environment``: a results folder's environment.json as a typed value, with one read path
(``from_json``, which also reads older folders: a key it does not know is kept in ``extra``)
and one write path (``to_json``). The machine part comes from ``mlpbench.machine.describe``;
the sweep adds its config, stacks, peaks, plans, sessions and machine checks as it runs.
Code outside ``mlpbench.results`` uses the attributes, never the file's keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

CURRENT = "current"  # the sweep's own stack (mlpbench.config.points.CURRENT_ENV)
PeakKey = tuple[str, str, int, str, int]


def _number(value: Any) -> float:
    """A GFLOP/s figure from the file: a finite positive number, else NaN."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) and value > 0 else math.nan


def _fields_of(record: type) -> set[str]:
    """A record's own keys in the file: its fields but ``extra`` (what it keeps unread)."""
    return {f.name for f in fields(record)} - {"extra"}


@dataclass(frozen=True)
class Peak:
    """One GEMM peak: what was measured (dtype, threads, device, stack, matrix size) and its
    one figure, the best repeat's GFLOP/s (NaN where it failed, ``error`` says why). The other
    keys a calibration wrote (the median repeat, the CPUs, a framework's engine) are kept in
    ``extra`` for the file, never read."""

    dtype: str
    threads: int
    device: str = "cpu"
    env: str = CURRENT
    n: int = 0
    gflops: float = math.nan
    error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> PeakKey:
        """What makes two peaks comparable: (device, dtype, threads, stack, n). A stack runs
        its own NumPy and BLAS, and a smaller matrix reads lower."""
        return (self.device, self.dtype, self.threads, self.env, self.n)

    @property
    def measured(self) -> bool:
        return math.isfinite(self.gflops) and self.gflops > 0

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Peak:
        return cls(
            dtype=str(doc.get("dtype", "")),
            threads=int(doc.get("threads") or 0),
            device=str(doc.get("device") or "cpu"),
            env=str(doc.get("env") or CURRENT),
            n=int(doc.get("n") or 0),
            gflops=_number(doc.get("gflops")),
            error=str(doc.get("error") or ""),
            extra={k: v for k, v in doc.items() if k not in _fields_of(cls)},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dtype": self.dtype,
            "threads": self.threads,
            "device": self.device,
            "n": self.n,
            "gflops": self.gflops,
        }
        if self.env != CURRENT:
            out["env"] = self.env
        if self.error:
            out["error"] = self.error
        return {**out, **self.extra}


def peaks_of(docs: Any) -> list[Peak]:
    """The peaks of a list from the file (an entry that is not an object is dropped)."""
    return [p if isinstance(p, Peak) else Peak.from_json(p) for p in docs or []
            if isinstance(p, (Peak, Mapping))]  # fmt: skip


@dataclass(frozen=True)
class Recalibration:
    """The peaks measured again after ``after_runs`` runs (drift is their change)."""

    after_runs: int
    peaks: tuple[Peak, ...] = ()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Recalibration:
        return cls(int(doc.get("after_runs") or 0), tuple(peaks_of(doc.get("peaks"))))

    def to_json(self) -> dict[str, Any]:
        return {"after_runs": self.after_runs, "peaks": [p.to_json() for p in self.peaks]}


@dataclass(frozen=True)
class PlanEntry:
    """A tuned slot of the thread-plan table (environment.json's ``plans`` and the machine's
    plan cache): the plan chosen, each candidate's trial epoch, and the conditions it was
    measured in (other processes' load; ``provisional``: tuned under load, for that run only;
    ``stale``: a later run measured far from its prediction, so it is tuned again)."""

    choice: str
    seconds: Mapping[str, float] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    trial_samples: int = 0  # the samples of a trial epoch (0: unknown)
    load_pct: float | None = None
    provisional: bool = False
    stale: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PlanEntry:
        seconds = doc.get("seconds") if isinstance(doc.get("seconds"), Mapping) else {}
        load = doc.get("load_pct")
        return cls(
            choice=str(doc.get("choice") or ""),
            seconds={str(k): float(v) for k, v in seconds.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool)},  # fmt: skip
            candidates=tuple(map(str, doc.get("candidates") or ())),
            failed=tuple(map(str, doc.get("failed") or ())),
            trial_samples=int(doc.get("trial_samples") or 0),
            load_pct=float(load) if isinstance(load, (int, float)) else None,
            provisional=bool(doc.get("provisional")),
            stale=str(doc.get("stale") or ""),
            extra={k: v for k, v in doc.items() if k not in _fields_of(cls)},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"choice": self.choice, "seconds": dict(self.seconds),
                               "candidates": list(self.candidates)}  # fmt: skip
        if self.failed:
            out["failed"] = list(self.failed)
        if self.trial_samples:
            out["trial_samples"] = self.trial_samples
        if self.load_pct is not None:
            out["load_pct"] = self.load_pct
        if self.provisional:
            out["provisional"] = True
        if self.stale:
            out["stale"] = self.stale
        return {**out, **self.extra}

    def predicted_s(self, n_train: int) -> float:
        """The steady epoch this entry predicts for ``n_train`` samples: its choice's trial
        epoch scaled from the trial's samples (NaN where it cannot say)."""
        seconds = self.seconds.get(self.choice)
        if not seconds or not self.trial_samples:
            return math.nan
        return float(seconds) * n_train / self.trial_samples


def plans_of(docs: Any) -> dict[str, PlanEntry]:
    """A plan table from a file (an entry that is not an object, or names no choice, is
    dropped)."""
    if not isinstance(docs, Mapping):
        return {}
    out = {}
    for k, d in docs.items():
        entry = d if isinstance(d, PlanEntry) else (
            PlanEntry.from_json(d) if isinstance(d, Mapping) else None)
        if entry is not None and entry.choice:
            out[str(k)] = entry
    return out


def _seconds(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok and value >= 0 else 0.0


@dataclass(frozen=True)
class Session:
    """One run (or resume) of a sweep: when it started, its wall time, its work before the
    first point (calibrating, tuning; describing a cluster's hosts), the runs it wrote and
    whether it finished (an interrupted one did not)."""

    started_at: str = ""
    wall_s: float = 0.0
    prepare_s: float = 0.0
    runs: int = 0
    finished: bool = False
    calibrations: int = 0
    calibrate_s: float = 0.0
    tuned_slots: int = 0
    tune_s: float = 0.0
    hosts_s: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Session:
        counts = ("runs", "calibrations", "tuned_slots")
        times = ("wall_s", "prepare_s", "calibrate_s", "tune_s", "hosts_s")
        return cls(
            started_at=str(doc.get("started_at") or ""),
            finished=doc.get("finished") is True,
            **{k: int(_seconds(doc.get(k))) for k in counts},
            **{k: _seconds(doc.get(k)) for k in times},
            extra={k: v for k, v in doc.items() if k not in _fields_of(cls)},
        )

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        return {**out, **self.extra}


@dataclass(frozen=True)
class StackRecord:
    """What environment.json keeps of a version stack ([environments.NAME]): the packages it
    resolved to, its Python and BLAS, its requirements and build time; or why it was not used
    (``error``); or that it is the running environment under another name (``same_as``)."""

    versions: Mapping[str, str] = field(default_factory=dict)
    python_version: str = ""
    blas: Mapping[str, Any] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    build_s: float = 0.0
    error: str = ""
    same_as: str = ""
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False)  # as written

    @property
    def blas_name(self) -> str:
        """The BLAS NumPy runs on, as recorded ("?": not recorded)."""
        return str(self.blas.get("blas") or "?")

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StackRecord:
        spec = doc.get("spec") if isinstance(doc.get("spec"), Mapping) else {}
        return cls(
            versions={str(k): str(v) for k, v in dict(doc.get("versions") or {}).items()},
            python_version=str(doc.get("python_version") or ""),
            blas=dict(doc.get("blas") or {}),
            requirements=tuple(str(r) for r in spec.get("requirements") or ()),
            backends=tuple(str(b) for b in doc.get("backends") or ()),
            build_s=_seconds(doc.get("build_s")),
            error=str(doc.get("error") or ""),
            same_as=str(doc.get("same_as") or ""),
            doc=dict(doc),
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.doc)


@dataclass(frozen=True)
class Host:
    """One machine of a cluster sweep: its name, what it is (a machine description), its
    machine check and its peaks."""

    host: str
    hostname: str = ""
    environment: Mapping[str, Any] = field(default_factory=dict)
    doctor: Sequence[Any] = ()
    peaks: tuple[Peak, ...] = ()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Host:
        return cls(
            host=str(doc.get("host", "")),
            hostname=str(doc.get("hostname", "")),
            environment=dict(doc.get("environment") or {}),
            doctor=list(doc.get("doctor") or []),
            peaks=tuple(peaks_of(doc.get("peaks"))),
        )

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "hostname": self.hostname,
                "environment": dict(self.environment), "doctor": list(self.doctor),
                "peaks": [p.to_json() for p in self.peaks]}  # fmt: skip


@dataclass
class Environment:
    """What ran a sweep, and how its sessions went."""

    # the machine (mlpbench.machine.describe.describe)
    cpu_model: str = ""
    cpu_flags: list[str] = field(default_factory=list)
    cores_logical: int = 0
    cores_physical: int = 0
    cores_usable: int = 0
    memory_gb: float = math.nan
    platform: str = ""
    hostname: str = ""
    python_executable: str = ""
    blas: dict[str, Any] = field(default_factory=dict)
    blas_env: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    gpu: str = ""
    git_commit: str = ""
    # the sweep
    schema_version: int = 1
    columns: dict[str, Any] = field(default_factory=dict)
    config_name: str = ""
    config_path: str = ""
    config_fingerprint: str = ""
    config_text: str = ""
    config_history: list[Any] = field(default_factory=list)
    stacks: dict[str, StackRecord] = field(default_factory=dict)
    doctor: list[Any] = field(default_factory=list)
    doctor_history: list[Any] = field(default_factory=list)
    pinned: bool = True
    peaks: list[Peak] = field(default_factory=list)
    plans: dict[str, PlanEntry] = field(default_factory=dict)
    recalibrations: list[Recalibration] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    cluster: str = ""
    hosts: dict[str, Host] = field(default_factory=dict)
    profiler: str = ""  # the profiled runs' sampler and its version, or why there was none
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> Environment:
        known = _fields_of(cls)
        doc = dict(doc or {})
        values = {k: v for k, v in doc.items() if k in known and v is not None}
        records = {  # the measured parts as records
            "peaks": peaks_of,
            "recalibrations": lambda docs: [Recalibration.from_json(d) for d in docs
                                            if isinstance(d, Mapping)],
            "hosts": lambda docs: {str(k): Host.from_json({"host": k, **d})
                                   for k, d in docs.items() if isinstance(d, Mapping)},
            "sessions": lambda docs: [Session.from_json(d) for d in docs
                                      if isinstance(d, Mapping)],
            "stacks": lambda docs: {str(k): StackRecord.from_json(d) for k, d in docs.items()
                                    if isinstance(d, Mapping)},
            "plans": plans_of,
        }  # fmt: skip
        for key, read in records.items():
            if key in values:
                values[key] = read(values[key])
        return cls(**values, extra={k: v for k, v in doc.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        """The document: every key with a value (an unset optional key stays out, as an older
        folder had it), then the keys it was read with and does not know."""
        out = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not MISSING else f.default
            if value == default and f.name not in ALWAYS:
                continue
            out[f.name] = _plain(value)
        return {**out, **self.extra}

    @property
    def blas_name(self) -> str:
        """The BLAS NumPy runs on, as recorded ("?": not recorded)."""
        return str(self.blas.get("blas") or "?")

    def plan_machine(self) -> tuple[Any, ...]:
        """What a thread plan's speed depends on, of this environment: the plan table's
        fingerprint (``mlpbench.api.plancache``)."""
        return (
            self.cpu_model or None,
            self.cpu_flags or None,
            self.cores_usable or None,
            self.blas.get("blas"),
            self.blas.get("blas_architecture"),
            self.versions.get("numpy"),
            self.blas_env,
        )

    @property
    def empty(self) -> bool:
        return not self.to_json()



def _plain(value: Any) -> Any:
    """A field's value as the file has it (records as their JSON objects)."""
    if isinstance(value, (Peak, Recalibration, Host, Session, StackRecord, PlanEntry)):
        return value.to_json()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


ALWAYS = {"schema_version", "pinned"}
"""Written even at their defaults (a reader tells an old folder by their absence)."""
