"""report.html: findings, environment, summary, every plot, and what did not run.

Rendered from an :class:`mlpbench.analysis.tables.Analysis` and the plots already drawn: one static
file with the images inlined, so it opens offline in any browser and can be mailed. Numbers are
formatted for people (thousands separators, percentages, 3 significant digits for seconds);
wide tables scroll inside their box, never the page.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from mlpbench.analysis import costs
from mlpbench.analysis.findings import judged, verdict_rows
from mlpbench.analysis.stats import host_ratios
from mlpbench.analysis.tables import Analysis, warnings
from mlpbench.config.points import series_name
from mlpbench.machine.describe import caption
from mlpbench.render.format import count, one_decimal, percent, seconds, threads_label, times
from mlpbench.render.interactive import view_html
from mlpbench.results.environment import Environment

FIGURES = {  # plot file stem -> what it shows (caption and alt text)
    "epoch_time": "Steady-state time per epoch against batch size, one panel per thread count",
    "gpu_speedup": "CPU time over GPU time per series against batch size, and each series' "
    "per-step cost model (fixed cost per step against cost per sample)",
    "speedup": "How many times faster the reference backend is than each other backend",
    "thread_scaling": "Speed-up over one thread against the thread count, with the ideal line",
    "dtype_speedup": "float64 time over float32 time per backend against batch size",
    "phases": "Where the reference backend's epoch goes: seconds per phase by batch size",
    "efficiency": "Training GFLOP/s as a share of the calibrated GEMM peak",
    "accuracy_time": "Training loss against time, and test accuracy against training time",
    "startup": "Start-up costs per backend: import, model build, first-epoch extra time",
    "ablation": "Each variant's time per epoch as a multiple of the baseline variant's",
    "crossover": "Crossover map: the reference's time over each other backend's, by hidden width "
    "and batch",
    "cost_per_sample": "Seconds per training sample against training FLOPs per sample",
    "profile": "Where a training step's CPU time goes: CPU ms per step by category, all threads, "
    "from perf samples of one extra run per profiled point; the black mark is the step's wall "
    "time",
}


def article_2020() -> list[dict[str, Any]]:
    """The article's figures, from the data file shipped with the package."""
    text = resources.files("mlpbench.render").joinpath("article_2020.json").read_text()
    return json.loads(text)["times"]


_x = times


