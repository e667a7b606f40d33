"""Findings as data: the one decision rule, the verdict rows, the conditions a number was
measured in, and every finding of a result set as a typed :class:`Finding` (its kind, its
sentence, and for a comparison the :class:`Decision` it rests on), in one order. The
terminal, the Markdown page and report.html only lay them out (report.html groups them by kind
and folds all but the first ten).

Why one rule: a page that says "not settled" above a finding that names a winner is worse than
either alone. A comparison is decided when the 95% interval of the median of its per-pair
ratios (the sign-test interval the gate uses, exact for any distribution) lies wholly on one
side of 1. Under ``MIN_PAIRS`` pairs no 95% interval exists: the comparison is undecided and
says how many pairs would decide it, computed from its own ratios.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpbench.analysis import costs
from mlpbench.analysis.axes import CONTEXT
from mlpbench.analysis.stats import CONFIDENCE, median_interval, order_index
from mlpbench.analysis.wording import percent, seconds, threads_label, times
from mlpbench.config.points import series_name

if TYPE_CHECKING:
    from mlpbench.analysis.tables import Analysis

MIN_PAIRS = 6
"""The fewest pairs whose sign-test interval of the median can cover 95%."""
MAX_PAIRS = 60
"""Past this many pairs a comparison whose ratios fall on both sides of 1 is called a tie in
all but name: the advice says so instead of naming a number of repeats."""


@dataclass(frozen=True)
class Decision:
    """One comparison's per-pair ratios (other's time over the reference's), judged."""

    ratio: float  # the median of the per-pair ratios (the medians' ratio under 2 pairs)
    low: float  # the 95% interval of that median (NaN: too few pairs for one)
    high: float
    range_low: float  # the lowest and highest per-pair ratio
    range_high: float
    pairs: int
    needed: int | None  # pairs that would decide it at this spread; None: decided or hopeless

    @property
    def decided(self) -> bool:
        return not math.isnan(self.low) and (self.low > 1 or self.high < 1)

    @property
    def reference_wins(self) -> bool:
        return self.decided and self.low > 1

    @property
    def other_wins(self) -> bool:
        return self.decided and self.high < 1

    def interval(self) -> str:
        """``95% interval 1.12-1.19``, or why there is none."""
        if self.pairs < 2:
            return "1 repeat, no range: a direction, not a verdict"
        if math.isnan(self.low):
            return f"{self.pairs} pair(s): too few for a 95% interval (it needs {MIN_PAIRS})"
        return f"95% interval {self.low:.2f}-{self.high:.2f}"

    def advice(self) -> str:
        """What would decide it, computed from its own ratios ("" when decided)."""
        if self.decided:
            return ""
        if self.needed is None:
            return (
                f"its ratios fall on both sides of 1 so evenly that even {MAX_PAIRS} pairs "
                "would not decide it: call it a tie"
            )
        more = self.needed - self.pairs
        return f"about {more} more repeat(s) ({self.needed} pairs) would decide it"


def pairs_needed(ratios: Sequence[float]) -> int | None:
    """For an undecided comparison: the fewest pairs, more than it has, whose 95% sign-test
    interval would exclude 1 if the ratios kept falling on each side of 1 in today's
    proportion; None past ``MAX_PAIRS`` (a tie)."""
    x = np.asarray([r for r in ratios if r == r], dtype=float)
    n = len(x)
    if n == 0:
        return MIN_PAIRS
    above, below = int((x > 1).sum()), int((x < 1).sum())
    minority = (min(above, below) + 0.5 * (n - above - below)) / n
    for m in range(max(MIN_PAIRS, n + 1), MAX_PAIRS + 1):
        k = order_index(m)
        if k and math.ceil(minority * m - 1e-9) < k:
            return m
    return None


def decide(ratios: Sequence[float], unpaired: tuple[float, float, float] | None = None) -> Decision:
    """The per-pair ratios judged at 95%. ``unpaired`` (ratio, low, high): the medians' ratio
    and its widest bound, for a comparison with fewer than 2 pairs (never decided)."""
    x = [float(r) for r in ratios if r == r]
    if len(x) < 2:
        ratio, lo, hi = unpaired if unpaired else (x[0] if x else math.nan,) * 3
        return Decision(ratio, math.nan, math.nan, lo, hi, len(x), MIN_PAIRS)
    lo, hi = median_interval(x, CONFIDENCE)
    decision = Decision(float(np.median(x)), lo, hi, min(x), max(x), len(x), None)
    if decision.decided:
        return decision
    return Decision(
        decision.ratio, lo, hi, decision.range_low, decision.range_high, len(x), pairs_needed(x)
    )


