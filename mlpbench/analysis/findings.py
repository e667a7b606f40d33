"""Findings as data: the one decision rule, the verdict rows, and the conditions a number was
measured in, as typed values the renderers only lay out.

Why one rule: a page that says "not settled" above a finding that names a winner is worse than
either alone. A comparison is decided when the 95% interval of the median of its per-pair
ratios (the sign-test interval the gate uses, exact for any distribution) lies wholly on one
side of 1. Under ``MIN_PAIRS`` pairs no 95% interval exists: the comparison is undecided and
says how many pairs would decide it, computed from its own ratios.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpbench.analysis.axes import CONTEXT
from mlpbench.analysis.stats import CONFIDENCE, median_interval, order_index

if TYPE_CHECKING:
    import pandas as pd

    from mlpbench.analysis.tables import Analysis

MIN_PAIRS = 6
"""The fewest pairs whose sign-test interval of the median can cover 95%."""
MAX_PAIRS = 60
"""Past this many pairs a comparison whose ratios fall on both sides of 1 is called a tie in
all but name: the advice says so instead of naming a number of repeats."""


@dataclass(frozen=True)
class Decision:
    """One comparison's per-pair ratios (other's time over the reference's), judged."""

    ratio: float  # the median of the per-pair ratios (the medians' ratio under 2 pairs)
    low: float  # the 95% interval of that median (NaN: too few pairs for one)
    high: float
    range_low: float  # the lowest and highest per-pair ratio
    range_high: float
    pairs: int
    needed: int | None  # pairs that would decide it at this spread; None: decided or hopeless

    @property
    def decided(self) -> bool:
        return not math.isnan(self.low) and (self.low > 1 or self.high < 1)

    @property
    def reference_wins(self) -> bool:
        return self.decided and self.low > 1

    @property
    def other_wins(self) -> bool:
        return self.decided and self.high < 1

    def interval(self) -> str:
        """``95% interval 1.12-1.19``, or why there is none."""
        if self.pairs < 2:
            return "1 repeat, no range: a direction, not a verdict"
        if math.isnan(self.low):
            return f"{self.pairs} pair(s): too few for a 95% interval (it needs {MIN_PAIRS})"
        return f"95% interval {self.low:.2f}-{self.high:.2f}"

    def advice(self) -> str:
        """What would decide it, computed from its own ratios ("" when decided)."""
        if self.decided:
            return ""
        if self.needed is None:
            return (
                f"its ratios fall on both sides of 1 so evenly that even {MAX_PAIRS} pairs "
                "would not decide it: call it a tie"
            )
        more = self.needed - self.pairs
        return f"about {more} more repeat(s) ({self.needed} pairs) would decide it"


def pairs_needed(ratios: Sequence[float]) -> int | None:
    """For an undecided comparison: the fewest pairs, more than it has, whose 95% sign-test
    interval would exclude 1 if the ratios kept falling on each side of 1 in today's
    proportion; None past ``MAX_PAIRS`` (a tie)."""
    x = np.asarray([r for r in ratios if r == r], dtype=float)
    n = len(x)
    if n == 0:
        return MIN_PAIRS
    above, below = int((x > 1).sum()), int((x < 1).sum())
    minority = (min(above, below) + 0.5 * (n - above - below)) / n
    for m in range(max(MIN_PAIRS, n + 1), MAX_PAIRS + 1):
        k = order_index(m)
        if k and math.ceil(minority * m - 1e-9) < k:
            return m
    return None


def decide(ratios: Sequence[float], unpaired: tuple[float, float, float] | None = None) -> Decision:
    """The per-pair ratios judged at 95%. ``unpaired`` (ratio, low, high): the medians' ratio
    and its widest bound, for a comparison with fewer than 2 pairs (never decided)."""
    x = [float(r) for r in ratios if r == r]
    if len(x) < 2:
        ratio, lo, hi = unpaired if unpaired else (x[0] if x else math.nan,) * 3
        return Decision(ratio, math.nan, math.nan, lo, hi, len(x), MIN_PAIRS)
    lo, hi = median_interval(x, CONFIDENCE)
    decision = Decision(float(np.median(x)), lo, hi, min(x), max(x), len(x), None)
    if decision.decided:
        return decision
    return Decision(
        decision.ratio, lo, hi, decision.range_low, decision.range_high, len(x), pairs_needed(x)
    )


@dataclass(frozen=True)
class Verdict:
    """The reference against one other series at one batch size, decided or not."""

    other: str  # the other backend
    label: str  # the other series as every renderer names it
    device: str
    batch: int
    dtype: str
    threads: int
    decision: Decision
    reference: str
    caveats: tuple[str, ...] = ()  # the warnings that touch this point, in a few words

    @property
    def words(self) -> str:
        """The verdict in a few words."""
        d = self.decision
        if d.pairs < 2:
            return "1 repeat: direction only"
        if d.reference_wins:
            return f"{self.reference} faster"
        if d.other_wins:
            return f"{self.other} faster"
        if math.isnan(d.low):
            return f"not decided ({d.pairs} pairs; a 95% interval needs {MIN_PAIRS})"
        return "not settled (the 95% interval spans 1)"

    @property
    def magnitude(self) -> str:
        """The ratio as a page may print it: never without its interval where the repeats
        spread wide or nothing is decided."""
        d = self.decision
        if d.decided:
            return f"{d.ratio:.2f}x ({d.low:.2f}-{d.high:.2f})"
        return f"{d.ratio:.2f}x by the median, undecided"


