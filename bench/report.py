"""report.html: environment, summary table, every plot, and findings computed from the numbers.

One static file with the images inlined, so it opens offline in any browser and can be mailed.
"""

from __future__ import annotations

import base64
import html
import json
import math
from importlib import resources
from pathlib import Path

import pandas as pd

from bench.environment import caption
from bench.plots import (
    REFERENCE,
    Context,
    ablation_table,
    phase_table,
    plot_all,
    threads_label,
)
from bench.stats import speed_ratios


def article_2020() -> list[dict]:
    """The article's figures, from the data file shipped with the package."""
    text = resources.files("bench").joinpath("article_2020.json").read_text()
    return json.loads(text)["times"]


def _x(v: float) -> str:
    return f"{v:.2f}x"


def findings(ctx: Context) -> list[str]:
    """A few sentences, each computed from this result's numbers."""
    s, runs, out = ctx.summary, ctx.runs, []
    if s.empty:
        return ["No run succeeded; see the table of runs that did not run."]
    s = ctx.default_variant(s)
    top = int(s["threads"].max())
    for other in [b for b in s["backend"].unique() if b != REFERENCE]:
        r = speed_ratios(s, numerator=other, denominator=REFERENCE)
        r = r[(r["threads"] == top) & (r["dtype"] == "float32")]
        if r.empty:
            continue
        at = r[r["batch_size"] == 500]
        if not at.empty:
            x = at.iloc[0]
            word = "faster" if x["ratio"] >= 1 else "slower"
            factor = x["ratio"] if x["ratio"] >= 1 else 1 / x["ratio"]
            out.append(
                f"At the article's batch size 500 (float32, {threads_label(top)}) NumPy is "
                f"{_x(factor)} {word} than {other} per epoch "
                f"(range over repeats {x['ratio_low']:.2f}-{x['ratio_high']:.2f}x, NumPy's "
                f"speed-up)."
            )
        r = r.sort_values("batch_size")
        wins = r[r["ratio"] < 1]
        lo, hi = int(r["batch_size"].min()), int(r["batch_size"].max())
        if wins.empty:
            best = r.loc[r["ratio"].idxmin()]
            out.append(
                f"{other} does not overtake NumPy anywhere from batch {lo} to {hi} "
                f"(float32, {threads_label(top)}); its best is {_x(1 / best['ratio'])} of "
                f"NumPy's speed, at batch {int(best['batch_size'])}."
            )
        else:
            first = int(wins["batch_size"].iloc[0])
            out.append(
                f"{other} overtakes NumPy from batch size {first} (float32, {threads_label(top)}"
                f"), where it is {_x(1 / float(wins['ratio'].iloc[0]))} faster."
            )
    wide = s.pivot_table(
        index=["backend", "batch_size", "threads"], columns="dtype", values="median_s"
    )
    if {"float32", "float64"} <= set(wide.columns):
        gains = (wide["float64"] / wide["float32"]).dropna()
        for backend, g in gains.groupby(level=0):
            out.append(
                f"float32 over float64: {backend} gains {g.min():.2f}-{g.max():.2f}x "
                f"(median {g.median():.2f}x) across batch sizes and threads."
            )
    eff = s.dropna(subset=["efficiency"])
    for backend, g in eff.groupby("backend"):
        best = g.loc[g["efficiency"].idxmax()]
        out.append(
            f"{backend} reaches at best {100 * best['efficiency']:.0f}% of the calibrated "
            f"GEMM peak ({best['gflops']:.1f} GFLOP/s at batch {int(best['batch_size'])}, "
            f"{best['dtype']}, {threads_label(int(best['threads']))})."
        )
    ok = runs[runs["status"] == "ok"]
    startup = ok.groupby("backend").agg(
        imp=("import_s", "median"),
        first=("first_epoch_s", "median"),
        steady=("steady_epoch_s", "median"),
    )
    for backend, r in startup.iterrows():
        out.append(
            f"{backend} start-up: import {r['imp']:.2f} s; first epoch "
            f"{r['first']:.2f} s against {r['steady']:.2f} s in steady state."
        )
    phases = phase_table(ctx)
    if not phases.empty:
        b = 500 if 500 in phases.index else phases.index[0]
        row = phases.loc[b]
        share = ", ".join(f"{k} {100 * v / row.sum():.0f}%" for k, v in row.items())
        out.append(f"NumPy's epoch at batch {b}: {share}.")
    ablation = ablation_table(ctx)
    for r in ablation.itertuples():
        out.append(
            f"Turning off the fast path's '{r.switch}' costs {_x(r.cost)} at batch "
            f"{r.batch_size} ({r.backend})."
        )
    n_bad = int((runs["status"] != "ok").sum())
    if n_bad:
        out.append(f"{n_bad} run(s) did not run or failed; their reasons are listed below.")
    return out


