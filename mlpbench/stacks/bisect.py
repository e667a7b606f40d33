"""``mlpbench bisect PACKAGE LOW HIGH``: which release of a package changed a point's time
(asv's ``find`` bisects commits the same way; this bisects a framework's releases).

The releases between LOW and HIGH come from the package index. Each is a version stack
(``PACKAGE==V`` plus the given requirements, built lazily into the cache); a measurement of a
release is ``rounds`` fresh-process runs of the point interleaved with runs on LOW's stack (the
control: drift of the machine hits both alike), and its ratio the median of the per-round
ratios. The range is halved until the first release whose time differs from LOW's by more than
the threshold (either way) is found, or HIGH itself does not differ ("no change above the
threshold"). Every measurement is kept in the cache, so a bisect interrupted or run again
resumes where it was.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpbench.data import cache_dir
from mlpbench.errors import UserError
from mlpbench.stacks.build import StackError, StackSpec

Measure = Callable[[str, str], tuple[float, float]]
"""(release, control release) -> one round's (release seconds, control seconds)."""


@dataclass
class Step:
    """One release measured against LOW: its per-round ratios and times."""

    version: str
    ratios: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    control: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else float("nan")

    def differs(self, threshold: float) -> bool:
        return bool(self.ratios) and not (1 / threshold <= self.ratio <= threshold)


@dataclass
class Outcome:
    """What a bisect found: the first release that differs (or None), and the evidence."""

    first: str | None
    low: str
    high: str
    threshold: float
    steps: list[Step]
    skipped: list[Step]

    def lines(self) -> list[str]:
        out = [
            f"{'release':>12}  {'time/LOW':>8}  {'rounds (min-max)':>17}  {'median s':>9}  verdict"
        ]
        for s in sorted(self.steps, key=lambda s: version_key(s.version)):
            if s.version == self.low:
                continue
            lo, hi = (min(s.ratios), max(s.ratios)) if s.ratios else (float("nan"),) * 2
            verdict = "differs" if s.differs(self.threshold) else "same"
            out.append(
                f"{s.version:>12}  {s.ratio:8.3f}  {len(s.ratios):>3} ({lo:.3f}-{hi:.3f})  "
                f"{statistics.median(s.seconds) if s.seconds else float('nan'):9.4f}  {verdict}"
            )
        for s in self.skipped:
            out.append(f"{s.version:>12}  not measured: {s.error}")
        if self.first is None:
            out.append(
                f"no change above the threshold ({self.threshold:g}x) from {self.low} to "
                f"{self.high}"
            )
        else:
            step = next(s for s in self.steps if s.version == self.first)
            way = "slower" if step.ratio > 1 else "faster"
            out.append(
                f"first release that differs from {self.low} by more than {self.threshold:g}x: "
                f"{self.first} ({step.ratio:.2f}x the time, {way})"
            )
        return out


def version_key(version: str) -> Any:
    from packaging.version import Version

    return Version(version)


def releases(package: str, low: str, high: str, python: str = sys.executable) -> list[str]:
    """The final releases of ``package`` from LOW to HIGH (both included) that the index offers
    for ``python``, oldest first (``pip index versions``, which honours pip's index settings)."""
    from packaging.version import InvalidVersion, Version

    try:
        lo, hi = Version(low), Version(high)
    except InvalidVersion as e:
        raise UserError(f"bisect: {e}: LOW and HIGH are release numbers such as 1.26.0") from None
    if lo >= hi:
        raise UserError(f"bisect: LOW = {low} must be an earlier release than HIGH = {high}")
    out = subprocess.run(
        [python, "-m", "pip", "index", "versions", package],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Available versions:\s*(.+)", out.stdout)
    if out.returncode != 0 or not match:
        last = (out.stderr.strip().splitlines() or ["no answer"])[-1]
        raise UserError(f"bisect: the package index lists no releases of {package!r}: {last}")
    found = []
    for text in match.group(1).split(","):
        try:
            v = Version(text.strip())
        except InvalidVersion:
            continue
        if not v.is_prerelease and lo <= v <= hi:
            found.append(v)
    names = [str(v) for v in sorted(found)]
    for wanted in (low, high):
        if str(Version(wanted)) not in names:
            raise UserError(
                f"bisect: {package} {wanted} is not offered by the index for this Python "
                f"(between {low} and {high}: {', '.join(names) or 'none'})"
            )
    return names


def bisect(
    versions: Sequence[str],
    measure_round: Measure,
    threshold: float = 1.1,
    rounds: int = 3,
    store: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Halve ``versions`` (oldest first; the first is LOW) to the first release whose time
    differs from LOW's by more than ``threshold``. ``measure_round(v, low)`` runs one round;
    a release it cannot build (StackError) is left out of the range with its reason."""
    if threshold <= 1:
        raise UserError(f"--threshold = {threshold}: a ratio > 1, e.g. 1.1 for 10%")
    versions = list(versions)
    low = versions[0]
    known = _load(store)
    steps: dict[str, Step] = {}
    skipped: list[Step] = []

    def measured(version: str) -> Step | None:
        if version in steps:
            return steps[version]
        step = known.get(version) or Step(version)
        need = 1 if version == low else rounds  # LOW against itself: that it runs is enough
        while len(step.ratios) < need and not step.error:
            try:
                seconds, control = measure_round(version, low)
            except StackError as e:
                step.error = str(e)
                break
            step.seconds.append(seconds)
            step.control.append(control)
            step.ratios.append(seconds / control)
            known[version] = step
            _save(store, known)
        if step.error:
            say(f"{version}: not measured ({step.error})")
            skipped.append(step)
            return None
        say(f"{version}: {step.ratio:.3f}x the time of {low} ({len(step.ratios)} rounds)")
        steps[version] = step
        return step

    if measured(low) is None:
        raise UserError(f"bisect: the LOW release {low} cannot be measured: {skipped[-1].error}")
    candidates = versions[1:]
    while candidates:  # HIGH, or the newest release that builds
        top = measured(candidates[-1])
        if top is not None:
            break
        candidates.pop()
    if not candidates or not steps[candidates[-1]].differs(threshold):
        return Outcome(None, low, versions[-1], threshold, list(steps.values()), skipped)
    lo, hi = -1, len(candidates) - 1  # candidates[hi] differs; LOW (index -1) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        step = measured(candidates[mid])
        if step is None:
            candidates.pop(mid)
            hi -= 1
            continue
        if step.differs(threshold):
            hi = mid
        else:
            lo = mid
    return Outcome(candidates[hi], low, versions[-1], threshold, list(steps.values()), skipped)


def _load(store: Path | None) -> dict[str, Step]:
    if store is None or not store.exists():
        return {}
    try:
        data = json.loads(store.read_text())
        return {v: Step(**s) for v, s in data.items()}
    except (ValueError, TypeError):
        return {}


def _save(store: Path | None, known: dict[str, Step]) -> None:
    if store is None:
        return
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_suffix(".tmp")
    tmp.write_text(json.dumps({v: vars(s) for v, s in known.items()}, indent=1))
    tmp.replace(store)


def store_for(package: str, point: Any, requirements: Sequence[str], python: str) -> Path:
    """Where a bisect's measurements are kept: one file per package, point and setting."""
    text = json.dumps([package, point, sorted(requirements), python], sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return cache_dir() / "bisect" / f"{package}-{digest}.json"


def stack_of(package: str, version: str, requirements: Sequence[str], python: str) -> StackSpec:
    return StackSpec(f"{package}-{version}", (f"{package}=={version}", *requirements), python)
