"""Terminal renderers: each returns lines of text and the caller prints them (pyperf's way).

They read tables (``mlpbench.analysis.tables``, ``mlpbench.analysis.compare``), never files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from mlpbench.analysis.findings import judged
from mlpbench.analysis.stats import host_ratios
from mlpbench.analysis.tables import Analysis, warnings
from mlpbench.config.points import series_name
from mlpbench.render.format import TRUST
from mlpbench.results.profile import COVERAGE_LOW, Profile


def width(values: Iterable[object], minimum: int) -> int:
    """A text column's width: the longest value plus a space, at least ``minimum``."""
    return max([minimum, *(len(str(v)) + 1 for v in values)])


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def host_names(a: Analysis) -> dict[str, str]:
    """Host id -> a readable name: the hostname, or the id where hostnames do not tell the
    hosts apart (several workers on one machine, each with its own MLPBENCH_HOST_ID)."""
    runs = a.results.runs
    if "host" not in runs or "hostname" not in runs:
        return {}
    pairs = dict(zip(runs["host"], runs["hostname"]))
    if len(set(pairs.values())) < len(pairs):
        return {h: (f"{h} ({n})" if n and n != h else h) for h, n in pairs.items()}
    return {h: n or h for h, n in pairs.items()}


def wrap(text: str, width: int = 100) -> list[str]:
    """A paragraph in lines of ``width``, continued lines indented."""
    import textwrap

    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False)


