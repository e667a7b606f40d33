"""Compare two result sets point by point (asv-style), for humans and for CI.

A point counts as slower when B's median steady epoch time exceeds A's by more than the
threshold and a two-sided Mann-Whitney U test over the repeats rejects "same speed" at alpha.
With fewer than 4 repeats on a side no test can reach alpha = 0.05; such a point is flagged on
the threshold alone and marked so. Computation only: ``bench.text.compare_lines`` renders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.analysis import ResultSet
from bench.errors import UserError
from bench.points import PointKey
from bench.stats import POINT, mann_whitney_u

MIN_TESTABLE = 4


@dataclass
class Row:
    key: PointKey
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    ratio: float  # B / A: > 1 means B is slower
    p: float
    verdict: str  # slower | faster | same | slower (untested: n < 4)


def compare(
    a: str | Path, b: str | Path, threshold: float = 0.10, alpha: float = 0.05
) -> list[Row]:
    """One row per point that both result sets ran successfully; a UserError when none did
    (a comparison of nothing must never pass in CI)."""
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise UserError(f"--threshold = {threshold}: must be a finite number > 0 (0.10 = 10%)")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise UserError(f"--alpha = {alpha}: must be a number between 0 and 1")
    ok_a = ResultSet.load(a).ok.groupby(POINT)["steady_epoch_s"]
    b_groups = dict(list(ResultSet.load(b).ok.groupby(POINT)["steady_epoch_s"]))
    rows = []
    for values, times_a in ok_a:
        if values not in b_groups:
            continue
        ta, tb = times_a.to_numpy(float), b_groups[values].to_numpy(float)
        ma, mb = float(np.median(ta)), float(np.median(tb))
        _, p = mann_whitney_u(ta, tb)
        ratio = mb / ma
        testable = min(len(ta), len(tb)) >= MIN_TESTABLE
        if ratio > 1 + threshold and (p <= alpha or not testable):
            verdict = "slower" if testable else "slower (untested: n < 4)"
        elif ratio < 1 / (1 + threshold) and (p <= alpha or not testable):
            verdict = "faster"
        else:
            verdict = "same"
        key = PointKey.from_row(dict(zip(POINT, values)))
        rows.append(Row(key, len(ta), len(tb), ma, mb, ratio, p, verdict))
    if not rows:
        raise UserError(
            f"no point could be compared: {a} and {b} have no successful point in common "
            "(different grids, or no run succeeded)"
        )
    return rows
