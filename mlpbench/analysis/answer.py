"""The first lines a reader gets, in the terminal, report.html and a results page: what was
measured, what is decided, what is not and which command decides it, and why, in one sentence
each. Built from the verdict and the cost model; nothing here is a number typed by hand."""

from __future__ import annotations

from mlpbench.analysis import costs
from mlpbench.analysis.findings import gpu_answer, verdict_rows, version_findings
from mlpbench.analysis.profiles import why_measured
from mlpbench.analysis.tables import Analysis
from mlpbench.analysis.wording import threads_label
from mlpbench.config.points import AXES, series_name

ARTICLE = (
    "The article this tool began with (a 2020 blog post setting a hand-written NumPy MLP "
    "against the same network in Keras/TF2) trained MNIST on 784-70-30-10 sigmoid, L2 0.01, "
    "RMSprop, batch 500, 35 epochs; `mlpbench sweep seed2020` runs that workload and sets our "
    "times beside its own."
)


def measured(a: Analysis) -> str:
    ok = a.results.ok
    if ok.empty:
        return "Measured: nothing ran successfully."
    present = list(dict.fromkeys(a.main["backend"]))
    backends = ", ".join(sorted(present, key=lambda b: b != a.reference))
    batches = ", ".join(str(int(b)) for b in sorted(ok["batch_size"].unique()))
    repeats = int(ok.groupby(list(AXES))["repeat"].nunique().max())
    n = int(ok["n_train"].max())
    fixed = a.axes.header(skip=("batch_size",))
    return (
        f"Measured: {backends} on {ok['dataset'].iloc[0]} ({n:,} training samples), "
        f"{int(ok['epochs'].max())} epochs a run (the steady epoch compared: epochs 2 on), batch "
        f"{batches}{'; ' + fixed if fixed else ''}; {repeats} repeat(s), the backends run in "
        "turn within each repeat so each pair of runs gives one ratio."
    )


def decided(a: Analysis) -> list[str]:
    """The decided and undecided verdicts in words (each decided at 95% on its per-pair
    ratios), with what would decide the rest, computed for them."""
    rows = verdict_rows(a)
    if not rows:
        return ["Decided: nothing (no two backends ran the same points)."]
    ref = a.reference
    yes = [v for v in rows if v.decision.decided]
    no = [v for v in rows if not v.decision.decided]
    out = []
    if yes:
        parts = []
        for label in dict.fromkeys(v.label for v in yes):
            mine = [v for v in yes if v.label == label]
            for ref_wins in (True, False):
                at = [v for v in mine if v.decision.reference_wins == ref_wins]
                if not at:
                    continue
                ratios = ", ".join(
                    f"batch {v.batch} {v.magnitude}"
                    + (f" [{'; '.join(v.caveats)}]" if v.caveats else "")
                    for v in at
                )
                who = f"{ref} is faster than {label}" if ref_wins else (
                    f"{label} is faster than {ref}")
                parts.append(f"{who} at {ratios}")
        out.append(
            f"Decided ({len(yes)} of {len(rows)}, at 95%: the interval of the median per-pair "
            f"ratio lies on one side of 1; a ratio is the other's time over {ref}'s): "
            + "; ".join(parts)
            + "."
        )
    else:
        out.append(f"Decided: none of the {len(rows)} comparisons at 95%.")
    if no:
        fewest = min(v.decision.pairs for v in no)
        needs = [v.decision.needed for v in no if v.decision.needed]
        ties = sum(v.decision.needed is None for v in no)
        listed = (
            "; ".join(f"{v.label} at batch {v.batch} ({v.words})" for v in no)
            if len(no) <= 6
            else ", ".join(
                f"{sum(v.words == w for v in no)} {w}" for w in dict.fromkeys(v.words for v in no)
            )
            + " (the table below lists them)"
        )
        advice = []
        if needs:
            advice.append(
                f"{min(needs)} to {max(needs)} pairs would decide "
                f"{len(needs)} of them at their present spread (they have {fewest} or more): "
                f"set `repeats = {max(needs)}` (or `max_repeats`) in the sweep file and run "
                "`mlpbench sweep FILE` again"
            )
        if ties:
            advice.append(
                f"{ties} fall on both sides of 1 so evenly that more repeats would not decide "
                "them: a tie at this precision"
            )
        out.append(f"Not decided ({len(no)} of {len(rows)}): {listed}. " + "; ".join(advice) + ".")
    return out