def summary_lines(a: Analysis) -> list[str]:
    """The summary of a results folder: counts, per-point medians, ratios, what did not run."""
    runs, env = a.results.runs, a.results.env
    counts = {s: int((runs["status"] == s).sum()) for s in ("ok", "skipped", "failed")}
    lines = [
        f"{a.results.directory.name}: {(env.cpu_model or '?')}, {len(runs)} runs "
        f"({counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed)"
    ]
    from mlpbench.analysis.answer import answer_lines, headline

    if not a.results.ok.empty:  # the answer in one sentence, before anything qualifies it
        lines += ["", *wrap(headline(a))]
    cautions = warnings(a)  # first: they qualify the verdict below
    if cautions:
        lines += ["", f"warnings: numbers that may not be trusted (see {TRUST}):"]
        lines += [f"  ! {w}" for w in cautions]
    lines += ["", *(wrapped for text in answer_lines(a) for wrapped in wrap(text))]
    s = a.summary
    names, several_hosts = host_names(a), a.primary_host is not None
    if s.empty:
        lines.append("no successful runs")
    else:
        lines += [
            "",
            "steady-state seconds per epoch (median over repeats, min-max; 95% CI when n >= 5)",
        ]
        # the columns below name these axes; any other that varies follows the series' name
        shown = ("batch_size", "dtype", "device", "threads", "variant", "layers")
        labels = [
            " ".join([series_name(r["backend"], r["options"], r["env"]),
                      *a.axes.words(r, skip=shown)])
            for r in s.to_dict("records")
        ]  # fmt: skip
        if several_hosts:  # a cluster sweep: a row per point and host
            labels = [f"{label}@{names.get(h, h)}" for label, h in zip(labels, s["host"])]
        bw = width(labels, 10)
        nets = s["layers"].nunique() > 1
        nw = width(s["layers"], 8) if nets else 0
        vw = width(s["variant"], 14)
        lines.append(
            f"{'backend':<{bw}}{'network':<{nw}}"[: bw + nw]
            + f"{'batch':>7} {'dtype':<9}{'dev':<4}{'thr':>4} {'variant':<{vw}}"
            f"{'n':>3}{'median':>9}{'min-max':>17}{'95% CI':>17}{'GFLOP/s':>9}"
            f"{'eff.':>7}{'test acc':>9}  spread"
        )
        for label, r in zip(labels, s.itertuples()):
            ci = "" if math.isnan(r.ci_low) else f"{r.ci_low:.3f}-{r.ci_high:.3f}"
            eff = "-" if math.isnan(r.efficiency) else f"{100 * r.efficiency:.0f}%"
            net = f"{r.layers:<{nw}}" if nets else ""
            # One repeat has no range and no spread: say so rather than print 0.175-0.175, 0%.
            span = f"{r.min_s:.3f}-{r.max_s:.3f}" if r.n > 1 else "1 repeat"
            spread = f"{100 * r.spread:4.0f}%" if r.n > 1 else "   -"
            lines.append(
                f"{label:<{bw}}{net}{r.batch_size:>7} {r.dtype:<9}{r.device:<4}{r.threads:>4} "
                f"{str(r.variant):<{vw}}{r.n:>3}{r.median_s:>9.3f}"
                f"{span:>17}{ci:>17}{_fmt(r.gflops, '.1f'):>9}"
                f"{eff:>7}{_fmt(r.test_accuracy, '.4f'):>9}  {spread}"
                + ("  unstable: rerun with more repeats" if r.unstable else "")
            )
        for other, ratios in judged(a).groupby("backend", sort=False):
            lines += [
                "",
                f"{a.reference}/{other} speed ratio ({other}'s time / {a.reference}'s, "
                f"> 1: {a.reference} faster; the median of the per-repeat ratios, each "
                f"repeat's pair run back to back, and its 95% interval; decided where the "
                f"interval lies on one side of 1; 'unpaired': under 2 pairs, the medians' ratio "
                f"and the widest bound; network {a.network})",
            ]
            for row, r in zip(ratios.to_dict("records"), ratios.itertuples()):
                variant = "" if r.variant == a.baseline else f" [{r.variant}]"
                variant += "".join(f" {w}" for w in a.axes.words(row, skip=shown))
                if several_hosts:
                    variant += f" @{names.get(r.host, r.host)}"
                d = r.decision
                if d.pairs < 2 and d.range_low == d.range_high:
                    span = "1 repeat: direction only"
                elif d.pairs < 2:
                    span = f"({d.range_low:.2f}-{d.range_high:.2f})  unpaired, not decided"
                elif d.decided:
                    span = f"({d.low:.2f}-{d.high:.2f}, 95%)  decided"
                else:
                    span = f"(range {d.range_low:.2f}-{d.range_high:.2f})  not decided: " + (
                        d.advice()
                    )
                lines.append(
                    f"  batch {r.batch_size:>6} {r.dtype:<8} {r.device} threads {r.threads:<3}"
                    f"{variant}: {r.ratio:5.2f}x  {span}"
                )
    hosts = host_ratios(a.summary)
    if not hosts.empty:
        lines += ["", "host vs host (median time over the first host's; > 1: slower)"]
        for r in hosts.itertuples():
            lines.append(
                f"  {r.backend} {r.layers} b={r.batch_size} {r.dtype} t={r.threads}: "
                f"{names.get(r.host, r.host)} / {names.get(r.base_host, r.base_host)} = "
                f"{r.ratio:.2f}x"
            )
    bad = a.results.not_run
    if len(bad):
        lines += ["", "not run:"]
        named = ("batch_size", "dtype", "device", "threads")
        for r in bad.to_dict("records"):
            more = a.axes.words(r, skip=named)  # every other varying axis: no two points alike
            lines.append(
                f"  {series_name(r['backend'], r['options'], r['env'])} b={r['batch_size']} "
                f"{r['dtype']} {r['device']} t={r['threads']}"
                + (f" ({', '.join(more)})" if more else "")
                + f" #{r['repeat']}: {r['status']}: {r['reason']}"
            )
    return lines


