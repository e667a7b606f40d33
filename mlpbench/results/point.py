"""``PointResult``: what one point's run produced, the one shape of it everywhere.

A worker sends it over its pipe, a standalone script's output is read into it, a Dask host
returns it, the runner returns it, and the sweep turns it into rows (pyperf's one ``Run``
model over the pipe, on disk and in compare). It is serialised in one place (``to_json`` /
``from_json``) and checked once, when it arrives (``from_json``): a result a worker of another
mlpbench sent, or a garbled pipe, becomes a failed result that says what was wrong, so nothing
invalid is written.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mlpbench.api import records as checks
from mlpbench.api.protocol import EpochRecord
from mlpbench.api.records import RecordError
from mlpbench.results.profile import Profile
from mlpbench.results.schema import STATUSES, SUMMARY_TYPES, RunSummary

EPOCH_FIELDS = {f.name for f in fields(EpochRecord)} - {"phases"}

SHARES = {"final_accuracy", "test_accuracy"}
"""Summary numbers that are a fraction (0 to 1, or NaN)."""
AT_LEAST_ONE = {"n_train", "epochs"}
SIGNED = {"final_loss", "test_loss"}
"""Numbers with no lower bound (a loss may be any finite value); every other count, time,
rate, size and share is at least 0 (the probe's load shares have no upper bound: its clocks
differ, and a busy VM read 177%)."""
LONG_TEXT = {"backend_info", "run_env"}
"""Text cells bounded at ``MAX_INFO_CHARS``; every other one at ``MAX_LABEL_CHARS``."""


def check_summary(raw: dict[str, Any], epochs: range | None) -> RunSummary:
    """A summary as a worker, a script or a host sent it, every field in its valid range and
    every text bounded: the one place a summary is checked before it becomes a row."""
    if set(raw) - set(SUMMARY_TYPES):
        raise RecordError("the summary does not have runs.csv's columns")
    out: dict[str, Any] = {}
    for name, kind in SUMMARY_TYPES.items():
        if name not in raw:
            continue
        value = raw[name]
        if kind in (int, float):
            minimum = None if name in SIGNED else (1.0 if name in AT_LEAST_ONE else 0.0)
            x = checks.number(value, name, nan_ok=kind is float, minimum=minimum)
            if name in SHARES and x > 1.0:
                raise RecordError(f"{name} = {x:g} is not between 0 and 1")
            if kind is int:
                if x != int(x):
                    raise RecordError(f"{name} = {x:g} is not a whole number")
                value = int(x)
        elif kind is str:
            if not isinstance(value, str):
                raise RecordError(f"{name} = {checks.shown(value)} is not a text")
            limit = checks.MAX_INFO_CHARS if name in LONG_TEXT else checks.MAX_LABEL_CHARS
            value = checks.bounded(value, limit)
        out[name] = value
    checks.number(out.get("steady_epoch_s"), "steady_epoch_s", minimum=1e-12)
    if epochs is not None and out.get("epochs") not in epochs:
        raise RecordError(
            f"the summary says {out.get('epochs')} epochs for a run of {_epochs_words(epochs)}"
        )
    return RunSummary(**out)


@dataclass
class PointResult:
    """One point's outcome: ok with its summary and epochs, skipped or failed with the reason;
    when and how long the process ran, and on which host (filled in where it is known)."""

    status: str
    reason: str = ""
    summary: RunSummary | None = None
    epochs: list[EpochRecord] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    worker_s: float = math.nan
    host: str = ""
    hostname: str = ""
    profile: Profile | None = None  # a profiled run's (mlpbench.results.profile)

    @classmethod
    def failed(cls, reason: str, **known: Any) -> PointResult:
        return cls("failed", reason, **known)

    @classmethod
    def skipped(cls, reason: str, **known: Any) -> PointResult:
        return cls("skipped", reason, **known)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.summary is not None

    @property
    def seconds(self) -> float:
        """The steady epoch's seconds; infinity for a run that did not succeed (tuning and
        bisect compare these)."""
        return self.summary.steady_epoch_s if self.ok else math.inf  # type: ignore[union-attr]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["summary"] = asdict(self.summary) if self.summary is not None else None
        out["profile"] = self.profile.to_json() if self.profile is not None else None
        return out

    @classmethod
    def from_json(cls, data: Any, epochs: range | None = None) -> PointResult:
        """The result as it may be written, or a failed result saying what was wrong with it.

        ``epochs``: how many the run's spec allows (``RunSpec.epochs_allowed``); an ok result
        has a summary that says one of them, and exactly that many epoch records, numbered
        0, 1, 2, ...
        """
        where = {}
        if isinstance(data, dict):
            where = {
                k: data[k] for k in ("started_at", "worker_s", "host", "hostname") if k in data
            }
            where = {k: v for k, v in where.items() if v is not None and _fits(k, v)}
        try:
            if not isinstance(data, dict):
                raise RecordError(f"a result is a JSON object, not {type(data).__name__}")
            status = data.get("status")
            if status not in STATUSES:
                raise RecordError(f"status = {checks.shown(status)} is not one of {STATUSES}")
            summary = None
            raw = data.get("summary")
            if status == "ok":
                if not isinstance(raw, dict):
                    raise RecordError("the summary does not have runs.csv's columns")
                summary = check_summary(raw, epochs)
            records = data.get("epochs") or []
            if not isinstance(records, list):
                raise RecordError("epochs is not a list")
            got = []
            for i, e in enumerate(records):
                if not isinstance(e, dict):
                    raise RecordError(f"epoch record {i + 1} is not a JSON object")
                known = {k: v for k, v in e.items() if k in EPOCH_FIELDS}
                epoch = EpochRecord(**{**known, "phases": dict(e.get("phases") or {})})
                checks.check_epoch(epoch, i, epochs.stop - 1 if epochs else None)
                got.append(epoch)
            if summary is not None:
                checks.check_count(len(got), summary.epochs)
            reason = checks.bounded(str(data.get("reason", "")), checks.MAX_REASON_CHARS)
            profile = data.get("profile")
            profile = Profile.from_json(profile) if profile is not None else None
            return cls(status, reason, summary, got, **where, profile=profile)
        except (RecordError, TypeError, AttributeError, KeyError, ValueError) as error:
            return cls.failed(f"the worker's result is invalid: {error}", **where)


def _epochs_words(epochs: range) -> str:
    return str(epochs.start) if len(epochs) == 1 else f"{epochs.start} to {epochs.stop - 1}"


def _fits(name: str, value: Any) -> bool:
    """A field the result's sender filled in about itself, of its type and bounded."""
    if name in ("host", "hostname"):
        return isinstance(value, str) and len(value) <= checks.MAX_LABEL_CHARS
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