def findings(a: Analysis) -> list[str]:
    """A few sentences, each computed from this result's numbers."""
    s, ref, out = a.main, a.reference, []
    if s.empty:
        return ["No run succeeded; see the table of runs that did not run."]
    s = a.default_variant(s)
    out += version_findings(a)
    top = a.max_threads
    axes = a.axes
    ratios = a.default_variant(judged(a))
    ratios = ratios[(ratios["threads"] == top) & (ratios["dtype"] == "float32")]
    for key, r in axes.groups(ratios, by=("backend",), skip=("batch_size", "dtype", "threads")):
        other = key["backend"]
        r = r.sort_values("batch_size")
        where = ", ".join([*axes.words(key, skip=("batch_size", "dtype", "threads")),
                           "float32", threads_label(top)])  # fmt: skip
        at = r[r["batch_size"] == 500]
        if not at.empty:
            d = at.iloc[0]["decision"]  # the verdict's own decision, never a second rule
            if d.decided:
                word = "faster" if d.reference_wins else "slower"
                factor = d.ratio if d.reference_wins else 1 / d.ratio
                out.append(
                    f"At batch size 500 ({where}) {ref} is {_x(factor)} {word} than {other} "
                    f"per epoch (median of {d.pairs} pairs; {d.interval()})."
                )
            else:
                out.append(
                    f"At batch size 500 ({where}) {ref} against {other} is not decided: "
                    f"{other} takes {d.ratio:.2f}x {ref}'s time by the median of {d.pairs} "
                    f"pair(s), {d.interval()}; {d.advice()}."
                )
        wins = r["decision"].map(lambda d: d.other_wins)
        decided = r[wins]
        hinted = r[(r["ratio"] < 1) & ~wins]
        lo, hi = int(r["batch_size"].min()), int(r["batch_size"].max())
        if not decided.empty:
            first = decided.iloc[0]
            d = first["decision"]
            out.append(
                f"{other} is faster than {ref} from batch size {int(first['batch_size'])} "
                f"({where}): {_x(1 / d.ratio)} faster (its time over {ref}'s: "
                f"{d.interval()})."
            )
        elif not hinted.empty:
            batches = ", ".join(str(int(b)) for b in hinted["batch_size"])
            out.append(
                f"{other} may be faster than {ref} at batch {batches} ({where}), but the "
                "repeats do not decide it at 95% (too few pairs, or an interval that spans 1): "
                + "; ".join(
                    dict.fromkeys(d.advice() for d in hinted["decision"] if d.advice())
                )
                + "."
            )
        else:
            best = r.loc[r["ratio"].idxmin()]
            settled = bool(r["decision"].map(lambda d: d.reference_wins).all())
            out.append(
                f"{other} does not overtake {ref} anywhere from batch {lo} to {hi} ({where}); "
                f"at best it takes {best['ratio']:.2f}x {ref}'s time, at batch "
                f"{int(best['batch_size'])}"
                + ("." if settled else " (by the medians; the repeats do not settle every "
                   "batch: rerun with more repeats to decide).")
            )
    out += device_findings(a)
    out += cost_findings(a)
    for r in a.engine_split.itertuples():
        fw = r.framework
        head = (
            f"{ref} | engine | {fw} at batch {r.batch_size} (float32, {threads_label(top)}): "
            f"{ref} {seconds(r.reference_s)} s | the engine alone ({r.engine}, one call per "
            f"step) {seconds(r.engine_s)} s | {fw} on it {seconds(r.framework_s)} s per epoch; "
        )
        if r.overhead_s >= 0:
            share = r.overhead_s / r.framework_s if r.framework_s else math.nan
            engine = _x(r.engine_s / r.reference_s)
            out.append(
                head + f"{fw}'s own overhead is {seconds(r.overhead_s)} s "
                f"({100 * share:.0f}% of its time), the engine takes {engine} {ref}'s time."
            )
        else:
            out.append(
                head + f"{fw} beats its own engine's one-call-per-step loop by "
                f"{seconds(-r.overhead_s)} s (it compiles several steps per call): "
                "per-step dispatch, not the kernels, is the cost at this batch size."
            )
    out += crossover_findings(a)
    gain_skip = ("batch_size", "dtype", "variant")
    for key, g in axes.groups(a.dtype_gain, by=("backend",), skip=gain_skip):
        out.append(
            f"float32 over float64: {key['backend']}{axes.where(key, skip=gain_skip)} gains "
            f"{g['gain'].min():.2f}-{g['gain'].max():.2f}x "
            f"(median {g['gain'].median():.2f}x) across batch sizes."
        )
    eff_skip = ("batch_size", "dtype", "threads")
    for key, g in axes.groups(a.efficiency, by=("backend",), skip=eff_skip):
        best = g.loc[g["efficiency"].idxmax()]
        where = axes.where(key, skip=eff_skip)
        if key.get("device", best["device"]) == "gpu" and best["efficiency"] < LAUNCH_BOUND:
            out.append(
                f"{key['backend']}{where} on the GPU reaches at most "
                f"{100 * best['efficiency']:.1f}% of the device's GEMM peak: the step is "
                "bound by launches and dispatch, not by arithmetic, so its share of the peak "
                "says nothing of its kernels (the cost model above says where the time goes)."
            )
            continue
        out.append(
            f"{key['backend']}{where} reaches at best {100 * best['efficiency']:.0f}% of the "
            f"calibrated GEMM peak ({best['gflops']:.1f} GFLOP/s at batch "
            f"{int(best['batch_size'])}, {best['dtype']}, {threads_label(int(best['threads']))})."
        )
    for label, r in a.startup.iterrows():
        out.append(
            f"{label} start-up: import {r['import_s']:.2f} s; first epoch "
            f"{r['first_epoch_s']:.2f} s against {r['steady_epoch_s']:.2f} s in steady state."
        )
    for device, phases in a.phases_by_device.items():
        b = 500 if 500 in phases.index else phases.index[0]
        row = phases.loc[b]
        share = ", ".join(f"{k} {100 * v / row.sum():.0f}%" for k, v in row.items())
        on = f" on the {device.upper()}" if len(a.phases_by_device) > 1 else ""
        out.append(f"{ref}'s epoch{on} at batch {b}: {share}.")
    for r in a.ablation.itertuples():
        out.append(
            f"{r.switch}: {_x(r.cost)} the time of {a.baseline} at batch {r.batch_size} "
            f"({r.backend}; above 1 is slower)."
        )
    n_bad = len(a.results.not_run)
    if n_bad:
        out.append(f"{n_bad} run(s) did not run or failed; their reasons are listed below.")
    return out


