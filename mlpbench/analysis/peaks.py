"""GEMM peaks (``Peak`` records): efficiency against the best the session measured.

Why: a calibration that ran while the machine was busy reads low, and an efficiency against
it reads above 100%, which is no measurement. Every share of the peak is against the highest
peak measured for its (device, dtype, threads, stack) in the session, calibration and
recalibrations alike; a run that still beats it is flagged, not printed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mlpbench.results.environment import Environment, Peak


def measured_peaks(env: Environment) -> list[Peak]:
    """Every peak the session measured: the calibration's, then each recalibration's."""
    return [*env.peaks, *(p for again in env.recalibrations for p in again.peaks)]


def best_peaks(env: Environment) -> dict[tuple[str, str, int, str], float]:
    """(device, dtype, threads, stack) -> the highest GEMM peak the session measured for it
    (calibration and every recalibration): a peak measured while the machine was busy reads
    low, and an efficiency against it reads above 100%."""
    best: dict[tuple[str, str, int, str], float] = {}
    for p in measured_peaks(env):
        if p.measured:
            k = p.key[:4]  # any matrix size: the best the machine has shown
            best[k] = max(best.get(k, 0.0), p.gflops)
    return best


def against_best_peaks(runs: pd.DataFrame, env: Environment) -> pd.DataFrame:
    """``runs`` with ``peak_gflops`` the best peak of the session and ``efficiency`` against
    it; an efficiency still above 100% is no measurement (NaN) and flagged ``peak_low``."""
    if runs.empty or "gflops" not in runs:
        return runs.assign(peak_low=False)
    best = best_peaks(env)
    out = runs.copy()
    keys = zip(out["device"].astype(str), out["dtype"].astype(str), out["threads"].astype(int),
               out["env"].astype(str))  # fmt: skip
    found = [best.get(k, math.nan) for k in keys]
    peak = np.fmax(out["peak_gflops"].astype(float).to_numpy(), np.asarray(found, dtype=float))
    eff = out["gflops"].astype(float).to_numpy() / peak
    low = eff > 1.0
    out["peak_gflops"] = peak
    out["efficiency"] = np.where(low, math.nan, eff)
    out["peak_low"] = low
    return out


def peak_warning(runs: pd.DataFrame) -> str:
    """The sentence for runs that measured more than any peak of their kind ("" if none)."""
    if "peak_low" not in runs or not runs["peak_low"].any():
        return ""
    low = runs[runs["peak_low"].astype(bool)]
    worst = low.loc[(low["gflops"] / low["peak_gflops"]).idxmax()]
    return (
        f"peak measured low: {len(low)} run(s) computed more GFLOP/s than any GEMM peak the "
        f"session measured for their dtype, threads and device (worst: {worst['backend']} "
        f"batch {int(worst['batch_size'])}, {worst['gflops']:.1f} against a best peak of "
        f"{worst['peak_gflops']:.1f} GFLOP/s): the calibration ran while the machine was busy; "
        "their share of the peak is not shown (rerun on a quiet machine)"
    )
