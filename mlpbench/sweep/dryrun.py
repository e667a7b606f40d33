"""What a sweep file will do, before it runs: its points, what this machine skips, and how
long it should take (``mlpbench sweep CONFIG --dry-run``). Nothing runs, nothing is written.

The estimate comes from the newest earlier run of each point in the results folder, scaled to
this sweep's epochs and training-set size; points never measured are counted as unknown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpbench.config import expand
from mlpbench.config.points import AXES, PointKey
from mlpbench.config.sweepfile import SweepConfig
from mlpbench.data import train_size
from mlpbench.errors import ResultsError
from mlpbench.render.format import duration
from mlpbench.results.store import environments, read_runs, result_folders


@dataclass
class Plan:
    cfg: SweepConfig
    keys: list[PointKey]
    skips: dict[PointKey, str]
    seconds: dict[PointKey, float] = field(default_factory=dict)  # per run, where known
    # per run, for a point never measured: the range over this backend's other points (on
    # the same device; any point where the backend never ran), scaled to this sweep
    guesses: dict[PointKey, tuple[float, float]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    # The work before the first point: GEMM calibrations, thread-plan slots to tune (not in
    # this machine's table), version stacks to build (not in the cache).
    calibrations: int = 0
    tuning: list[str] = field(default_factory=list)
    stacks: list[str] = field(default_factory=list)
    before_s: float | None = None  # that work, at this machine's earlier pace, where known

    @property
    def runs(self) -> int:
        return len(self.keys) * self.cfg.repeats

    def estimate_s(self) -> float:
        return sum(self.seconds.values()) * self.cfg.repeats

    def guessed_s(self) -> tuple[float, float]:
        """The never-measured points' runs together: (low, high)."""
        lo = sum(g[0] for g in self.guesses.values()) * self.cfg.repeats
        hi = sum(g[1] for g in self.guesses.values()) * self.cfg.repeats
        return lo, hi


def earlier_runs(root: Path) -> dict[PointKey, tuple[dict[str, Any], str]]:
    """The newest ok run of each point in ``root``'s result folders, and its folder."""
    found: dict[PointKey, tuple[dict[str, Any], str]] = {}
    for folder in result_folders(root):
        try:
            rows = read_runs(folder)
        except ResultsError:  # another schema, or damaged: not a basis for an estimate
            continue
        for row in reversed(rows):
            if row["status"] == "ok":
                found.setdefault(PointKey.from_row(row), (row, folder.name))
    return found


def earlier_pace(root: Path) -> tuple[float | None, float | None]:
    """Seconds per GEMM calibration and per tuned thread-plan slot, over the finished
    sessions the sweeps in ``root`` recorded (environment.json ``sessions``); None where none
    did that work."""
    totals = {"calibrate_s": 0.0, "calibrations": 0.0, "tune_s": 0.0, "tuned_slots": 0.0}
    for _, env in environments(root):
        for session in env.sessions:
            if session.finished:
                for k in totals:
                    totals[k] += float(getattr(session, k))
    calibrations, slots = totals["calibrations"], totals["tuned_slots"]
    return (
        totals["calibrate_s"] / calibrations if calibrations else None,
        totals["tune_s"] / slots if slots else None,
    )


def per_run_seconds(cfg: SweepConfig, row: dict[str, Any]) -> float:
    """An earlier run's time, scaled to this sweep's epochs and training-set size."""
    scale = train_size(cfg.data) / max(row["n_train"] or 1, 1)
    epochs = cfg.train.epochs
    fixed = (row["import_s"] or 0.0) + (row["setup_s"] or 0.0)
    return fixed + scale * (row["first_epoch_s"] + (epochs - 1) * row["steady_epoch_s"])


def guessed(
    cfg: SweepConfig, key: PointKey, earlier: dict[PointKey, tuple[dict[str, Any], str]]
) -> tuple[float, float] | None:
    """A range for a point never measured: its backend's other points on its device (else
    any point on its device), each scaled to this sweep's epochs and data and by the
    network's training FLOPs; None where nothing ran on that device."""
    def flops(layers: str) -> float:
        sizes = [int(n) for n in str(layers).split("-")]
        return float(sum(a * b for a, b in zip(sizes, sizes[1:])))

    same = [(k, r) for k, (r, _) in earlier.items() if k.device == key.device]
    mine = [(k, r) for k, r in same if k.backend == key.backend] or same
    if not mine:
        return None
    want = flops(key.layers)
    got = [per_run_seconds(cfg, r) * max(want / flops(k.layers), 1e-3) for k, r in mine]
    return min(got), max(got)