LAUNCH_BOUND = 0.03  # a GPU series under this share of the GEMM peak is launch-bound


def device_findings(a: Analysis) -> list[str]:
    """CPU against GPU, per series: the GPU's speed-up at each batch with its range, the
    batch from which the GPU pays off, and which series is fastest on each device."""
    g_all, axes, out = a.gpu_speedups, a.axes, []
    if g_all.empty:
        return out
    for key, g in axes.groups(g_all, by=("backend", "options", "env"), skip=("batch_size",)):
        name = series_name(key["backend"], key["options"], key["env"])
        steps = "; ".join(
            f"batch {int(r.batch_size)} {_x(r.speedup)}"
            + (f" ({r.low:.2f}-{r.high:.2f})" if r.low != r.high else "")
            for r in g.sort_values("batch_size").itertuples()
        )
        first = costs.pays_off_from(g)
        pays = f"pays off from batch {first}" if first else "pays off nowhere in this sweep"
        out.append(
            f"GPU against CPU, {name}{axes.where(key, skip=('batch_size', 'device'))}: the GPU "
            f"is {steps} (CPU time / GPU time); the GPU {pays}."
        )
    for device, g in a.fastest.groupby("device", sort=True):
        parts = "; ".join(
            f"batch {int(r.batch_size)} {r.series} {seconds(r.median_s)} s"
            for r in g.sort_values("batch_size").itertuples()
        )
        out.append(f"Fastest on the {str(device).upper()} (seconds per epoch): {parts}.")
    return out


def cost_findings(a: Analysis) -> list[str]:
    """Each series' per-step cost: fixed part, per-sample part, the fit's misfit, and the
    regime in words; "needs 3 or more batch sizes" where a series has fewer."""
    c, axes, out = a.costs, a.axes, []
    for r in c.sort_values(["device", "backend", "options"]).to_dict("records"):
        name = series_name(r["backend"], r["options"], r["env"]) + axes.where(
            r, skip=("batch_size",)
        )
        batches = list(r["batch_sizes"])
        if not r["fixed_s"] == r["fixed_s"]:  # NaN: too few batch sizes
            out.append(
                f"Cost per step, {name}: needs {costs.MIN_BATCHES} or more batch sizes "
                f"(this sweep ran {len(batches)})."
            )
            continue
        out.append(
            f"Cost per step, {name}: {1e3 * r['fixed_s']:.3g} ms fixed + "
            f"{1e6 * r['per_sample_s']:.3g} us per sample (fit within "
            f"{max(1, round(100 * r['residual']))}% at batches {', '.join(map(str, batches))}): "
            f"{costs.regime(r['fixed_s'], r['per_sample_s'], batches)}."
        )
    return out


CHANGE = 1.10  # a stack's time beyond this factor of the baseline stack's, at every point


