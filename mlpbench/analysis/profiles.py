"""The profiled runs one row per run (``wide``; ``Analysis.profiles`` is a row per run and
category), and the measured why: which category of CPU time makes the difference between the
reference and each other series (``why_measured``).

A profile's numbers are per training step over its steady epochs: CPU milliseconds by
category (every thread together), the step's wall milliseconds, how many cores it kept busy,
the samples' share of the process's own CPU time (coverage) and the profiled run's steady
epoch over the timed runs' median (the profiler's overhead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlpbench.results.profile import CATEGORIES

if TYPE_CHECKING:
    from mlpbench.analysis.tables import Analysis

MIN_BATCHES = 3  # a line through fewer batch sizes is no fit


def wide(a: Analysis) -> pd.DataFrame:
    """One row per profiled run, a column of ms per step for each category."""
    t = a.profiles
    if t.empty:
        return t
    keep = [c for c in t.columns if c not in ("category", "ms_per_step")]
    runs = t.drop_duplicates("run_id")[keep].set_index("run_id")
    cats = t[t["category"] != ""].pivot_table(
        index="run_id", columns="category", values="ms_per_step", aggfunc="first"
    )
    cats = cats[[c for c in CATEGORIES if c in cats]]
    return runs.join(cats).reset_index()


def why_measured(a: Analysis) -> str:
    """One sentence: at the batch size profiled for the reference (500 where it was), the
    category in which each other series spends the most CPU time per step beyond the
    reference's, and the next one ("" without two profiled series at one point)."""
    w = wide(a)
    if w.empty:
        return ""
    w = w[w["skipped"] == ""]
    ref = w[w["backend"] == a.reference]
    if ref.empty or len(w) == len(ref):
        return ""
    batches = sorted(set(ref["batch_size"]) & set(w[w["backend"] != a.reference]["batch_size"]))
    if not batches:
        return ""
    batch = 500 if 500 in batches else batches[0]
    mine = ref[ref["batch_size"] == batch].iloc[0]
    cats = [c for c in CATEGORIES if c in w]
    parts = []
    for r in w[(w["batch_size"] == batch) & (w["backend"] != a.reference)].to_dict("records"):
        diff = sorted(((r[c] - mine[c], c) for c in cats), reverse=True)
        more = [(d, c) for d, c in diff if d > 0][:2]
        less = [(d, c) for d, c in diff if d < 0][-1:]
        if more:
            said = " and ".join(f"{d:.2f} ms in {c}" for d, c in more)
            text = f"{r['series']} spends {said} a step more than {a.reference}"
        else:
            text = f"{r['series']} spends no category's time beyond {a.reference}'s"
        if less:
            text += f" ({-less[0][0]:.2f} ms less in {less[0][1]})"
        parts.append(text)
    return (
        f"Why, measured (CPU time per training step by category, all threads, batch {batch}, "
        f"profiled with {mine['tool'].split(' version')[0]}): " + "; ".join(parts) + "."
    )


def category_costs(a: Analysis) -> pd.DataFrame:
    """Per profiled series (every other axis apart) with 3 or more batch sizes profiled: each
    category's CPU time per step as a fixed part plus a part per sample (least squares over
    the batch sizes), the cost model's terms split by category."""
    w = wide(a)
    if w.empty:
        return pd.DataFrame(columns=["series", "category", "fixed_ms", "per_sample_us", "batches"])
    w = w[w["skipped"] == ""]
    apart = [c for c in ("series", "device", "dtype", "threads", "layers", "variant") if c in w]
    rows = []
    for values, g in w.groupby(apart, sort=True):
        g = g.groupby("batch_size").median(numeric_only=True)  # one per batch size
        if len(g) < MIN_BATCHES:
            continue
        batches = g.index.to_numpy(dtype=float)
        for category in [c for c in CATEGORIES if c in g]:
            slope, fixed = np.polyfit(batches, g[category].fillna(0).to_numpy(float), 1)
            rows.append({**dict(zip(apart, values if isinstance(values, tuple) else (values,))),
                         "category": category, "fixed_ms": fixed, "per_sample_us": 1e3 * slope,
                         "batches": ", ".join(str(int(b)) for b in batches)})  # fmt: skip
    return pd.DataFrame(rows)