def make_plan(
    cfg: SweepConfig,
    skips: dict[tuple[str, str, str], str],
    root: Path,
    plans: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    """What the sweep will run, the time its points took before, and the work before them
    (``plans``: each backend's thread plans, from the preflight)."""
    keys = expand.keys(cfg)
    plan = Plan(
        cfg,
        keys,
        {
            k: skips[(k.backend, k.device, k.dtype)]
            for k in keys
            if (k.backend, k.device, k.dtype) in skips
        },
    )
    earlier = earlier_runs(Path(root))
    for key in keys:
        if key in plan.skips:
            plan.seconds[key] = 0.0
        elif key in earlier:
            row, folder = earlier[key]
            plan.seconds[key] = per_run_seconds(cfg, row)
            if folder not in plan.sources:
                plan.sources.append(folder)
        else:
            guess = guessed(cfg, key, earlier)
            if guess is not None:
                plan.guesses[key] = guess
    plan.calibrations = len({(k.env, k.dtype, k.threads, k.device) for k in keys})
    if plans and os.environ.get("MLPBENCH_TUNE") != "0":
        from mlpbench.api import plancache
        from mlpbench.sweep import tuning

        table = plancache.read(plancache.this_machine())
        wanted = {
            tuning.slot(k): k.label()
            for k in keys
            if plans.get(k.backend) and k not in plan.skips
            and expand.point(cfg, k, 0).run.options.get("plan", tuning.AUTO) == tuning.AUTO
        }  # fmt: skip
        plan.tuning = [label for key, label in wanted.items() if key not in table]
    per_calibration, per_slot = earlier_pace(Path(root))
    if per_calibration is not None and (per_slot is not None or not plan.tuning):
        plan.before_s = per_calibration * plan.calibrations + (per_slot or 0.0) * len(plan.tuning)
    from mlpbench.stacks import build as stacks

    plan.stacks = [
        name
        for name in dict.fromkeys(k.env for k in keys)
        if name in cfg.environments and stacks.cached(cfg.environments[name]) is None
    ]
    return plan


def render(plan: Plan, limit: int = 64) -> list[str]:
    """The plan as lines of text (the caller prints them)."""
    cfg = plan.cfg
    values = {a: list(dict.fromkeys(getattr(k, a) for k in plan.keys)) for a in AXES}
    varying = [a for a in AXES if len(values[a]) > 1]
    fixed = [a for a in AXES if len(values[a]) == 1]
    lines = [
        f"{cfg.name} ({cfg.path}){': ' + cfg.description if cfg.description else ''}",
        f"{len(plan.keys)} points x {cfg.repeats} repeat{'s' if cfg.repeats != 1 else ''} "
        f"= {plan.runs} runs; {cfg.data.dataset}, {train_size(cfg.data)} training samples, "
        f"{cfg.train.epochs} epochs, timeout {cfg.timeout_s:g} s per run",
        "varies: " + (" | ".join(f"{a} {', '.join(map(str, values[a]))}" for a in varying) or "-"),
        "fixed:  " + " | ".join(f"{a} {values[a][0]}" for a in fixed),
        "",
    ]
    shown = varying or ["backend"]
    widths = {a: max(len(a), *(len(str(getattr(k, a))) for k in plan.keys)) for a in shown}
    lines.append("  ".join(a.ljust(widths[a]) for a in shown) + "  per run")
    for key in plan.keys[:limit]:
        cells = "  ".join(str(getattr(key, a)).ljust(widths[a]) for a in shown)
        if key in plan.skips:
            note = f"skipped here: {plan.skips[key]}"
        elif key in plan.seconds:
            note = duration(plan.seconds[key])
        elif key in plan.guesses:
            lo, hi = plan.guesses[key]
            note = f"{duration(lo)} to {duration(hi)} (never measured: from other points)"
        else:
            note = "unknown"
        lines.append(f"{cells}  {note}")
    if len(plan.keys) > limit:
        lines.append(f"... and {len(plan.keys) - limit} more points")
    lines.append("")
    before = [f"the GEMM peak of {plan.calibrations} (dtype, threads, device) combination(s)"]
    if plan.tuning:
        before.append(
            f"tuning the thread plans of {len(plan.tuning)} point(s) this machine's table "
            "lacks (one trial per plan each; MLPBENCH_TUNE=0 skips it)"
        )
    if plan.stacks:
        before.append(f"building the version stack(s) {', '.join(plan.stacks)} (cached after)")
    pace = (
        f" (about {duration(plan.before_s)} at this machine's pace in earlier sweeps)"
        if plan.before_s is not None
        else ""
    )
    lines.append("before the points: " + "; ".join(before) + pace)
    measured = [k for k in plan.keys if k in plan.seconds and k not in plan.skips]
    unknown = sum(1 for k in plan.keys if k not in plan.seconds and k not in plan.guesses)
    if unknown and not measured and not plan.guesses:
        lines.append(
            "estimate: unknown (no earlier run on this device in the results folder; "
            "a first sweep gives one)"
        )
    else:
        lo, hi = plan.guessed_s()
        total_lo, total_hi = plan.estimate_s() + lo, plan.estimate_s() + hi
        total = (
            duration(total_lo) if total_lo == total_hi
            else f"{duration(total_lo)} to {duration(total_hi)}"
        )  # fmt: skip
        parts = [f"{len(measured) * cfg.repeats} measured before: {duration(plan.estimate_s())}"]
        if plan.guesses:
            parts.append(
                f"{len(plan.guesses) * cfg.repeats} never measured: {duration(lo)} to "
                f"{duration(hi)}, from other points of their backend"
            )
        if unknown:
            parts.append(f"{unknown} point(s) with nothing to go by, not counted")
        lines.append(
            f"estimate: {total} for the {plan.runs} runs ({'; '.join(parts)}), plus the work "
            "before the points"
            + (f" (from {', '.join(plan.sources)})" if plan.sources else "")
        )
    if plan.skips:
        lines.append(f"{len(plan.skips)} point(s) will be skipped on this machine (reason above)")
    lines.append("dry run: nothing was run and nothing was written")
    return lines
