"""``Profile``: where a profiled run's steady epochs spent their CPU time, by category.

A profiled run is an extra run after a point's timed repeats (its times never enter the
statistics). Its worker samples every thread of its process while the steady epochs run
(``mlpbench.worker.profiler``), names each sample's leaf frame by one of :data:`CATEGORIES`
(``mlpbench.worker.categories``), and sends this record with its result; the sweep keeps it in
``profiles.csv`` (one row per run and category) and its folded stacks in
``profiles/RUN_ID.folded``. Checked once, on arrival, like every other field of a result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlpbench.api import records as checks
from mlpbench.api.records import RecordError
from mlpbench.config.points import PointKey
from mlpbench.errors import ResultsError

CATEGORIES = (
    "GEMM kernels",
    "threads waiting or spinning",
    "element-wise math",
    "data movement",
    "compiled code without symbols",
    "Python interpreter",
    "framework runtime",
    "OS kernel",
    "waiting for a device",
    "other",
)
"""Every sample's leaf frame falls in one, in this order on every page (the table is
``mlpbench.worker.categories``; a backend adds its own shared objects by a hook)."""
FOLDED_LIMIT = 64 * 1024
"""Characters of folded stacks kept per profile (the heaviest stacks first)."""
COVERAGE_LOW = 0.8
"""A profile whose samples account for less of the process's CPU time says so."""
PROFILE_ENV = "MLPBENCH_PROFILE"
"""Set in a profiled run's worker: ``auto`` (perf, else py-spy), ``perf`` or ``py-spy``."""


@dataclass(frozen=True)
class Profile:
    """The categories' samples over the sampled window, and what makes them CPU-seconds.

    ``skipped``: why no profile was taken ("" when one was). ``tool``: the profiler and its
    version. ``hz``: samples a second of CPU time per thread; ``window_s``: the wall time
    sampled (the steady epochs); ``steps``: training steps in it; ``cpu_s``: the process's own
    CPU time over the window (getrusage, all threads), against which coverage is reckoned;
    ``sees``: what the tool cannot see, in words ("" for perf)."""

    skipped: str = ""
    tool: str = ""
    hz: int = 0
    window_s: float = math.nan
    steps: int = 0
    cpu_s: float = math.nan
    samples: Mapping[str, int] = field(default_factory=dict)
    sees: str = ""
    folded: str = ""

    @property
    def sampled_cpu_s(self) -> float:
        return sum(self.samples.values()) / self.hz if self.hz else math.nan

    @property
    def coverage(self) -> float:
        """The samples' CPU time over the process's own: near 1 when the profile saw it all."""
        return self.sampled_cpu_s / self.cpu_s if self.cpu_s > 0 else math.nan

    @property
    def step_s(self) -> float:
        """Wall seconds per training step over the window."""
        return self.window_s / self.steps if self.steps else math.nan

    def per_step(self, category: str) -> float:
        """CPU-seconds per step spent in ``category`` (all threads together)."""
        if not self.hz or not self.steps:
            return math.nan
        return self.samples.get(category, 0) / self.hz / self.steps

    @property
    def cores_busy(self) -> float:
        """CPU-seconds over wall seconds in the window: how many cores the step keeps busy."""
        return self.sampled_cpu_s / self.window_s if self.window_s > 0 else math.nan

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "samples": dict(self.samples)}

    @classmethod
    def from_json(cls, data: Any) -> Profile:
        """The record as a worker sent it, checked: every number in range, every text
        bounded, categories from :data:`CATEGORIES` only (a RecordError otherwise)."""
        if not isinstance(data, Mapping):
            raise RecordError("the profile is not a JSON object")
        samples = data.get("samples") or {}
        if not isinstance(samples, Mapping) or set(samples) - set(CATEGORIES):
            raise RecordError(f"the profile's categories are not among {CATEGORIES}")
        counts = {str(k): int(checks.number(v, f"samples[{k}]", minimum=0.0))
                  for k, v in samples.items()}  # fmt: skip
        folded = data.get("folded") or ""
        if not isinstance(folded, str):
            raise RecordError("the profile's folded stacks are not a text")
        return cls(
            skipped=checks.bounded(str(data.get("skipped") or ""), checks.MAX_REASON_CHARS),
            tool=checks.bounded(str(data.get("tool") or ""), checks.MAX_LABEL_CHARS),
            hz=int(checks.number(data.get("hz", 0), "hz", minimum=0.0)),
            window_s=checks.number(data.get("window_s", math.nan), "window_s", nan_ok=True,
                                   minimum=0.0),  # fmt: skip
            steps=int(checks.number(data.get("steps", 0), "steps", minimum=0.0)),
            cpu_s=checks.number(data.get("cpu_s", math.nan), "cpu_s", nan_ok=True, minimum=0.0),
            samples=counts,
            sees=checks.bounded(str(data.get("sees") or ""), checks.MAX_LABEL_CHARS),
            folded=folded[:FOLDED_LIMIT],
        )


@dataclass(frozen=True)
class ProfiledRun:
    """One line of a folder's ``profiles.jsonl``: the point, its profiled run's id (its folded
    stacks are ``profiles/RUN_ID.folded``), that run's steady epoch (against the timed runs'
    median: the profiler's overhead) and the profile."""

    key: PointKey
    run_id: str
    steady_epoch_s: float
    profile: Profile

    def to_json(self) -> dict[str, Any]:
        return {"point": asdict(self.key), "run_id": self.run_id,
                "steady_epoch_s": self.steady_epoch_s,
                "profile": {**self.profile.to_json(), "folded": ""}}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> ProfiledRun:
        if not isinstance(data, Mapping) or not isinstance(data.get("point"), Mapping):
            raise RecordError("a profile line is a JSON object with its point")
        run_id = str(data.get("run_id", ""))
        if not re.fullmatch(r"p\d{4,}", run_id):
            raise RecordError(f"run_id = {checks.shown(run_id)} is not of the form p0001")
        try:
            key = PointKey.from_row(data["point"])
        except ResultsError as e:
            raise RecordError(str(e)) from None
        steady = checks.number(data.get("steady_epoch_s", math.nan), "steady_epoch_s",
                               nan_ok=True, minimum=0.0)  # fmt: skip
        return cls(key, run_id, steady, Profile.from_json(data.get("profile")))