def compare_lines(rows: list[Any], a: str, b: str) -> list[str]:
    """compare's table: one line per point, then what the verdicts mean."""
    lines = [f"A = {a}", f"B = {b}", ""]
    vw = width((r.key.variant for r in rows), 12)
    lines.append(
        f"{'backend':<9}{'batch':>7} {'dtype':<8}{'dev':<4}{'thr':>4} {'variant':<{vw}}"
        f"{'A median':>10}{'B median':>10}{'B/A':>7}{'95% CI':>13}{'p':>8}{'Holm p':>8}"
        f"{'min p':>8}  verdict"
    )
    for r in rows:
        k = r.key
        ci = "-" if math.isnan(r.ci_low) else f"{r.ci_low:.2f}-{r.ci_high:.2f}"
        lines.append(
            f"{k.backend:<9}{k.batch_size:>7} {k.dtype:<8}{k.device:<4}{k.threads:>4} "
            f"{k.variant:<{vw}}{r.median_a:>10.4f}{r.median_b:>10.4f}{r.ratio:>7.2f}{ci:>13}"
            f"{r.p:>8.3f}{r.p_holm:>8.3f}{r.min_p:>8.4f}  {r.verdict}"
            + (f"; B's machine ran {r.machine:.2f}x slower too" if r.machine_moved else "")
            + ("; unstable: rerun with more repeats" if r.unstable else "")
            + (f"; profiled: {r.moved}" if r.moved else "")
        )
    lines += [
        "",
        f"{len(rows)} points; p: two-sided Mann-Whitney U over the repeats; Holm p: corrected "
        "across the points; min p: the smallest p these repeats can reach (untested when even "
        "it, corrected, is above alpha)",
    ]
    return lines


def gate_lines(gate: Any, threshold: float, rows: list[Any] | None = None) -> list[str]:
    """compare's closing lines: what the exit status stands on, and what it does not (the
    last line names the slowdowns these repeats could not decide, as the rows above show)."""
    pct = f"{100 * threshold:.0f}%"
    lines = [""]
    if gate.failing:
        lines.append(
            f"FAIL: {len(gate.failing)} point(s) slower by more than {pct} (significant on "
            "steady repeats, or the whole interval beyond the threshold): "
            + ", ".join(r.key.label() for r in gate.failing)
        )
    machine = [r for r in gate.undecided if r.machine_explains]
    rest = [r for r in gate.undecided if not r.machine_explains]
    shaky = [r for r in rest if not r.steady]
    untested = [r for r in rest if r.steady]
    say = "FAIL (--strict)" if gate.strict else "note"
    if untested:
        lines.append(
            f"{say}: {len(untested)} point(s) slower by more than {pct} but not significant at "
            "these repeats (add repeats: max_repeats in the sweep file): "
            + ", ".join(r.key.label() for r in untested)
        )
    if shaky:
        lines.append(
            f"{say}: {len(shaky)} point(s) slower by more than {pct} on repeats that spread or a "
            "machine that moved, with an interval reaching back inside the threshold (a "
            "significant p is not enough there): rerun both sides with more repeats on a quiet "
            "machine: " + ", ".join(r.key.label() for r in shaky)
        )
    if machine:
        worst = max(r.machine for r in machine)
        lines.append(
            f"{say}: {len(machine)} point(s) slower by no more than the machine itself: B's "
            f"GEMM peak ran up to {worst:.2f}x slower than A's (environment.json peaks), so "
            "these repeats cannot tell the code from the machine; rerun both sides on a quiet "
            "machine: " + ", ".join(r.key.label() for r in machine)
        )
    if gate.unstable:
        lines.append(
            f"{'FAIL (--strict)' if gate.strict else 'note'}: {len(gate.unstable)} unstable "
            "point(s) (repeats spread > 10%, or an interval wider than its effect)"
        )
    if gate.exit_code == 0:
        failing = {id(r) for r in gate.failing}
        hinted = [
            r for r in rows or []
            if str(r.verdict).startswith("slower") and id(r) not in failing
        ]  # fmt: skip
        if hinted:
            lines.append(
                f"ok (exit 0): no point decided slower by more than {pct}; but "
                f"{len(hinted)} point(s) look slower (up to {max(r.ratio for r in hinted):.2f}x) "
                "and these repeats cannot decide them: rerun with more repeats (or add "
                "--strict to fail on them)"
            )
        else:
            lines.append(f"ok: no point slower by more than {pct} by the gate's rules")
    return lines