@dataclass(frozen=True)
class Verdict:
    """The reference against one other series at one batch size, decided or not."""

    other: str  # the other backend
    label: str  # the other series as every renderer names it
    series: str  # the same without the dtype and threads every verdict row shares
    device: str
    batch: int
    dtype: str
    threads: int
    decision: Decision
    reference: str
    caveats: tuple[str, ...] = ()  # the warnings that touch this point, in a few words

    @property
    def words(self) -> str:
        """The verdict in a few words."""
        d = self.decision
        if d.pairs < 2:
            return "1 repeat: direction only"
        if d.reference_wins:
            return f"{self.reference} faster"
        if d.other_wins:
            return f"{self.other} faster"
        if math.isnan(d.low):
            return f"not decided ({d.pairs} pairs; a 95% interval needs {MIN_PAIRS})"
        return "not settled (the 95% interval spans 1)"

    @property
    def magnitude(self) -> str:
        """The ratio as a page may print it: never without its interval where the repeats
        spread wide or nothing is decided."""
        d = self.decision
        if d.decided:
            return f"{d.ratio:.2f}x ({d.low:.2f}-{d.high:.2f})"
        return f"{d.ratio:.2f}x by the median, undecided"


def judged(a: Analysis) -> pd.DataFrame:
    """``a.ratios`` with each row's :class:`Decision` (column ``decision``), and its 95%
    interval and whether it is decided as columns: what every renderer reads a verdict from."""
    r = a.ratios.copy()
    r["decision"] = [
        decide(p if len(p) >= 2 else [], (x, lo, hi))
        for p, x, lo, hi in zip(r["paired"], r["ratio"], r["ratio_low"], r["ratio_high"])
    ] if len(r) else []  # fmt: skip
    r["ci_low"] = [d.low for d in r["decision"]]
    r["ci_high"] = [d.high for d in r["decision"]]
    r["decided"] = [d.decided for d in r["decision"]]
    return r


def verdict_rows(a: Analysis) -> list[Verdict]:
    """Per other backend and batch size (float32 where measured, most threads, baseline
    variant): the decision on its per-pair ratios."""
    r = judged(a)
    if r.empty:
        return []
    r = r[r["variant"].astype(str) == a.baseline] if "variant" in r else r
    dtype = "float32" if (r["dtype"] == "float32").any() else r["dtype"].iloc[0]
    r = r[(r["dtype"] == dtype) & (r["threads"] == r["threads"].max())]
    touched = point_caveats(a)
    out = []
    for row in r.sort_values(["device", "backend", "batch_size"]).itertuples():
        values = row._asdict()  # every context axis: no two verdicts alike
        point = {**{x: values[x] for x in CONTEXT if x in values}, "backend": row.backend,
                 "dtype": dtype}  # fmt: skip
        label = a.axes.label(point, skip=("batch_size",), always=("dtype", "threads"))
        series = a.axes.label(point, skip=("batch_size", "dtype", "threads"))
        caveats = tuple(
            dict.fromkeys(
                c for b in (a.reference, row.backend) for c in touched.get(caveat_key(point, b), [])
            )
        )
        out.append(
            Verdict(
                other=str(row.backend),
                label=label,
                series=series or str(row.backend),
                device=str(row.device),
                batch=int(row.batch_size),
                dtype=dtype,
                threads=int(row.threads),
                decision=row.decision,
                reference=a.reference,
                caveats=caveats,
            )
        )
    return out


POINT_AXES = tuple(a for a in CONTEXT if a != "variant")
"""What tells a backend's points apart in a verdict (the baseline variant's)."""


def caveat_key(row: Mapping[str, Any], backend: str) -> tuple[str, ...]:
    """``backend``'s point at ``row``'s values of every other axis, as text."""
    def text(value: Any) -> str:
        whole = isinstance(value, float) and value.is_integer()  # 500.0 in a pivoted frame
        return str(int(value) if whole else value)

    return (str(backend), *(text(row.get(axis, "")) for axis in POINT_AXES))


def point_caveats(a: Analysis) -> dict[tuple[str, ...], list[str]]:
    """(backend, every other axis) -> what makes its number doubtful, in a few words
    (unstable repeats, runs on a loaded machine, drift of its GEMM peak)."""
    from mlpbench.analysis.tables import NOISY_LOAD_PCT, NOISY_STEAL_PCT, drift

    out: dict[tuple[str, ...], list[str]] = {}

    def key(r: Mapping[str, Any]) -> tuple[str, ...]:
        return caveat_key(r, str(r["backend"]))

    s = a.summary
    for r in s.to_dict("records") if not s.empty else []:
        if r["unstable"]:  # spread beyond stats.UNSTABLE_SPREAD
            out.setdefault(key(r), []).append(
                f"{r['backend']} unstable ({100 * r['spread']:.0f}% spread)"
            )
    ok = a.results.ok
    if "other_load_pct" in ok and len(ok):
        noisy = ok[(ok["other_load_pct"] > NOISY_LOAD_PCT) | (ok["steal_pct"] > NOISY_STEAL_PCT)]
        for r in noisy.to_dict("records"):
            words = out.setdefault(key(r), [])
            if f"{r['backend']} ran under load" not in words:
                words.append(f"{r['backend']} ran under load")
    drifted = {(d["key"][0], d["key"][1], d["key"][2]) for d in drift(a.results.env)}
    for r in s.to_dict("records") if not s.empty else []:
        if (str(r["device"]), str(r["dtype"]), int(r["threads"])) in drifted:
            words = out.setdefault(key(r), [])
            if "GEMM peak drifted" not in words:
                words.append("GEMM peak drifted")
    return out


