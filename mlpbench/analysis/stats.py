"""Statistics over repeats: thin wrappers over ``scipy.stats`` (medians, bootstrap intervals,
Mann-Whitney U) and the per-point tables built from them.

The tests (tests/test_stats.py) check each wrapper on known values, ties and tiny samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from mlpbench.config.points import AXES, NO_OPTIONS

POINT = list(AXES)  # a point, pooled over its repeats
SUMMARY_COLUMNS = [
    *POINT,
    "host",
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
    "spread",
    "unstable",
]
UNSTABLE_SPREAD = 0.10  # (max - min) / median above which a point is flagged
MIN_CI = 5
"""Values below which no bootstrap interval is given: a percentile interval lies inside
[min, max], and [min, max] of 3 values holds the median only 75% of the time (5: 94%)."""


CONFIDENCE = 0.95


def order_index(n: int, confidence: float = CONFIDENCE) -> int:
    """The k whose order statistics (k, n+1-k) of n values hold their median with at least
    ``confidence`` (binomial(n, 1/2)), the narrowest such; 0 when none does (under 6 values
    at 95%)."""
    from scipy.stats import binom

    best = 0
    for k in range(1, n // 2 + 1):
        if 1 - 2 * binom.cdf(k - 1, n, 0.5) >= confidence:
            best = k
    return best


def median_interval(values: Any, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The distribution-free (sign-test) interval of the median: the order statistics
    (k, n+1-k) of :func:`order_index` (NaN, NaN under 6 values: five values cannot cover
    95%). The gate and every verdict decide with it."""
    x = np.sort(np.asarray(values, dtype=float))
    k = order_index(len(x), confidence)
    if not k:
        return math.nan, math.nan
    return float(x[k - 1]), float(x[len(x) - k])


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, n: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (``scipy.stats.bootstrap``).

    All-equal values give the degenerate interval (v, v); fewer than ``MIN_CI`` values give
    NaNs (no interval: more repeats needed).
    """
    x = np.asarray(values, dtype=float)
    if len(x) < MIN_CI:
        return math.nan, math.nan
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    res = sps.bootstrap(
        (x,),
        np.median,
        confidence_level=level,
        n_resamples=n,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test: (U of ``a``, p-value).

    ``scipy.stats.mannwhitneyu`` with ``method="auto"``: the exact distribution for small
    samples without ties, the normal approximation with tie and continuity correction
    otherwise. Empty samples give NaNs; identical samples p = 1.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan
    if np.ptp(np.concatenate([a, b])) == 0:
        return len(a) * len(b) / 2, 1.0
    res = sps.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    return float(res.statistic), float(res.pvalue)


def min_p_value(n1: int, n2: int) -> float:
    """The smallest two-sided p the exact Mann-Whitney test can reach with these sample sizes:
    2 / C(n1 + n2, n1) (3 vs 5 repeats: 0.036; 3 vs 3: 0.1)."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down; NaN stays NaN). Reject where <= alpha:
    the chance of any false verdict over all points stays below alpha, whatever their
    dependence."""
    p = np.asarray(pvalues, dtype=float)
    finite = np.flatnonzero(~np.isnan(p))
    m = len(finite)
    out = np.full(len(p), np.nan)
    running = 0.0
    for rank, i in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def ratio_ci(
    a: Sequence[float], b: Sequence[float], level: float = 0.95, n: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(b) / median(a), the samples resampled apart;
    NaNs when either side has fewer than ``MIN_CI`` values (3 vs 3 gave 1.18-1.32 on an A/A
    pair of the same code)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < MIN_CI or len(b) < MIN_CI:
        return math.nan, math.nan
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        r = float(np.median(b) / np.median(a))
        return r, r

    def statistic(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    res = sps.bootstrap(
        (a, b),
        statistic,
        confidence_level=level,
        n_resamples=n,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(runs: Any) -> Any:
    """Per point: n, median/min/max steady epoch time (+ bootstrap CI when n >= 5) and more."""
    import pandas as pd

    ok = runs[runs["status"] == "ok"]
    if "host" not in ok:
        ok = ok.assign(host="")
    by = [*POINT, "host"]  # a point measured on several hosts is a row per host
    rows = []
    for key, g in ok.groupby(by, dropna=False, sort=True):
        t = g["steady_epoch_s"].astype(float).to_numpy()
        row = dict(zip(by, key))
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
            spread=float(np.ptp(t) / np.median(t)),
        )
        if len(t) >= MIN_CI:
            row["ci_low"], row["ci_high"] = bootstrap_ci(t)
        row["unstable"] = bool(row["spread"] > UNSTABLE_SPREAD)
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def host_ratios(summary: Any) -> Any:
    """Per point measured on several hosts: each host's median time over the first host's
    (> 1: that host is slower)."""
    import pandas as pd

    cols = [*POINT, "host", "base_host", "ratio"]
    if summary.empty or summary["host"].nunique() < 2:
        return pd.DataFrame(columns=cols)
    hosts = list(dict.fromkeys(summary["host"]))
    rows = []
    for key, g in summary.groupby(POINT, sort=True):
        by_host = dict(zip(g["host"], g["median_s"]))
        base = next((h for h in hosts if h in by_host), None)
        for h in hosts:
            if h != base and h in by_host:
                rows.append((*key, h, base, by_host[h] / by_host[base]))
    return pd.DataFrame(rows, columns=cols)


def speed_ratios(summary: Any, numerator: str, denominator: str, runs: Any = None) -> Any:
    """Per (batch, dtype, device, threads, variant, host): time of ``numerator`` over that of
    ``denominator``, i.e. how many times faster ``denominator`` is (> 1: it wins).

    With ``runs`` (the same backend names as ``summary``) and two repeats or more: the median,
    lowest and highest of the per-repeat ratios (one repeat's pair of runs each). A sweep
    interleaves the backends within each repeat, so a pair ran minutes apart at most and the
    machine's drift cancels in its ratio; the range of unpaired times (fastest over slowest)
    counts that drift twice and, on a noisy VM, spans 1 where every pair agrees. Without runs,
    or with fewer than two pairs, the ratio is that of the medians and the range the unpaired
    bound (min over max, max over min), as wide as it can be.

    Rows pair within one host (a cluster sweep's summary has a row per point and host); a point
    whose two backends ran on different hosts only gets no ratio here (see ``host_ratios``).

    A variant measured for ``numerator`` only (e.g. a Keras setting) is compared with
    ``denominator``'s first variant at the same point, so every numerator row gets a ratio.
    """
    import pandas as pd

    keys = [k for k in POINT if k not in ("backend", "variant", "options")]
    if "host" in summary:  # within one host only: a ratio across machines measures the machines
        keys.append("host")
    a = summary[summary["backend"] == numerator]
    b = summary[summary["backend"] == denominator]
    cols = [*keys, "variant", "ratio", "ratio_low", "ratio_high", "pairs", "paired"]
    if a.empty or b.empty:
        return pd.DataFrame(columns=cols)
    times = _times_by_repeat(runs, keys, (numerator, denominator))
    b_variants = list(dict.fromkeys(b["variant"]))
    # the reference's own options: its default series where it ran several (fused on and off,
    # say), never several rows of it averaged or mixed
    b_options = sorted(dict.fromkeys(b["options"]), key=lambda o: o != NO_OPTIONS)
    b = b.set_index([*keys, "variant", "options"]).sort_index()
    rows = []
    for r in a.itertuples(index=False):
        point = tuple(getattr(r, k) for k in keys)
        variant = r.variant if r.variant in b_variants else b_variants[0]
        found = [o for o in b_options if (*point, variant, o) in b.index]
        if not found:
            continue
        d = b.loc[(*point, variant, found[0])].to_dict() | {"options": found[0]}
        mine = times.get((numerator, r.options, r.variant, *point), {})
        theirs = times.get((denominator, d["options"], variant, *point), {})
        paired = [mine[k] / theirs[k] for k in sorted(set(mine) & set(theirs))]
        if len(paired) >= 2:
            ratio, low, high = float(np.median(paired)), min(paired), max(paired)
        else:
            ratio, low, high = (
                r.median_s / d["median_s"],
                r.min_s / d["max_s"],
                r.max_s / d["min_s"],
            )
        rows.append((*point, r.variant, ratio, low, high, len(paired), tuple(paired)))
    return pd.DataFrame(rows, columns=cols)


def _times_by_repeat(
    runs: Any, keys: list[str], backends: tuple[str, ...]
) -> dict[tuple, dict[Any, float]]:
    """(backend, options, variant, *keys) -> {repeat: steady epoch seconds}, the ok runs
    of ``backends`` only."""
    if runs is None or runs.empty or "repeat" not in runs:
        return {}
    ok = runs[(runs["status"] == "ok") & runs["backend"].isin(backends)]
    if "host" not in ok:
        ok = ok.assign(host="")
    out: dict[tuple, dict[Any, float]] = {}
    cols = ["backend", "options", "variant", *keys]
    for key, g in ok.groupby(cols, dropna=False, sort=False):
        out[tuple(key)] = dict(zip(g["repeat"], g["steady_epoch_s"].astype(float)))
    return out