def version_findings(a: Analysis) -> list[str]:
    """Per backend and version stack: its time over the baseline stack's across the points
    both ran, and whether that is a change at every point (beyond 10% either way)."""
    v, out = a.versions, []
    if v.empty:
        return out
    for (backend, options), g in v.groupby(["backend", "options"], sort=False):
        base = g["baseline_env"].iloc[0]
        base_label = a.stack_label(base)
        for env, h in g[g["env"] != base].groupby("env", sort=False):
            r = h["ratio"]
            pct = f"{100 * (CHANGE - 1):.0f}%"
            slower, faster = int((r > CHANGE).sum()), int((r < 1 / CHANGE).sum())
            if slower == len(r):
                verdict = f"slower by more than {pct} at every point"
            elif faster == len(r):
                verdict = f"faster by more than {pct} at every point"
            elif not slower and not faster:
                verdict = f"within {pct} at every point"
            else:
                verdict = (
                    f"beyond {pct} at {slower + faster} of {len(r)} points "
                    f"({faster} faster, {slower} slower)"
                )
            worst = h.loc[(r - 1).abs().idxmax()]
            name = series_name(backend, options)
            out.append(
                f"{name} in {a.stack_label(env)} takes {r.median():.2f}x the time of "
                f"{base_label} (median over {len(h)} points, {r.min():.2f}-{r.max():.2f}x): "
                f"{verdict}; the largest change is {worst['ratio']:.2f}x at batch "
                f"{int(worst['batch_size'])}, {worst['dtype']}, "
                f"{threads_label(int(worst['threads']))}."
            )
    return out


def crossover_findings(a: Analysis) -> list[str]:
    """The crossover map in words: where another backend is faster, per (dtype, series,
    depth), and why (each side's share of time outside GEMMs: 1 - its efficiency against the
    peak of the dtype it computes)."""
    out, ref = [], a.reference
    for (dtype, series, depth), g in a.crossover.groupby(["dtype", "series", "depth"]):
        if g["width"].nunique() < 2:
            continue
        ref_dtype = g["reference_dtype"].iloc[0]
        who = f"{series} in {dtype} ({depth} hidden layer{'s' if depth > 1 else ''})"
        wins = g[g["ratio"] > 1]
        if wins.empty:
            best = g.loc[g["ratio"].idxmax()]
            out.append(
                f"{who}: {ref} ({ref_dtype}) stays faster everywhere measured (widths "
                f"{g['width'].min()}-{g['width'].max()}, batches {g['batch_size'].min()}-"
                f"{g['batch_size'].max()}); {series} comes closest at width {best['width']}, batch "
                f"{best['batch_size']}: {_x(best['ratio'])} {ref}'s speed."
            )
        else:
            parts = []
            for batch, w in wins.groupby("batch_size"):
                parts.append(f"from width {w['width'].min()} at batch {batch}")
            best = wins.loc[wins["ratio"].idxmax()]
            out.append(
                f"{who} is faster than {ref} ({ref_dtype}) {'; '.join(parts)}; at best "
                f"{_x(best['ratio'])} at width {best['width']}, batch {best['batch_size']}."
            )
        small = g.loc[g["width"].idxmin()]
        large = g.loc[g["width"].idxmax()]
        for cell, regime in ((small, "smallest"), (large, "largest")):
            if pd.notna(cell["reference_eff"]) or pd.notna(cell["other_eff"]):
                out.append(
                    f"Why, {who}, {regime} width {cell['width']} at batch {cell['batch_size']}: "
                    f"outside GEMMs {ref} spends {percent(1 - cell['reference_eff'])} of its "
                    f"time, {series} {percent(1 - cell['other_eff'])} (1 - efficiency against the "
                    "peak of the dtype each computes)."
                )
    return out