def judged(a: Analysis) -> pd.DataFrame:
    """``a.ratios`` with each row's :class:`Decision` (column ``decision``), and its 95%
    interval and whether it is decided as columns: what every renderer reads a verdict from."""
    r = a.ratios.copy()
    r["decision"] = [
        decide(p if len(p) >= 2 else [], (x, lo, hi))
        for p, x, lo, hi in zip(r["paired"], r["ratio"], r["ratio_low"], r["ratio_high"])
    ] if len(r) else []  # fmt: skip
    r["ci_low"] = [d.low for d in r["decision"]]
    r["ci_high"] = [d.high for d in r["decision"]]
    r["decided"] = [d.decided for d in r["decision"]]
    return r


def verdict_rows(a: Analysis) -> list[Verdict]:
    """Per other backend and batch size (float32 where measured, most threads, baseline
    variant): the decision on its per-pair ratios."""
    r = judged(a)
    if r.empty:
        return []
    r = r[r["variant"].astype(str) == a.baseline] if "variant" in r else r
    dtype = "float32" if (r["dtype"] == "float32").any() else r["dtype"].iloc[0]
    r = r[(r["dtype"] == dtype) & (r["threads"] == r["threads"].max())]
    touched = point_caveats(a)
    out = []
    for row in r.sort_values(["device", "backend", "batch_size"]).itertuples():
        values = row._asdict()  # every context axis: no two verdicts alike
        point = {**{x: values[x] for x in CONTEXT if x in values}, "backend": row.backend,
                 "dtype": dtype}  # fmt: skip
        label = a.axes.label(point, skip=("batch_size",), always=("dtype", "threads"))
        caveats = tuple(
            dict.fromkeys(
                c for b in (a.reference, row.backend) for c in touched.get(caveat_key(point, b), [])
            )
        )
        out.append(
            Verdict(
                other=str(row.backend),
                label=label,
                device=str(row.device),
                batch=int(row.batch_size),
                dtype=dtype,
                threads=int(row.threads),
                decision=row.decision,
                reference=a.reference,
                caveats=caveats,
            )
        )
    return out


POINT_AXES = tuple(a for a in CONTEXT if a != "variant")
"""What tells a backend's points apart in a verdict (the baseline variant's)."""


def caveat_key(row: Mapping[str, Any], backend: str) -> tuple[str, ...]:
    """``backend``'s point at ``row``'s values of every other axis, as text."""
    def text(value: Any) -> str:
        whole = isinstance(value, float) and value.is_integer()  # 500.0 in a pivoted frame
        return str(int(value) if whole else value)

    return (str(backend), *(text(row.get(axis, "")) for axis in POINT_AXES))


def point_caveats(a: Analysis) -> dict[tuple[str, ...], list[str]]:
    """(backend, every other axis) -> what makes its number doubtful, in a few words
    (unstable repeats, runs on a loaded machine, drift of its GEMM peak)."""
    from mlpbench.analysis.tables import NOISY_LOAD_PCT, NOISY_STEAL_PCT, drift

    out: dict[tuple[str, ...], list[str]] = {}

    def key(r: Mapping[str, Any]) -> tuple[str, ...]:
        return caveat_key(r, str(r["backend"]))

    s = a.summary
    for r in s.to_dict("records") if not s.empty else []:
        if r["unstable"]:  # spread beyond stats.UNSTABLE_SPREAD
            out.setdefault(key(r), []).append(
                f"{r['backend']} unstable ({100 * r['spread']:.0f}% spread)"
            )
    ok = a.results.ok
    if "other_load_pct" in ok and len(ok):
        noisy = ok[(ok["other_load_pct"] > NOISY_LOAD_PCT) | (ok["steal_pct"] > NOISY_STEAL_PCT)]
        for r in noisy.to_dict("records"):
            words = out.setdefault(key(r), [])
            if f"{r['backend']} ran under load" not in words:
                words.append(f"{r['backend']} ran under load")
    drifted = {(d["key"][0], d["key"][1], d["key"][2]) for d in drift(a.results.env)}
    for r in s.to_dict("records") if not s.empty else []:
        if (str(r["device"]), str(r["dtype"]), int(r["threads"])) in drifted:
            words = out.setdefault(key(r), [])
            if "GEMM peak drifted" not in words:
                words.append("GEMM peak drifted")
    return out


def gpu_answer(a: Analysis) -> str:
    """One sentence answering "should I train this on the GPU?" per series, where the sweep
    ran both devices ("" where it did not): from which batch the GPU pays off, and how much
    faster it is at its best; or that it does not pay off in this sweep."""
    from mlpbench.analysis import costs

    table = a.gpu_speedups
    if table.empty:
        return ""
    yes, no = [], []
    skip = ("batch_size", "device")
    for key, g in a.axes.groups(table, by=("backend", "options", "env"), skip=skip):
        label = a.axes.label(key, skip=(*skip, "threads"))
        best = g.loc[g["speedup"].idxmax()]
        first = costs.pays_off_from(g)
        if first:
            yes.append(
                f"{label} from batch {first} ({best['speedup']:.1f}x faster at batch "
                f"{int(best['batch_size'])})"
            )
        else:
            no.append(
                f"{label} (at best {best['speedup']:.2f}x, at batch {int(best['batch_size'])})"
            )
    parts = []
    if yes:
        parts.append("train on the GPU with " + "; ".join(yes))
    if no:
        parts.append("the GPU does not pay off in this sweep for " + "; ".join(no))
    text = "; and ".join(parts)
    return f"Should you train on the GPU? {text[:1].upper()}{text[1:]}."
