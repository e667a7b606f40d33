"""The interleaved gate: two sides of one sweep (baseline and candidate, each a version stack or
the running environment) measured in rounds within one session, each point's two runs back to
back in alternating order (ABBA), and judged on the per-round ratio.

Why per round: a shared runner drifts between two sweeps run one after the other
(benchmarks/gate_aa.py measures how far), and the ratio of a point's two runs, seconds apart,
cancels that slow drift. What it cannot cancel is the noise from one process to the next
(benchmarks/gate_check.py measures it: on a 2-vCPU VM single runs of the same code came out up
to 1.3x apart), which only more rounds average out. Why a sign-test interval: the rounds' ratios are
few (5-20) and their spread is not normal (a noisy neighbour makes a few rounds slow on one
side); the interval of the median from the binomial order statistics assumes only that the
rounds are independent, and is exact for any distribution, where a bootstrap of 8 values is
not. The gate fails a point only when the whole interval lies beyond the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mlpbench.config.points import AXES, PointKey

BASELINE, CANDIDATE = "baseline", "candidate"
CONFIDENCE = 0.95


def median_interval(values: Any, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The distribution-free interval of the median: the order statistics (k, n+1-k) whose
    binomial(n, 1/2) coverage is at least ``confidence`` (NaN, NaN under 6 values: five
    values cannot cover 95%)."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    best = None
    for k in range(1, n // 2 + 1):  # the narrowest interval that still covers enough
        coverage = 1 - 2 * binom.cdf(k - 1, n, 0.5)
        if coverage >= confidence:
            best = k
    if best is None:
        return math.nan, math.nan
    return float(x[best - 1]), float(x[n - best])


@dataclass
class GateRow:
    """One point of the gate: candidate time over baseline time per round."""

    key: PointKey  # env is the baseline's
    rounds: int
    ratio: float  # the median of the per-round ratios
    low: float
    high: float
    verdict: str  # slower | faster | same | undecided

    @property
    def fails(self) -> bool:
        return self.verdict == "slower"


def same_point(key: PointKey, gated: PointKey) -> bool:
    """Whether ``key`` is ``gated`` (a gate row's key, env = baseline) on either side."""
    return key.env in (BASELINE, CANDIDATE) and replace(key, env=BASELINE) == gated


def matches(runs: pd.DataFrame, gated: PointKey) -> pd.Series:
    """The rows of ``runs`` that are ``gated``'s point, on any side."""
    mask = pd.Series(True, index=runs.index)
    for axis in AXES:
        if axis != "env":
            mask &= runs[axis] == getattr(gated, axis)
    return mask


def paired(runs: pd.DataFrame) -> dict[PointKey, list[float]]:
    """Per point (its key with the baseline's env), candidate time over baseline time of each
    round both sides ran in."""
    ok = runs[(runs["status"] == "ok") & runs["env"].isin([BASELINE, CANDIDATE])]
    out: dict[PointKey, list[float]] = {}
    axes = [a for a in AXES if a != "env"]  # the point, less the side it ran on
    for values, g in ok.groupby(axes, sort=True):
        by_round = g.pivot_table(index="repeat", columns="env", values="steady_epoch_s")
        if not {BASELINE, CANDIDATE} <= set(by_round.columns):
            continue
        both = by_round.dropna()
        key = PointKey(**dict(zip(axes, values)), env=BASELINE)
        out[key] = list(both[CANDIDATE] / both[BASELINE])
    return out


def judge(runs: pd.DataFrame, threshold: float) -> list[GateRow]:
    """Each point's verdict: slower (the whole interval above 1 + threshold: fails), faster
    (wholly below 1 / (1 + threshold)), same (wholly within), undecided (it reaches across a
    bound: more rounds would narrow it)."""
    rows = []
    up, down = 1 + threshold, 1 / (1 + threshold)
    for key, ratios in paired(runs).items():
        lo, hi = median_interval(ratios)
        median = float(np.median(ratios)) if ratios else math.nan
        if math.isnan(lo):
            verdict = "undecided"
        elif lo > up:
            verdict = "slower"
        elif hi < down:
            verdict = "faster"
        elif lo >= down and hi <= up:
            verdict = "same"
        else:
            verdict = "undecided"
        rows.append(GateRow(key, len(ratios), median, lo, hi, verdict))
    return rows


def exit_code(rows: list[GateRow], strict: bool = False) -> int:
    """1: a point decided slower (``strict``: or undecided); 0 otherwise."""
    if any(r.fails for r in rows):
        return 1
    if strict and any(r.verdict == "undecided" for r in rows):
        return 1
    return 0