def gpu_answer(a: Analysis) -> str:
    """One sentence answering "should I train this on the GPU?" per series, where the sweep
    ran both devices ("" where it did not): from which batch the GPU pays off, and how much
    faster it is at its best; or that it does not pay off in this sweep."""
    table = a.gpu_speedups
    if table.empty:
        return ""
    yes, no = [], []
    skip = ("batch_size", "device")
    for key, g in a.axes.groups(table, by=("backend", "options", "env"), skip=skip):
        label = a.axes.label(key, skip=(*skip, "threads"))
        best = g.loc[g["speedup"].idxmax()]
        first = costs.pays_off_from(g)
        if first:
            yes.append(
                f"{label} from batch {first} ({best['speedup']:.1f}x faster at batch "
                f"{int(best['batch_size'])})"
            )
        else:
            no.append(
                f"{label} (at best {best['speedup']:.2f}x, at batch {int(best['batch_size'])})"
            )
    parts = []
    if yes:
        parts.append("train on the GPU with " + "; ".join(yes))
    if no:
        parts.append("the GPU does not pay off in this sweep for " + "; ".join(no))
    text = "; and ".join(parts)
    return f"Should you train on the GPU? {text[:1].upper()}{text[1:]}."


@dataclass(frozen=True)
class Finding:
    """One finding: what it is about (one of :data:`KINDS`' names), its sentence, and for a
    comparison of two series the decision it rests on and the winner it names. A finding
    names a winner only where its decision decides it: built otherwise, it raises."""

    kind: str
    text: str
    decision: Decision | None = None
    winner: str = ""  # the series it says is faster ("": it names none)

    def __post_init__(self) -> None:
        if self.winner and (self.decision is None or not self.decision.decided):
            raise ValueError(f"a finding names {self.winner!r} faster on an undecided comparison")


VERDICT = "the verdict in words"


_x = times


def verdict_findings(a: Analysis) -> list[Finding]:
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
                out.append(Finding(VERDICT,
                    f"At batch size 500 ({where}) {ref} is {_x(factor)} {word} than {other} "
                    f"per epoch (median of {d.pairs} pairs; {d.interval()}).",
                    d, ref if d.reference_wins else other))  # fmt: skip
            else:
                out.append(Finding(VERDICT,
                    f"At batch size 500 ({where}) {ref} against {other} is not decided: "
                    f"{other} takes {d.ratio:.2f}x {ref}'s time by the median of {d.pairs} "
                    f"pair(s), {d.interval()}; {d.advice()}.", d))  # fmt: skip
        wins = r["decision"].map(lambda d: d.other_wins)
        decided = r[wins]
        hinted = r[(r["ratio"] < 1) & ~wins]
        lo, hi = int(r["batch_size"].min()), int(r["batch_size"].max())
        if not decided.empty:
            first = decided.iloc[0]
            d = first["decision"]
            out.append(Finding(VERDICT,
                f"{other} is faster than {ref} from batch size {int(first['batch_size'])} "
                f"({where}): {_x(1 / d.ratio)} faster (its time over {ref}'s: "
                f"{d.interval()}).", d, other))  # fmt: skip
        elif not hinted.empty:
            batches = ", ".join(str(int(b)) for b in hinted["batch_size"])
            out.append(Finding(VERDICT,
                f"{other} may be faster than {ref} at batch {batches} ({where}), but the "
                "repeats do not decide it at 95% (too few pairs, or an interval that spans 1): "
                + "; ".join(
                    dict.fromkeys(d.advice() for d in hinted["decision"] if d.advice())
                )
                + "."
            ))
        else:
            best = r.loc[r["ratio"].idxmin()]
            settled = bool(r["decision"].map(lambda d: d.reference_wins).all())
            out.append(Finding(VERDICT,
                f"{other} does not overtake {ref} anywhere from batch {lo} to {hi} ({where}); "
                f"at best it takes {best['ratio']:.2f}x {ref}'s time, at batch "
                f"{int(best['batch_size'])}"
                + ("." if settled else " (by the medians; the repeats do not settle every "
                   "batch: rerun with more repeats to decide).")
            ))
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


KINDS: tuple[tuple[str, Callable[[Analysis], Sequence[str | Finding]]], ...] = (
    ("version stacks", version_findings),
    (VERDICT, verdict_findings),
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
    return [
        item if isinstance(item, Finding) else Finding(kind, item)
        for kind, make in KINDS
        for item in make(a)
    ]


def findings(a: Analysis) -> list[str]:
    """The findings' sentences, in order (the terminal and the Markdown page)."""
    return [f.text for f in found(a)]
