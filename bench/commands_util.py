"""Text tables for the terminal, built from a results directory alone."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from bench.results import load_runs, read_environment, resolve
from bench.stats import speed_ratios, summarize


def width(values: Iterable[object], minimum: int) -> int:
    """A text column's width: the longest value plus a space, at least ``minimum``."""
    return max([minimum, *(len(str(v)) + 1 for v in values)])


def _fmt(v: float, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_summary_table(directory: str | Path) -> None:
    directory = resolve(directory)
    runs = load_runs(directory)
    env = read_environment(directory)
    print(
        f"{directory.name}: {env.get('cpu_model', '?')}, {len(runs)} runs "
        f"({(runs['status'] == 'ok').sum()} ok, {(runs['status'] == 'skipped').sum()} skipped, "
        f"{(runs['status'] == 'failed').sum()} failed)"
    )
    s = summarize(runs)
    if s.empty:
        print("no successful runs")
    else:
        print("\nsteady-state seconds per epoch (median over repeats, min-max; 95% CI when n >= 5)")
        vw = width(s["variant"], 14)
        header = (
            f"{'backend':<10}{'batch':>7} {'dtype':<8}{'dev':<4}{'thr':>4} {'variant':<{vw}}"
            f"{'n':>3}{'median':>9}{'min-max':>17}{'95% CI':>17}{'GFLOP/s':>9}"
            f"{'eff.':>7}{'test acc':>9}"
        )
        print(header)
        for r in s.itertuples():
            ci = "" if math.isnan(r.ci_low) else f"{r.ci_low:.3f}-{r.ci_high:.3f}"
            eff = "-" if math.isnan(r.efficiency) else f"{100 * r.efficiency:.0f}%"
            print(
                f"{r.backend:<10}{r.batch_size:>7} {r.dtype:<8}{r.device:<4}{r.threads:>4} "
                f"{str(r.variant):<{vw}}{r.n:>3}{r.median_s:>9.3f}"
                f"{f'{r.min_s:.3f}-{r.max_s:.3f}':>17}{ci:>17}{_fmt(r.gflops, '.1f'):>9}"
                f"{eff:>7}"
                f"{_fmt(r.test_accuracy, '.4f'):>9}"
            )
        ratios = speed_ratios(s)
        if not ratios.empty:
            print(
                "\nNumPy/Keras speed ratio (Keras median time / NumPy median time; > 1: NumPy "
                "faster; range from min/max)"
            )
            for r in ratios.itertuples():
                print(
                    f"  batch {r.batch_size:>6} {r.dtype:<8} {r.device} threads {r.threads:<3}"
                    f"{'' if r.variant == 'default' else ' [' + str(r.variant) + ']'}: "
                    f"{r.ratio:5.2f}x  ({r.ratio_low:.2f}-{r.ratio_high:.2f})"
                )
    bad = runs[runs["status"] != "ok"]
    if len(bad):
        print("\nnot run:")
        for r in bad.itertuples():
            print(
                f"  {r.backend} b={r.batch_size} {r.dtype} {r.device} t={r.threads} "
                f"#{r.repeat}: {r.status}: {r.reason}"
            )
