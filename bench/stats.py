"""Statistics over repeats: medians and spread, bootstrap intervals, ratios, significance.

Only NumPy and pandas: the harness stays framework-free and SciPy-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.points import AXES

POINT = list(AXES)  # a point, pooled over its repeats
SUMMARY_COLUMNS = [
    *POINT,
    "n",
    "median_s",
    "min_s",
    "max_s",
    "ci_low",
    "ci_high",
    "samples_per_s",
    "gflops",
    "efficiency",
    "first_epoch_s",
    "import_s",
    "test_accuracy",
]


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, n: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(x, size=(n, len(x)), replace=True), axis=1)
    lo, hi = np.quantile(medians, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test: (U of a, p-value).

    Exact distribution for small samples without ties (the usual case for a few repeats), the
    normal approximation with tie correction otherwise.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    both = np.concatenate([a, b])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    values, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    if (counts > 1).any():  # average ranks over ties
        for i in np.flatnonzero(counts > 1):
            ranks[inverse == i] = ranks[inverse == i].mean()
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    if n1 + n2 <= 20 and not (counts > 1).any():
        dist = _exact_u_distribution(n1, n2)
        k = min(u1, n1 * n2 - u1)
        p = 2 * dist[: int(math.floor(k)) + 1].sum() / dist.sum()
        return float(u1), float(min(1.0, p))
    mu = n1 * n2 / 2
    tie = (counts**3 - counts).sum() / ((n1 + n2) * (n1 + n2 - 1))
    sigma = math.sqrt(n1 * n2 / 12 * ((n1 + n2 + 1) - tie))
    if sigma == 0:
        return float(u1), 1.0
    z = (abs(u1 - mu) - 0.5) / sigma
    return float(u1), float(min(1.0, math.erfc(z / math.sqrt(2))))


def _exact_u_distribution(n1: int, n2: int) -> np.ndarray:
    """Counts of each U value over all arrangements (dynamic programming)."""
    # f[i][j] = polynomial of U for i items of a and j items of b
    table: dict[tuple[int, int], np.ndarray] = {}

    def f(i: int, j: int) -> np.ndarray:
        if i == 0 or j == 0:
            return np.ones(1)
        if (i, j) not in table:
            x, y = f(i - 1, j), f(i, j - 1)  # largest item from a adds j to U, from b adds 0
            out = np.zeros(i * j + 1)
            out[j : j + len(x)] += x
            out[: len(y)] += y
            table[(i, j)] = out
        return table[(i, j)]

    return f(n1, n2)


def summarize(runs: Any) -> Any:
    """Per point: n, median/min/max steady epoch time (+ bootstrap CI when n >= 5) and more."""
    import pandas as pd

    ok = runs[runs["status"] == "ok"]
    rows = []
    for key, g in ok.groupby(POINT, dropna=False, sort=True):
        t = g["steady_epoch_s"].astype(float).to_numpy()
        row = dict(zip(POINT, key))
        row.update(
            n=len(t),
            median_s=float(np.median(t)),
            min_s=float(t.min()),
            max_s=float(t.max()),
            ci_low=math.nan,
            ci_high=math.nan,
            samples_per_s=float(np.median(g["samples_per_s"])),
            gflops=float(np.median(g["gflops"])),
            efficiency=float(np.median(g["efficiency"].astype(float))),
            first_epoch_s=float(np.median(g["first_epoch_s"])),
            import_s=float(np.median(g["import_s"])),
            test_accuracy=float(np.median(g["test_accuracy"])),
        )
        if len(t) >= 5:
            row["ci_low"], row["ci_high"] = bootstrap_ci(t)
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def speed_ratios(summary: Any, numerator: str = "keras", denominator: str = "numpy") -> Any:
    """Per (batch, dtype, device, threads, variant): median time of ``numerator`` over that of
    ``denominator``, i.e. how many times faster ``denominator`` is (> 1: it wins).

    A variant measured for ``numerator`` only (e.g. a Keras setting) is compared with
    ``denominator``'s first variant at the same point, so every numerator row gets a ratio.
    """
    import pandas as pd

    keys = [k for k in POINT if k not in ("backend", "variant")]
    a = summary[summary["backend"] == numerator]
    b = summary[summary["backend"] == denominator]
    cols = [*keys, "variant", "ratio", "ratio_low", "ratio_high"]
    if a.empty or b.empty:
        return pd.DataFrame(columns=cols)
    b_variants = list(dict.fromkeys(b["variant"]))
    b = b.set_index([*keys, "variant"])
    rows = []
    for r in a.itertuples(index=False):
        point = tuple(getattr(r, k) for k in keys)
        variant = r.variant if r.variant in b_variants else b_variants[0]
        if (*point, variant) not in b.index:
            continue
        d = b.loc[(*point, variant)]
        rows.append(
            (
                *point,
                r.variant,
                r.median_s / d["median_s"],
                r.min_s / d["max_s"],
                r.max_s / d["min_s"],
            )
        )
    return pd.DataFrame(rows, columns=cols)
