"""The findings: sentences computed from a result set's numbers, each a :class:`Finding` of
one kind (the verdict, the GPU, the cost model, ...), in one order for every renderer. The
terminal, the Markdown page and report.html lay them out (report.html groups them by kind and
folds all but the first ten); the numbers and decisions come from mlpbench.analysis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from mlpbench.analysis import costs
from mlpbench.analysis.findings import judged
from mlpbench.analysis.tables import Analysis
from mlpbench.config.points import series_name
from mlpbench.render.format import percent, seconds, threads_label, times


@dataclass(frozen=True)
class Finding:
    kind: str  # what it is about: one of KINDS' names
    text: str


_x = times


def verdict_findings(a: Analysis) -> list[str]:
    """The reference against each other series at batch 500, and where another overtakes it
    (from the verdict's own decisions, never a second rule)."""
    ref, out = a.reference, []
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
    return out


def engine_findings(a: Analysis) -> list[str]:
    """numpy | engine | framework: the framework's own overhead over its raw engine."""
    ref, top, out = a.reference, a.max_threads, []
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
    return out


def dtype_findings(a: Analysis) -> list[str]:
    axes, out = a.axes, []
    gain_skip = ("batch_size", "dtype", "variant")
    for key, g in axes.groups(a.dtype_gain, by=("backend",), skip=gain_skip):
        out.append(
            f"float32 over float64: {key['backend']}{axes.where(key, skip=gain_skip)} gains "
            f"{g['gain'].min():.2f}-{g['gain'].max():.2f}x "
            f"(median {g['gain'].median():.2f}x) across batch sizes."
        )
    return out


def efficiency_findings(a: Analysis) -> list[str]:
    axes, out = a.axes, []
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
    return out


def startup_findings(a: Analysis) -> list[str]:
    out = []
    for label, r in a.startup.iterrows():
        out.append(
            f"{label} start-up: import {r['import_s']:.2f} s; first epoch "
            f"{r['first_epoch_s']:.2f} s against {r['steady_epoch_s']:.2f} s in steady state "
            "(medians over its runs at every batch size)."
        )
    return out


def phase_findings(a: Analysis) -> list[str]:
    ref, out = a.reference, []
    for device, phases in a.phases_by_device.items():
        b = 500 if 500 in phases.index else phases.index[0]
        row = phases.loc[b]
        share = ", ".join(f"{k} {100 * v / row.sum():.0f}%" for k, v in row.items())
        on = f" on the {device.upper()}" if len(a.phases_by_device) > 1 else ""
        out.append(
            f"{ref}'s epoch{on} at batch {b}, by phase: {share} (shuffle: the order and the "
            "batch gather, which grows with the batch; median over its runs)."
        )
    return out


def variant_findings(a: Analysis) -> list[str]:
    out = []
    for r in a.ablation.itertuples():
        out.append(
            f"{r.switch}: {_x(r.cost)} the time of {a.baseline} at batch {r.batch_size} "
            f"({r.backend}; above 1 is slower)."
        )
    return out


def run_findings(a: Analysis) -> list[str]:
    n_bad = len(a.results.not_run)
    said = f"{n_bad} run(s) did not run or failed; their reasons are listed below."
    return [said] if n_bad else []


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
    return out + host_side_findings(a)


HOST_SIDE = 2.0  # a GPU per-sample cost within this factor of the CPU's: the work is the host's


def host_side_findings(a: Analysis) -> list[str]:
    """A series whose per-sample cost on the GPU is within 2x of its cost on the CPU: its
    per-sample work (feeding, converting, copying the batch) stays on the host, whatever the
    device computes."""
    c = a.costs.dropna(subset=["per_sample_s"])
    if c.empty or c["device"].nunique() < 2:
        return []
    out = []
    apart = [x for x in ("backend", "options", "env", "dtype", "threads", "layers") if x in c]
    for _, g in c.groupby([x for x in apart if x != "threads"], sort=True):
        cpu, gpu = g[g["device"] == "cpu"], g[g["device"] == "gpu"]
        if cpu.empty or gpu.empty:
            continue
        on_cpu = float(cpu["per_sample_s"].min())  # the CPU's best thread count
        on_gpu = float(gpu["per_sample_s"].iloc[0])
        if on_cpu > 0 and on_gpu * HOST_SIDE >= on_cpu:
            r = gpu.iloc[0]
            name = series_name(r["backend"], r["options"], r["env"])
            out.append(
                f"{name} costs {1e6 * on_gpu:.3g} us a sample on the GPU against "
                f"{1e6 * on_cpu:.3g} us on the CPU ({on_gpu / on_cpu:.2f}x the CPU's; the GPU "
                f"alone is {1e6 * float(c[c['device'] == 'gpu']['per_sample_s'].min()):.3g} us "
                "at best here): its per-sample work stays on the host (feeding, converting or "
                "copying each batch), not on the GPU."
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






KINDS: tuple[tuple[str, Callable[[Analysis], list[str]]], ...] = (
    ("version stacks", version_findings),
    ("the verdict in words", verdict_findings),
    ("GPU against CPU", device_findings),
    ("cost per step", cost_findings),
    ("framework against its engine", engine_findings),
    ("crossover", crossover_findings),
    ("float32 against float64", dtype_findings),
    ("share of the GEMM peak", efficiency_findings),
    ("start-up", startup_findings),
    ("phases of an epoch", phase_findings),
    ("variants", variant_findings),
    ("runs that did not run", run_findings),
)
"""Every kind of finding, in the order every renderer gives them."""


def found(a: Analysis) -> list[Finding]:
    """Every finding of ``a``, kind by kind."""
    if a.main.empty:
        return [Finding("runs that did not run",
                        "No run succeeded; see the table of runs that did not run.")]  # fmt: skip
    return [Finding(kind, text) for kind, make in KINDS for text in make(a)]


def findings(a: Analysis) -> list[str]:
    """The findings' sentences, in order (the terminal and the Markdown page)."""
    return [f.text for f in found(a)]
