"""Why a time is what it is: a per-step cost model, and CPU against GPU.

A training step costs a fixed part (Python, framework dispatch, kernel launches, device
syncs) and a part per sample (the GEMMs and element-wise work, or copying the batch to the
device): ``seconds per step = fixed + per_sample x batch``. Fitted by least squares per series
over the batch axis, its two terms name the regime: below ``batch = fixed / per_sample`` the
fixed cost dominates (a GPU then hardly helps), above it the work does. Three batch sizes at
least: two points fit any line exactly and prove nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpbench.analysis.axes import KeyAxes

MIN_BATCHES = 3
SERIES = ("backend", "options", "env", "device", "dtype", "threads", "layers", "variant")
"""What a fit is per: every key axis but the batch size (the fit's own axis)."""


def step_times(runs: pd.DataFrame) -> pd.DataFrame:
    """Per point (and host): the median over its ok runs of the steady epoch's seconds per
    training step (an epoch is ceil(n_train / batch) steps)."""
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame(columns=["series", "batch_size", "step_s"])
    steps = np.ceil(ok["n_train"].astype(float) / ok["batch_size"].astype(float))
    ok = ok.assign(step_s=ok["steady_epoch_s"].astype(float) / steps)
    if "host" not in ok:
        ok = ok.assign(host="")
    keys = [*SERIES, "batch_size", "host"]
    return ok.groupby(keys, sort=True, dropna=False)["step_s"].median().reset_index()


@dataclass(frozen=True)
class Fit:
    fixed_s: float
    per_sample_s: float
    residual: float  # the root mean square of the relative misfit at the measured batches

    @property
    def balance_batch(self) -> float:
        """The batch size where the per-sample part equals the fixed part."""
        if self.per_sample_s <= 0:
            return math.inf
        return self.fixed_s / self.per_sample_s


def fit(batches: Any, step_s: Any) -> Fit | None:
    """Least squares of ``step_s = fixed + per_sample x batch``, weighted so that each point
    counts by its relative error (a batch-100 step of 1 ms weighs as much as a batch-10000
    step of 40 ms); None under :data:`MIN_BATCHES` batch sizes."""
    b = np.asarray(batches, dtype=float)
    t = np.asarray(step_s, dtype=float)
    if len(np.unique(b)) < MIN_BATCHES:
        return None
    w = 1.0 / t
    design = np.stack([np.ones_like(b), b], axis=1) * w[:, None]
    (fixed, per), *_ = np.linalg.lstsq(design, t * w, rcond=None)
    if fixed < 0 or per < 0:  # a term cannot be negative: fit the other alone
        if per < 0:
            fixed, per = float(np.exp(np.mean(np.log(t)))), 0.0
        else:
            fixed, per = 0.0, float(np.sum(w * w * b * t) / np.sum(w * w * b * b))
    model = fixed + per * b
    residual = float(np.sqrt(np.mean(((model - t) / t) ** 2)))
    return Fit(float(fixed), float(per), residual)


def cost_models(runs: pd.DataFrame) -> pd.DataFrame:
    """One fit per series (backend, options, stack) and context (device, dtype, threads,
    network, variant, host) over its batch sizes (``batch_sizes``, the ones it ran); a series
    with fewer than :data:`MIN_BATCHES` has NaN terms."""
    by = [*SERIES, "host"]
    columns = [*by, "batch_sizes", "fixed_s", "per_sample_s", "residual", "balance_batch"]
    rows = []
    for key, g in step_times(runs).groupby(by, sort=True, dropna=False):
        got = fit(g["batch_size"], g["step_s"])
        terms = (
            (got.fixed_s, got.per_sample_s, got.residual, got.balance_batch)
            if got
            else (math.nan,) * 4
        )
        batches = tuple(sorted(int(b) for b in g["batch_size"]))
        rows.append((*key, batches, *terms))
    return pd.DataFrame(rows, columns=columns)


def regime(fixed_s: float, per_sample_s: float, batches: list[int]) -> str:
    """The regime in words over the measured batch range."""
    if per_sample_s <= 0:
        return "fixed-cost bound at every batch measured (the time per step does not grow)"
    balance = fixed_s / per_sample_s
    lo, hi = min(batches), max(batches)
    if balance >= hi:
        return f"dispatch-bound at every batch measured (the fixed part wins below ~{balance:,.0f})"
    if balance <= lo:
        return "work-bound at every batch measured (the per-sample part dominates)"
    return f"dispatch-bound below batch ~{balance:,.0f}, work-bound above"


def device_speedups(summary: pd.DataFrame) -> pd.DataFrame:
    """Per series and context (less device) and batch: the CPU's median time over the GPU's
    (> 1: the GPU is faster), with the widest range the repeats allow (CPU min over GPU max
    to CPU max over GPU min)."""
    cols = ["backend", "options", "env", "dtype", "threads", "layers", "variant", "host",
            "batch_size", "speedup", "low", "high"]  # fmt: skip
    if summary.empty or not {"cpu", "gpu"} <= set(summary["device"]):
        return pd.DataFrame(columns=cols)
    keys = cols[:9]
    cpu = summary[summary["device"] == "cpu"].set_index(keys)
    gpu = summary[summary["device"] == "gpu"].set_index(keys)
    both = cpu.join(gpu, suffixes=("_cpu", "_gpu"), how="inner")
    if both.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(
        {
            "speedup": both["median_s_cpu"] / both["median_s_gpu"],
            "low": both["min_s_cpu"] / both["max_s_gpu"],
            "high": both["max_s_cpu"] / both["min_s_gpu"],
        }
    ).reset_index()
    return out[cols]


def pays_off_from(g: pd.DataFrame) -> int | None:
    """The smallest batch size from which the GPU is faster at every larger batch measured
    (its whole range above 1 where repeats give one, else its median); None: nowhere."""
    g = g.sort_values("batch_size")
    wins = [(r.low > 1) if r.low != r.high else (r.speedup > 1) for r in g.itertuples()]
    first = None
    for batch, win in zip(g["batch_size"], wins):
        if win and first is None:
            first = int(batch)
        elif not win:
            first = None
    return first


def fastest_per_device(summary: pd.DataFrame, axes: KeyAxes) -> pd.DataFrame:
    """Per device and batch (and any other varying context axis): the fastest series and
    its median time."""
    cols = ["device", "batch_size", "series", "median_s"]
    if summary.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in axes.groups(summary, by=("device", "batch_size"), skip=("dtype", "threads")):
        best = g.loc[g["median_s"].idxmin()]
        rows.append(
            {
                "device": key["device"],
                "batch_size": int(key["batch_size"]),
                "series": axes.label(best.to_dict(), skip=("device", "batch_size")),
                "median_s": float(best["median_s"]),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def moved_terms(a_runs: pd.DataFrame, b_runs: pd.DataFrame, threshold: float) -> list[dict]:
    """Which term of the per-step cost moved between two result sets, per series fitted in
    both: each term's A and B values and change, for the series where one moved by more than
    ``threshold`` (relative). Where the fixed part moved, the step's overhead changed (dispatch,
    launches, Python); where the per-sample part did, the arithmetic or the copies did."""
    keys = list(SERIES)
    fa = cost_models(a_runs).dropna(subset=["fixed_s"]).set_index(keys)
    fb = cost_models(b_runs).dropna(subset=["fixed_s"]).set_index(keys)
    out = []
    for key in fa.index.intersection(fb.index):
        ra, rb = fa.loc[key], fb.loc[key]
        ra = ra.iloc[0] if isinstance(ra, pd.DataFrame) else ra  # several hosts: the first
        rb = rb.iloc[0] if isinstance(rb, pd.DataFrame) else rb
        change = {}
        for term in ("fixed_s", "per_sample_s"):
            a, b = float(ra[term]), float(rb[term])
            change[term] = (b / a - 1) if a > 0 else math.nan
        moved = [t for t, c in change.items() if c == c and abs(c) > threshold]
        if moved:
            out.append({**dict(zip(keys, key)), "a": ra, "b": rb, "change": change,
                        "moved": moved})  # fmt: skip
    return out