def table_lines(rows: list[tuple[str, ...]], last_free: bool = True) -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    n = len(rows[0]) - (1 if last_free else 0)
    widths = [max(len(r[i]) for r in rows) for i in range(n)]
    return [
        ("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + "  ".join(r[n:])).rstrip()
        for r in rows
    ]


def run_summary_lines(s: dict[str, Any], device: str = "cpu") -> list[str]:
    """``mlpbench run``'s closing summary of one run (on a GPU, no BLAS thread line: the
    host's BLAS pool does not train the network there)."""
    n_steady = max(s["epochs"] - 1, 1)
    rows = [
        ("data", f"{s['dataset']}, {s['n_train']} training samples"),
        (
            "start-up",
            f"import {s['import_s']:.2f} s, build {s['setup_s']:.2f} s, "
            f"first epoch {s['first_epoch_s']:.3f} s",
        ),
        (
            "steady-state epoch",
            f"{s['steady_epoch_s']:.3f} s median (min {s['steady_epoch_min_s']:.3f}, max "
            f"{s['steady_epoch_max_s']:.3f}) over {n_steady} epochs",
        ),
        ("throughput", f"{s['samples_per_s']:,.0f} samples/s, {s['gflops']:.1f} GFLOP/s"),
        ("total training", f"{s['train_s']:.2f} s wall, {s['cpu_s']:.2f} s CPU"),
        (
            "final train loss",
            f"{s['final_loss']:.4f}"
            + ("" if math.isnan(s["final_accuracy"]) else f", accuracy {s['final_accuracy']:.4f}"),
        ),
        ("test", f"loss {s['test_loss']:.4f}, accuracy {s['test_accuracy']:.4f}"),
        (
            ("device", f"{device}; framework {s['framework_threads'] or '-'}")
            if device != "cpu"
            else (
                "threads",
                f"BLAS {s['blas']} with {s['blas_threads']} threads"
                + (f"; framework {s['framework_threads']}" if s["framework_threads"] else ""),
            )
        ),
        ("peak memory", f"{s['peak_rss_mb']:.0f} MiB"),
    ]
    if s.get("backend_info"):
        rows.append(("backend", s["backend_info"]))
    return ["summary", *(f"  {k:<19} {v}" for k, v in rows)]


def profile_lines(p: Profile, overhead: float = math.nan) -> list[str]:
    """A profiled run in the terminal: CPU milliseconds per training step by category (all
    threads), the step's wall time, the cores it kept busy, coverage and overhead."""
    if p.skipped:
        return [f"profile skipped: {p.skipped}"]
    total = sum(p.samples.values()) or 1
    lines = [
        "",
        f"where a step's CPU time goes ({p.tool}, {p.hz} samples/s per thread, steady epochs, "
        f"{p.steps} steps):",
        f"  {'category':<32}{'CPU ms/step':>12}{'share':>8}",
    ]
    for category, n in sorted(p.samples.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {category:<32}{1e3 * p.per_step(category):>12.3f}{n / total:>8.0%}")
    lines.append(
        f"  a step: {1e3 * p.step_s:.3f} ms of wall time, {p.cores_busy:.2f} cores busy; "
        f"samples cover {p.coverage:.0%} of the process's CPU time"
        + ("" if math.isnan(overhead) else f"; the profiled run took {overhead:.2f}x the timed")
    )
    if not p.coverage >= COVERAGE_LOW:
        lines.append("  ! under 80% covered: the categories may miss work")
    if p.sees:
        lines.append(f"  ! {p.sees}")
    return lines