def why(a: Analysis) -> str:
    """One sentence of why: each series' per-step cost (fixed + per sample), where fitted."""
    c = a.costs.dropna(subset=["fixed_s"])
    if c.empty:
        return (
            "Why: the cost model needs 3 or more batch sizes; the findings below split the "
            "time by phase and by engine where the sweep measured them."
        )
    top = c[c["threads"] == c["threads"].max()]
    dtype = "float32" if (top["dtype"] == "float32").any() else top["dtype"].iloc[0]
    top = top[top["dtype"] == dtype]
    parts = []
    for r in top.to_dict("records"):
        name = series_name(r["backend"], r["options"], r["env"])
        where = f" on the {r['device'].upper()}" if "device" in a.axes.varying else ""
        regime = costs.regime(r["fixed_s"], r["per_sample_s"], list(r["batch_sizes"]))
        parts.append(
            f"{name}{where} {1e3 * r['fixed_s']:.2g} ms + {1e6 * r['per_sample_s']:.2g} us a "
            f"sample ({regime})"
        )
    return (
        "Why: a training step costs a fixed part (Python, dispatch, launches) plus a part per "
        "sample (the arithmetic); fitted over the batch sizes: " + "; ".join(parts) + "."
    )


def _batches(values: list[int], everywhere: list[int]) -> str:
    if values == everywhere and len(values) > 1:
        return "every batch size"
    return "batch " + ", ".join(str(b) for b in values)


def headline(a: Analysis) -> str:
    """The answer in one sentence, the first line of every rendering: on a sweep over devices
    whether to train on the GPU; else, per other series, where the reference is faster and
    where slower, decided at 95%, with the span of the decided ratios."""
    gpu = gpu_answer(a)
    if gpu:
        return gpu
    rows = verdict_rows(a)
    if not rows:
        stacks = version_findings(a)
        return stacks[0] if stacks else measured(a)
    ref, clauses = a.reference, []
    where = f"{rows[0].dtype}, {threads_label(rows[0].threads)}"
    if not any(v.decision.decided for v in rows):
        series = list(dict.fromkeys(v.series for v in rows))
        return (
            f"Nothing is decided at 95% yet ({where}): {ref} against {', '.join(series)} at "
            f"{len(rows)} point(s): too few repeats, or too close to call; the verdict below "
            "says how many repeats would decide each."
        )
    for label in dict.fromkeys(v.series for v in rows):
        mine = [v for v in rows if v.series == label]
        every = [v.batch for v in mine]
        ahead = [v for v in mine if v.decision.reference_wins]
        behind = [v for v in mine if v.decision.other_wins]
        open_ = len(mine) - len(ahead) - len(behind)
        parts = []
        if ahead:
            span = _span([v.decision.ratio for v in ahead])
            parts.append(f"faster than {label} at {_batches([v.batch for v in ahead], every)} "
                         f"({span})")  # fmt: skip
        if behind:
            span = _span([1 / v.decision.ratio for v in behind])
            who = "slower" if ahead else f"slower than {label}"
            parts.append(f"{who} at {_batches([v.batch for v in behind], every)} ({span})")
        if open_ and (ahead or behind):
            rest = [b for b in every if b not in {v.batch for v in ahead + behind}]
            parts.append(f"undecided at {_batches(rest, every)}")
        elif open_:
            parts.append(f"undecided against {label}")
        clauses.append(", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1
                       else parts[0])  # fmt: skip
    decided_n = sum(v.decision.decided for v in rows)
    return (
        f"{ref} is " + "; ".join(clauses) + f" ({where}; {decided_n} of {len(rows)} "
        "comparisons decided at 95%; each figure is the slower one's time per epoch over the "
        "faster one's)."
    )


def _span(ratios: list[float]) -> str:
    lo, hi = f"{min(ratios):.2f}", f"{max(ratios):.2f}"
    return f"{lo}x" if lo == hi else f"{lo}-{hi}x"


def answer_lines(a: Analysis) -> list[str]:
    """What was measured, what is decided and what not (with the command that decides it),
    why, and what the article is: the lines under :func:`headline` in every rendering (which
    already says, on a sweep over devices, whether to train on the GPU)."""
    if a.results.ok.empty:
        return [measured(a)]
    sampled = why_measured(a)  # where profiled: the category that makes the difference
    return [measured(a), *decided(a), *([sampled] if sampled else []), why(a), ARTICLE]
