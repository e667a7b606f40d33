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

from mlpbench.analysis.findings import LAUNCH_BOUND, Finding, found, verdict_rows
from mlpbench.analysis.stats import host_ratios
from mlpbench.analysis.tables import Analysis, warnings
from mlpbench.machine.describe import caption
from mlpbench.render.format import PICTURES, count, one_decimal, percent, seconds, times
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
nav ul { columns: 4; font-size: 13px; margin: 0.2em 0; } nav h2 { display: none; }
.headline { font-size: 1.15em; font-weight: 600; margin: 0.3em 0 0.6em; }
figure.picture { margin: 0.5em 0 1em; } figure.picture img { max-width: 680px; }
ul.warn li { color: #8a4b00; } span.warn { color: #8a4b00; font-size: 12px; }
.warnbox { border-left: 4px solid #d98c00; padding: 0.1em 1em; background: #fff8ec; }
.answer { border-left: 4px solid #1f77b4; padding: 0.2em 1em; background: #f6f9fc; }
"""


FIRST_SCREEN = 10
"""Findings shown open; the rest of each kind is folded."""


def grouped(findings: list[Finding]) -> list[tuple[str, list[str], list[str]]]:
    """(kind, shown, folded) per kind, in order: the first ``FIRST_SCREEN`` findings shown,
    the rest folded under their kind."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for n, f in enumerate(findings):
        shown, folded = out.setdefault(f.kind, ([], []))
        (shown if n < FIRST_SCREEN else folded).append(f.text)
    return [(kind, shown, folded) for kind, (shown, folded) in out.items()]


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
    """The verdict section's values: the answer in one sentence, the picture of the time
    ratios, the warnings, the verdict rows, what was held fixed, the GPU table, the fastest
    series, the peak shares, and the verdict in words (folded: it is long)."""

    headline: str
    picture: Figure | None
    warnings: list[str]
    warning_kinds: str
    words: list[str]
    reference: str
    rows: list[VerdictRow]
    fixed: str = ""
    device: HtmlTable | None = None
    fastest: str = ""
    peak: str = ""


def verdict_view(a: Analysis, plots: list[Path] | None = None) -> VerdictView:
    """The answer first: one sentence, then the picture of the ratios, then the reference
    against each other backend per batch size (the table), and the same in words folded below;
    the warnings right under the sentence, since they qualify it (each row a warning touches
    says so too)."""
    from mlpbench.analysis.answer import answer_lines, headline

    drawn = {p.stem: p for p in plots or []}
    picture = next((figure(drawn[n]) for n in PICTURES if n in drawn), None)
    lines = answer_lines(a)
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
        headline=headline(a),
        picture=picture,
        words=lines,
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
    verdict = verdict_view(a, plots)
    up_top = verdict.picture.stem if verdict.picture else ""  # drawn once, in the verdict
    sections = [
        Section("verdict", "Verdict", "verdict", verdict),
        Section("findings", "Findings", "findings", grouped(found(a))),
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
            Section("hosts", "Host vs host", "table", table_of(hosts, {"ratio": times}))
        )
    if plots:
        sections.append(Section("plots", "Plots", "figures",
                                [figure(p) for p in plots if p.stem != up_top]))  # fmt: skip
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