FORMATS: dict[str, Callable[[Any], str]] = {
    "median_s": seconds,
    "min_s": seconds,
    "max_s": seconds,
    "ci_low": seconds,
    "ci_high": seconds,
    "first_epoch_s": seconds,
    "import_s": seconds,
    "samples_per_s": count,
    "gflops": one_decimal,
    "efficiency": percent,
    "test_accuracy": lambda v: "-" if pd.isna(v) else f"{v:.4f}",
    "spread": percent,
    "unstable": lambda v: "unstable: rerun with more repeats" if v else "",
}


HEADERS = {  # a column's header in the report: words and units, not snake_case
    "batch_size": "batch",
    "n": "repeats",
    "median_s": "median (s)",
    "min_s": "min (s)",
    "max_s": "max (s)",
    "ci_low": "95% CI from (s)",
    "ci_high": "95% CI to (s)",
    "first_epoch_s": "first epoch (s)",
    "import_s": "import (s)",
    "samples_per_s": "samples/s",
    "gflops": "GFLOP/s",
    "efficiency": "of GEMM peak",
    "test_accuracy": "test accuracy",
    "spread": "spread (max-min)/median",
    "unstable": "stability",
    "run_id": "run",
    "env": "stack",
    "options": "backend options",
}


def header(column: Any) -> str:
    name = str(column)
    return HEADERS.get(name, name.replace("_", " "))


@dataclass(frozen=True)
class Cell:
    text: str
    num: bool = False  # right-aligned figures
    header: bool = False  # a row's own header (a key-value table)


@dataclass(frozen=True)
class HtmlTable:
    """A table for the template: header words and rows of cells (text, escaped there)."""

    head: list[str]
    rows: list[list[Cell]]
    kv: bool = False


@dataclass(frozen=True)
class Figure:
    stem: str
    what: str
    data: str  # the PNG, base64


@dataclass(frozen=True)
class Section:
    """One section of the page: ``kind`` says how the template lays ``data`` out (verdict,
    list, table with its ``note``, text, figures, markup)."""

    id: str
    title: str
    kind: str
    data: Any
    note: str = ""


def table_of(
    frame: pd.DataFrame, formats: dict[str, Callable[[Any], str]] | None = None
) -> HtmlTable:
    """A table in a box that scrolls sideways by itself when it is wider than the page; the
    headers in words with units (``HEADERS``)."""
    formats = formats or {}
    rows = [
        [
            Cell(formats[col](v), num=True)
            if col in formats
            else Cell("-" if pd.isna(v) else str(v))
            for col, v in zip(frame.columns, row)
        ]
        for row in frame.itertuples(index=False)
    ]
    return HtmlTable([header(c) for c in frame.columns], rows)


def varying_table(frame: pd.DataFrame) -> tuple[str, HtmlTable]:
    """A table of only the columns that vary (the fixed ones said once, above it), so that
    what tells rows apart fits the page; a spread of one repeat reads "-" as in the terminal."""
    frame = frame.copy()
    if "spread" in frame and "n" in frame:
        frame["spread"] = frame["spread"].where(frame["n"] >= 2)
    fixed = {
        c: frame[c].iloc[0]
        for c in frame.columns
        if len(frame) > 1 and frame[c].astype(str).nunique() == 1 and c not in FORMATS
    }
    shown = frame[[c for c in frame.columns if c not in fixed]]
    said = "; ".join(
        f"{header(c)} {'-' if pd.isna(v) or v == '' else v}" for c, v in fixed.items()
    )
    return (f"The same in every row: {said}." if said else ""), table_of(shown, FORMATS)


def article_table(a: Analysis) -> HtmlTable | None:
    """Our 35-epoch totals beside the article's, for the article's workload."""
    ok = a.results.ok
    ok = ok[ok["dtype"] == "float32"]
    if ok.empty or int(ok["epochs"].max()) != 35:
        return None
    rows = []
    for x in article_2020():
        ours = ok[(ok["backend"] == x["backend"]) & (ok["batch_size"] == x["batch_size"])]
        rows.append(
            {
                "backend": x["backend"],
                "batch size": x["batch_size"],
                "article 2020 (s, 4 threads, other hardware)": x["seconds"],
                "article's note": x["note"],
                "ours: 35 epochs (s, median)": ours["train_s"].median() if len(ours) else math.nan,
                "ours: threads": str(int(ours["threads"].max())) if len(ours) else "-",
            }
        )
    frame = pd.DataFrame(rows)
    return table_of(frame, {c: seconds for c in frame.columns if "(s" in c})


