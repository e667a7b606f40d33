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

import numpy as np
import pandas as pd

from mlpbench.analysis.stats import CONFIDENCE, median_interval  # noqa: F401 (gate.CONFIDENCE)
from mlpbench.config.points import AXES, PointKey

BASELINE, CANDIDATE = "baseline", "candidate"


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