def _table(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    return frame.to_html(
        index=False, border=0, classes="t", na_rep="-", float_format=lambda v: floats.format(v)
    )


def article_table(ctx: Context) -> str:
    """Our 35-epoch totals beside the article's, for the article's workload."""
    ok = ctx.runs[(ctx.runs["status"] == "ok") & (ctx.runs["dtype"] == "float32")]
    if ok.empty or int(ok["epochs"].max()) != 35:
        return ""
    rows = []
    for a in article_2020():
        ours = ok[(ok["backend"] == a["backend"]) & (ok["batch_size"] == a["batch_size"])]
        rows.append(
            {
                "backend": a["backend"],
                "batch size": a["batch_size"],
                "article 2020 (s, 4 threads, other hardware)": a["seconds"],
                "article's note": a["note"],
                "ours: 35 epochs (s, median)": ours["train_s"].median() if len(ours) else math.nan,
                "ours: threads": str(int(ours["threads"].max())) if len(ours) else "-",
            }
        )
    return (
        "<h2>Against the article (2020)</h2><p>The article's times come from other hardware "
        "(4 OpenBLAS threads, 2020); compare ratios, not seconds.</p>"
        + _table(pd.DataFrame(rows), "{:.2f}")
    )


def write_report(directory: str | Path) -> Path:
    directory = Path(directory).resolve()
    plots = plot_all(directory)
    ctx = Context(directory)
    env = ctx.env
    summary = ctx.summary.copy()
    if not summary.empty:
        summary["efficiency"] = 100 * summary["efficiency"]
        summary = summary.rename(columns={"efficiency": "efficiency %"})
    bad = ctx.runs[ctx.runs["status"] != "ok"][
        [
            "backend",
            "batch_size",
            "dtype",
            "device",
            "threads",
            "variant",
            "repeat",
            "status",
            "reason",
        ]
    ]
    env_rows = {
        "machine": caption(env),
        "CPU flags": " ".join(env.get("cpu_flags", [])),
        "memory": f"{env.get('memory_gb', '?')} GiB",
        "BLAS": " ".join(str(v) for v in env.get("blas", {}).values()),
        "versions": ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items()),
        "git commit": env.get("git_commit", ""),
        "GEMM peaks": "; ".join(
            f"{p['dtype']} {p['threads']} thr {p['device']}: {p.get('gflops', math.nan):.1f} "
            "GFLOP/s"
            for p in env.get("peaks", [])
        ),
        "config": f"{env.get('config_name', '')} ({env.get('config_path', '')})",
    }
    images = []
    for path in plots:
        data = base64.b64encode(path.read_bytes()).decode()
        images.append(
            f'<figure><img alt="{path.stem}" src="data:image/png;base64,{data}">'
            f"<figcaption>{path.stem} (also {path.stem}.svg in plots/)"
            "</figcaption></figure>"
        )
    body = [
        f"<h1>mlpbench report: {html.escape(directory.name)}</h1>",
        "<h2>Findings</h2><ul>"
        + "".join(f"<li>{html.escape(f)}</li>" for f in findings(ctx))
        + "</ul>",
        "<h2>Environment</h2><table class='t'>"
        + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in env_rows.items()
        )
        + "</table>",
        article_table(ctx),
        "<h2>Summary (steady-state seconds per epoch)</h2>"
        + (_table(summary) if not summary.empty else "<p>No successful runs.</p>"),
        "<h2>Plots</h2>" + "".join(images),
    ]
    if len(bad):
        body.append("<h2>Runs that did not run</h2>" + _table(bad))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlpbench {html.escape(directory.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }}
table.t {{ border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }}
table.t td, table.t th {{ border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
figure {{ margin: 1em 0 2em; }} img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ font-size: 12px; color: #666; }} li {{ margin: 0.3em 0; }}
</style></head><body>
{"".join(body)}
</body></html>
"""
    out = directory / "report.html"
    out.write_text(page)
    return out
