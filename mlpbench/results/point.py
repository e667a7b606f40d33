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
from mlpbench.results.schema import STATUSES, SUMMARY_TYPES, RunSummary

EPOCH_FIELDS = {f.name for f in fields(EpochRecord)} - {"phases"}


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
        return out

    @classmethod
    def from_json(cls, data: Any) -> PointResult:
        """The result as it may be written, or a failed result saying what was wrong with it."""
        where = {}
        if isinstance(data, dict):
            where = {
                k: data[k] for k in ("started_at", "worker_s", "host", "hostname") if k in data
            }
        try:
            if not isinstance(data, dict):
                raise RecordError(f"a result is a JSON object, not {type(data).__name__}")
            status = data.get("status")
            if status not in STATUSES:
                raise RecordError(f"status = {status!r} is not one of {STATUSES}")
            summary = None
            raw = data.get("summary")
            if status == "ok":
                if not isinstance(raw, dict) or set(raw) - set(SUMMARY_TYPES):
                    raise RecordError("the summary does not have runs.csv's columns")
                for name, kind in SUMMARY_TYPES.items():
                    if name in raw and kind in (int, float):
                        checks.number(raw[name], name, nan_ok=kind is float)
                checks.number(raw.get("steady_epoch_s"), "steady_epoch_s", minimum=1e-12)
                summary = RunSummary(**raw)
            epochs = []
            for i, e in enumerate(data.get("epochs") or []):
                known = {k: v for k, v in e.items() if k in EPOCH_FIELDS}
                epoch = EpochRecord(**{**known, "phases": dict(e.get("phases") or {})})
                checks.check_epoch(epoch, i)
                epochs.append(epoch)
            return cls(
                status, str(data.get("reason", "")), summary, epochs,
                **{k: v for k, v in where.items() if v is not None},
            )  # fmt: skip
        except (RecordError, TypeError, AttributeError, KeyError) as error:
            return cls.failed(f"the worker's result is invalid: {error}", **where)