def environment_table(env: Environment) -> HtmlTable:
    rows = {
        "machine": caption(env),
        "CPU flags": " ".join(env.cpu_flags),
        "memory": f"{env.memory_gb if env.memory_gb == env.memory_gb else '?'} GiB",
        "BLAS": " ".join(str(v) for v in env.blas.values()),
        "versions": ", ".join(f"{k} {v}" for k, v in env.versions.items()),
        "git commit": env.git_commit,
        "GEMM peaks": "; ".join(
            f"{p.dtype} {p.threads} thr {p.device}: {one_decimal(p.gflops)} GFLOP/s"
            for p in env.peaks
        ),
        "profiler": env.profiler,
        "config": f"{env.config_name} ({env.config_path})",
    }
    return HtmlTable([], [[Cell(k, header=True), Cell(str(v))] for k, v in rows.items()], kv=True)


def figure(path: Path) -> Figure:
    what = FIGURES.get(path.stem, path.stem)
    return Figure(path.stem, what, base64.b64encode(path.read_bytes()).decode())


CSS = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
.scroll { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1.5em; }
table.t { border-collapse: collapse; font-size: 13px; }
table.t td, table.t th { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left;
       white-space: nowrap; }
table.t td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv td { white-space: normal; overflow-wrap: anywhere; }
figure { margin: 1em 0 2em; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 12px; color: #666; } li { margin: 0.3em 0; }
nav ul { columns: 2; }
ul.warn li { color: #8a4b00; } span.warn { color: #8a4b00; font-size: 12px; }
.warnbox { border-left: 4px solid #d98c00; padding: 0.1em 1em; background: #fff8ec; }
.answer { border-left: 4px solid #1f77b4; padding: 0.2em 1em; background: #f6f9fc; }
"""


@dataclass(frozen=True)
class VerdictRow:
    batch: int
    label: str
    ratio: str
    interval: str
    range: str
    pairs: int
    words: str
    caveats: str


@dataclass(frozen=True)
class VerdictView:
    """The verdict section's values: the warnings, the first lines (the rest folded), the
    verdict rows, what was held fixed, the GPU table, the fastest series, the peak shares."""

    warnings: list[str]
    warning_kinds: str
    first: list[str]
    later: list[str]
    reference: str
    rows: list[VerdictRow]
    fixed: str = ""
    device: HtmlTable | None = None
    fastest: str = ""
    peak: str = ""


def verdict_view(a: Analysis) -> VerdictView:
    """The answer first: the reference against each other backend per batch size, in words,
    and how far each backend gets to the machine's GEMM peak; the warnings above it, open,
    since they qualify it (each row a warning touches says so too)."""
    from mlpbench.render.answer import answer_lines

    lines = answer_lines(a)
    # the first screen: what is decided and what not, then the table; how it was measured,
    # why, and the article one click away
    said_first = [
        x for x in lines if x.startswith(("Should you train on the GPU", "Decided", "Not decided"))
    ] or lines[:1]
    cautions = warnings(a)
    rows = [
        VerdictRow(
            v.batch, v.label, f"{v.decision.ratio:.2f}x",
            "-" if math.isnan(v.decision.low) else f"{v.decision.low:.2f}-{v.decision.high:.2f}",
            "-" if v.decision.pairs < 2
            else f"{v.decision.range_low:.2f}-{v.decision.range_high:.2f}",
            v.decision.pairs, v.words, "; ".join(v.caveats),
        )
        for v in verdict_rows(a)
    ]  # fmt: skip
    eff = a.efficiency
    peak = ""
    if not eff.empty:
        best = eff.groupby("backend")["efficiency"].max()
        peak = "Best share of the calibrated GEMM peak: " + ", ".join(
            f"{b} {100 * e:.0f}%" for b, e in best.items()
        ) + "."
    device, fastest = None, ""
    if not a.device_verdict.empty:
        device = table_of(a.device_verdict)
        best = a.fastest
        if not best.empty:
            fastest = " ".join(
                f"Fastest on the {str(d).upper()}: "
                + "; ".join(
                    f"batch {int(r.batch_size)} {r.series}"
                    for r in g.sort_values("batch_size").itertuples()
                )
                + "."
                for d, g in best.groupby("device", sort=True)
            )
    if peak and "device" in a.axes.varying:  # a launch-bound GPU's share is no verdict
        cpu = eff[eff["device"] == "cpu"].groupby("backend")["efficiency"].max()
        gpu = eff[eff["device"] == "gpu"]["efficiency"]
        bound = len(gpu) and bool((gpu < LAUNCH_BOUND).all())
        peak = (
            "Best share of the calibrated GEMM peak on the CPU: "
            + ", ".join(f"{b} {100 * e:.0f}%" for b, e in cpu.items())
            + (
                f" (on the GPU every series stays under {100 * LAUNCH_BOUND:.0f}% of its peak: "
                "launch-bound; the findings give their cost model)."
                if bound
                else " (the GPU's shares are in the findings)."
            )
        ) if len(cpu) else ""
    return VerdictView(
        warnings=cautions,
        warning_kinds=", ".join(dict.fromkeys(w.split(":")[0] for w in cautions)),
        first=said_first,
        later=[x for x in lines if x not in said_first],
        reference=a.reference,
        rows=rows,
        fixed=a.axes.header(skip=("batch_size",)),
        device=device,
        fastest=fastest,
        peak=peak,
    )


def write_report(a: Analysis, plots: list[Path]) -> Path:
    """report.html in the results folder, from the analysis and the plots drawn from it: the
    sections as typed values, laid out by ``templates/report.html.j2`` (autoescaped)."""
    directory = a.results.directory
    summary = a.summary.copy()
    bad = a.results.not_run[
        ["backend", "batch_size", "dtype", "device", "threads", "variant", "repeat", "status"]
        + ["reason"]
    ]
    sections = [
        Section("verdict", "Verdict", "verdict", verdict_view(a)),
        Section("findings", "Findings", "list", findings(a)),
        Section("environment", "Environment", "table", environment_table(a.results.env)),
    ]
    article = article_table(a)
    if article is not None:
        sections.append(Section("article", "Against the article (2020)", "table", article,
                                "The article's times come from other hardware (4 OpenBLAS "
                                "threads, 2020); compare ratios, not seconds."))  # fmt: skip
    title = "Summary (steady-state seconds per epoch)"
    if summary.empty:
        sections.append(Section("summary", title, "text", "No successful runs."))
    else:
        note, table = varying_table(summary)
        sections.append(Section("summary", title, "table", table, note))
    hosts = host_ratios(a.summary)
    if not hosts.empty:
        sections.append(
            Section("hosts", "Host vs host", "table", table_of(hosts, {"ratio": lambda v: _x(v)}))
        )
    if plots:
        sections.append(Section("plots", "Plots", "figures", [figure(p) for p in plots]))
    view = view_html(a)
    if view:  # its own page in an iframe's srcdoc, escaped by render/interactive.py
        sections.append(Section("interactive", "Interactive view", "markup", Markup(view)))
    if len(bad):
        sections.append(Section("not-run", "Runs that did not run", "table", table_of(bad)))
    layout = jinja2.Environment(loader=jinja2.PackageLoader("mlpbench.render"), autoescape=True)
    page = layout.get_template("report.html.j2").render(
        title=directory.name, css=Markup(CSS), sections=sections
    )
    out = directory / "report.html"
    out.write_text(page + "\n")
    return out
