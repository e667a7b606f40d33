"""Thread plans chosen by measurement, per machine (``mlpbench tune``).

A backend may offer ways to use the machine's threads, each a set of environment variables
(read before its libraries load) and backend options, through a classmethod
``thread_plans() -> {name: {"env": {...}, "options": {...}}}``. Which plan is fastest depends on
the machine (OpenBLAS's idle threads sleeping won on a 2-core AMD EPYC and lost on a 2-core
Xeon with AVX-512), so nothing is assumed: ``tune`` runs every plan for a few hundred steps,
each in a fresh process pinned like a point, per (backend, network, dtype, threads, batch),
runs the ones within 10% of the fastest once more (against noise), and keeps the fastest in a
cache per machine fingerprint (the user's cache folder). A sweep tunes what its points need
before they run, copies the table into environment.json, and runs each point with its plan
(``-o plan=NAME`` forces one); runs.csv records the plan used.

Which plans can run a given point differently (a padding plan is its unpadded sibling on
widths that are multiples already) is the backend's knowledge: a classmethod
``plans_that_differ(threads=, batch_size=, widths=) -> [names]``, asked in the preflight's fresh
process; tune measures only those. This module names no backend and no backend option.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlpbench.api import plancache
from mlpbench.config.points import PointKey

if TYPE_CHECKING:
    from mlpbench.api.spec import RunSpec
    from mlpbench.config.expand import Point
    from mlpbench.results.point import PointResult

from mlpbench.results.environment import PlanEntry

AUTO = plancache.AUTO
TUNE_ENV = plancache.TUNE_ENV  # "0": no tuning; points without a forced plan run the defaults
TUNE_STEPS = 100  # steps per trial epoch: one to warm up, one measured, per candidate
TUNE_FLOPS = 2e10  # GEMM work per trial epoch, at most: 0.1-0.2 s on 2 cores
CLOSE = 0.10  # plans this close to the fastest are measured a second time
TUNED = "tuned on this machine"
"""What ``resolve``'s line says of a plan the table chose (not named with ``-o plan``)."""
LOADED_PCT = 10.0
"""Other processes' share of the CPU during a trial above which its point's choice is
provisional: used for this run, never cached (under load the spinning plans lose, and a table
tuned so once made the quiet machine 2-3x slower)."""
STALE_TOLERANCE = 0.5
"""A run whose steady epoch departs from its plan's prediction by more than this fraction
marks the cached entry stale: it is tuned again next time. (A trial is a short subset epoch;
its spread between two trials is a few %, but a subset and the full epoch differ by more.)"""


fingerprint = plancache.fingerprint
cache_path = plancache.cache_path
read_cache = plancache.read
write_cache = plancache.write


def slot(key: PointKey) -> str:
    """The cache's key for a point: what a plan's speed depends on."""
    return plancache.slot(
        key.backend, key.layers, key.dtype, key.device, key.threads, key.batch_size
    )


def is_current(table: Mapping[str, PlanEntry], point: Any, plans: Mapping[str, Any]) -> bool:
    """Whether ``table`` holds a choice for the point made among the plans offered now (a plan
    added since, or one gone, means measuring again)."""
    entry = table.get(slot(point.key))
    return (
        entry is not None
        and list(entry.candidates) == sorted(plans)
        and not entry.provisional  # tuned under load: for that run only
        and not entry.stale  # a run since measured far from its prediction
    )


def plans_apply(device: str) -> bool:
    """Whether a thread plan has a say on ``device``: it sets CPU threads and BLAS variables,
    so on a GPU none is chosen, tuned or looked up (the one rule `run`, the sweep and tune
    share)."""
    return device == "cpu"


def needs_plan(point: Any, plans: dict[str, dict[str, Any]]) -> bool:
    """Whether the point's plan is to be chosen by measurement: a backend with plans, no plan
    named, on a device plans apply to."""
    return (
        bool(plans)
        and point.run.options.get("plan", AUTO) == AUTO
        and plans_apply(point.key.device)
    )


def settings(
    options: dict[str, Any], name: str, plans: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """``options`` with plan ``name``'s options (and its name), and the environment variables
    the plan needs before the backend's libraries load: its own, and None (unset) for each one
    only other plans set, so that a variable in the caller's shell cannot turn one plan into
    another (``spin`` under ``OPENBLAS_THREAD_TIMEOUT=4`` would be ``sleep``)."""
    plan = plans[name]
    merged = {**options, **plan.get("options", {}), "plan": name}
    env: dict[str, str | None] = {k: None for p in plans.values() for k in p.get("env", {})}
    env.update({k: str(v) for k, v in plan.get("env", {}).items()})
    return merged, env


def environment_mismatch(
    plans: dict[str, dict[str, Any]], name: str, environ: Mapping[str, str]
) -> list[str]:
    """What ``environ`` must change for plan ``name`` to run as it says, in ``env``'s own
    syntax: ``VAR=value`` for a variable it needs, ``-u VAR`` for one it needs unset. Empty:
    the plan runs as named here."""
    _, env = settings({}, name, plans)
    return [
        f"-u {k}" if v is None else f"{k}={v}"
        for k, v in sorted(env.items())
        if environ.get(k) != v
    ]


def with_plan(point: Any, name: str, plans: dict[str, dict[str, Any]]) -> tuple[Any, dict]:
    """The point with the plan's options (and its name) and the environment its worker needs
    (None: unset)."""
    options, env = settings(dict(point.run.options), name, plans)
    return replace(point, run=replace(point.run, options=options)), env


def planned_point(
    point: Point, plans_of: dict[str, dict[str, Any]], table: Mapping[str, PlanEntry]
) -> tuple[Point, dict[str, str | None]]:
    """The point as it runs: with its backend's plan (forced by -o plan=NAME, else the tuned
    choice in ``table``) and the environment that plan needs; unchanged for a backend without
    plans, or on a device where CPU thread plans do not apply."""
    offered = plans_of.get(point.key.backend, {})
    if not offered:
        return point, {}
    name = point.run.options.get("plan", AUTO)
    if name == AUTO and not plans_apply(point.key.device):
        return point, {}
    if name == AUTO:
        entry = table.get(slot(point.key))
        name = entry.choice if entry else ""
    if name not in offered:
        return point, {}
    return with_plan(point, name, offered)


def trial(point: Any) -> Any:
    """A short run of the point for tuning, 2 epochs (the first warms up; the second is the
    measured steady state) of TUNE_STEPS steps, fewer where they would cost more than
    TUNE_FLOPS (wide networks: there a step is long enough to time alone), at least one."""
    from mlpbench.data import train_size

    b = point.key.batch_size
    per_step = point.run.model.flops_per_sample()[1] * b
    steps = max(1, min(TUNE_STEPS, int(TUNE_FLOPS // per_step)))
    n = min(train_size(point.run.data), b * steps)
    data = replace(point.run.data, subset=n)
    return replace(
        point, run=replace(point.run, data=data, train=replace(point.run.train, epochs=2))
    )


def tune(
    points: list[Any],
    plans_of: dict[str, dict[str, dict[str, Any]]],
    run: Any,
    table: dict[str, PlanEntry],
    force: bool = False,
    differing: Callable[[PointKey], list[str]] | None = None,
) -> dict[str, PlanEntry]:
    """Measure every plan of each point's backend where ``table`` has no choice yet (or
    ``force``); returns the table, ``{slot: {"choice": name, "seconds": {name: s}}}``.
    ``run(point, env) -> steady epoch seconds`` runs one trial in a fresh process;
    ``differing(key)`` names the plans that can run that point differently (the backend's
    ``plans_that_differ`` hook, via the preflight; default: all)."""
    for point in points:
        plans = plans_of.get(point.key.backend, {})
        key = slot(point.key)
        candidates = sorted(plans)
        if not plans or (is_current(table, point, plans) and not force):
            continue
        names = trial_plans(point, plans, differing)
        if len(names) < 2:  # nothing to choose from: the first plan, nothing measured
            table[key] = PlanEntry(next(iter(plans)), candidates=tuple(candidates))
            continue
        seconds: dict[str, float] = {}
        for name in names:
            seconds[name] = run(*with_plan(trial(point), name, plans))
        # One trial each can rank two close plans by noise: those within CLOSE of the
        # fastest run once more, and each keeps its best time.
        best = min(seconds.values())
        if math.isfinite(best):
            for name in [k for k, v in seconds.items() if v <= best * (1 + CLOSE)]:
                seconds[name] = min(seconds[name], run(*with_plan(trial(point), name, plans)))
        finite = {k: v for k, v in seconds.items() if math.isfinite(v)}
        if not finite:  # no plan ran (the point cannot run here): nothing learned, no entry
            continue
        choice = min(finite, key=finite.get)
        failed = sorted(set(seconds) - set(finite))  # named, never stored as Infinity
        table[key] = PlanEntry(
            choice, finite, tuple(candidates), tuple(failed),
            trial_samples=int(trial(point).run.data.subset or 0),
        )
    return table


def planned_trials(
    points: list[Any],
    plans_of: dict[str, dict[str, Any]],
    differing: Callable[[PointKey], list[str]] | None = None,
) -> int:
    """The trials :func:`tune` runs for these points before the close plans' second runs
    (a point with fewer than two plans that differ runs none)."""
    counts = [len(trial_plans(p, plans_of.get(p.key.backend, {}), differing)) for p in points]
    return sum(n for n in counts if n >= 2)


def trial_plans(
    point: Any, plans: dict[str, Any], differing: Callable[[PointKey], list[str]] | None
) -> list[str]:
    """The plans :func:`tune` measures at a point: those that can run it differently."""
    return [n for n in (differing(point.key) if differing else plans) if n in plans]


def lines(table: Mapping[str, PlanEntry]) -> list[str]:
    """The tuning table as text: each slot's candidates, fastest first, and the choice."""
    out = []
    for key in sorted(table):
        entry = table[key]
        backend, layers, dtype, device, threads, batch = key.split("|")
        cands = (
            ", ".join(
                [f"{name} {s * 1000:.1f} ms" if math.isfinite(s) else f"{name} failed"
                 for name, s in sorted(entry.seconds.items(), key=lambda kv: kv[1])]
                + [f"{name} failed" for name in entry.failed]
            )
            or "every plan runs this point the same way: nothing measured"
        )
        out.append(
            f"{backend:<8} {layers:<16} {dtype:<8} {device} t={threads:<3} b={batch:<6} "
            f"-> {entry.choice:<12} ({cands})"
        )
    return out


def choose(
    points: list[Any],
    plans_of: dict[str, dict[str, Any]],
    env: dict[str, Any],
    *,
    differing: Callable[[PointKey], list[str]] | None = None,
    run: Callable[[Point, dict[str, str | None]], PointResult],
    mode: str,
    counted: dict[str, int] | None = None,
    cannot: Callable[[PointKey], str] | None = None,
) -> dict[str, PlanEntry]:
    """The tuned plan of every point that needs one: from this machine's cache, measuring the
    missing ones now, each trial a point run by ``run`` (``PointRunner.run``) with the plan's
    variables, as the sweep's points run; returns the table of those points (a sweep stores it
    in environment.json). ``cannot(key)``: why the point cannot run here ("" if it can): such
    a point is never tuned (its trials would all fail)."""
    import os
    import sys

    from mlpbench.sweep.spawn import left

    needed = [p for p in points if needs_plan(p, plans_of.get(p.key.backend, {}))]
    needed = [p for p in needed if not (cannot and cannot(p.key))]
    if not needed or os.environ.get(TUNE_ENV) == "0":
        return {}  # MLPBENCH_TUNE=0: the backends' own defaults, nothing measured
    once = list({slot(p.key): p for p in needed}.values())
    table = read_cache(env)
    missing = [p for p in once if not is_current(table, p, plans_of[p.key.backend])]
    planned = planned_trials(missing, plans_of, differing)
    if counted is not None:  # for the sweep's record of how long its tuning took
        counted["slots"] = len(missing)
    if missing and mode != "none":
        print(
            f"tuning thread plans for {len(missing)} point(s): {planned} trials, then a "
            f"second one of each plan within {100 * CLOSE:.0f}% of its point's fastest (up to "
            f"{2 * planned} in all); each a short run in a fresh process...",
            file=sys.stderr,
            flush=True,
        )
    bar = None
    if missing and mode == "bar":
        from tqdm import tqdm

        bar = tqdm(total=planned, unit="trial", desc="tuning", file=sys.stderr, leave=False)
    trials, started = [0], time.perf_counter()
    measured: set[tuple[str, str]] = set()  # (slot, plan): a second one is a close plan's rerun

    load: dict[str, float] = {}  # slot -> the worst other load (or steal) of its trials, %

    def measure(point: Any, plan_env: dict[str, str | None]) -> float:
        result = run(point, plan_env)
        seconds = result.seconds
        summary = getattr(result, "summary", None)
        if summary is not None:
            worst = max(float(summary.other_load_pct), float(summary.steal_pct))
            key = slot(point.key)
            load[key] = max(load.get(key, 0.0), worst if worst == worst else 0.0)
        trials[0] += 1
        once = (slot(point.key), str(point.run.options.get("plan", "")))
        rerun = once in measured
        measured.add(once)
        samples = point.run.data.subset
        done = (
            f"{point.key.label()} plan {point.run.options.get('plan', '?')}: {seconds:.3f} s"
            f"/epoch{f' of {samples} samples' if samples else ''}"
        )
        if bar is not None:  # tqdm's own estimate of the time left
            bar.total = max(bar.total, trials[0])  # close plans run once more
            bar.set_postfix_str(done, refresh=False)
            bar.update(1)
        elif mode != "none":  # progress: tuning takes a trial per plan per point
            print(
                f"  tuning trial {trials[0]} ({'second run' if rerun else 'first run'} "
                f"{len(measured) if not rerun else trials[0] - len(measured)}"
                f"{f' of {planned}' if not rerun else ''}): "
                f"{done}; {left(time.perf_counter() - started, trials[0], planned)}",
                file=sys.stderr,
                flush=True,
            )
        return seconds

    cached = dict(table)
    try:
        table = tune(missing, plans_of, measure, table, differing=differing)
    finally:
        if bar is not None:
            bar.close()
    if missing:
        loaded = []
        for p in missing:
            key = slot(p.key)
            if key not in table or key not in load:
                continue
            under_load = load[key] > LOADED_PCT
            table[key] = replace(table[key], load_pct=round(load[key], 1), stale="",
                                 provisional=under_load)  # fmt: skip
            if under_load:
                loaded.append(key)
        # What was tuned under load serves this run only: the cache keeps what it had.
        keep = {k: v for k, v in table.items() if k not in loaded}
        keep.update({k: cached[k] for k in loaded if k in cached})
        write_cache(env, keep)
        if loaded and mode != "none":
            worst = max(load[k] for k in loaded)
            print(
                f"tuned under load (other processes up to {worst:.0f}% of the CPU during the "
                f"trials of {len(loaded)} point(s)): their plans serve this run only and are "
                "not cached; a run on a quiet machine tunes them again",
                file=sys.stderr,
                flush=True,
            )
    return {slot(p.key): table[slot(p.key)] for p in once if slot(p.key) in table}


def check_against_run(
    env: Any,
    key: PointKey,
    plan: str,
    steady_s: float,
    n_train: int,
    entry: PlanEntry | None = None,
) -> str:
    """A run of a tuned plan set against its entry's prediction (``entry``: the table the
    run took its plan from; None: this machine's cache). When the run departs by more than
    ``STALE_TOLERANCE`` the cached entry is marked stale (tuned again next time) and the line
    that says so is returned; "" when it holds or there is nothing to check. The cache is
    read only to mark it."""
    if os.environ.get(TUNE_ENV) == "0" or not plan:
        return ""
    if entry is None:
        entry = read_cache(env).get(slot(key))
    if not entry or entry.choice != plan or entry.stale:
        return ""
    predicted = entry.predicted_s(n_train)
    if not predicted > 0 or not steady_s > 0:
        return ""
    ratio = steady_s / predicted
    if abs(math.log(ratio)) <= math.log1p(STALE_TOLERANCE):
        return ""
    table = read_cache(env)
    cached = table.get(slot(key))
    if cached and cached.choice == plan:  # a provisional entry is not in the cache
        why = f"a run measured {steady_s:.4f} s/epoch against {predicted:.4f} predicted"
        table[slot(key)] = replace(cached, stale=why)
        write_cache(env, table)
    return (
        f"plan {plan} at {key.label()}: this run's {steady_s:.3f} s/epoch is {ratio:.2f}x what "
        f"its tuning predicted ({predicted:.3f} s for {n_train} samples); it is tuned again "
        "on the next run"
    )


def resolve(
    spec: RunSpec, mode: str, run: Callable[[Point, dict[str, str | None]], PointResult]
) -> tuple[RunSpec, dict[str, str | None], str]:
    """The run with its thread plan settled as a sweep settles it: ``-o plan=NAME`` as named;
    ``auto`` (the default) this machine's tuned choice, tuning the one slot now when the table
    lacks it (``MLPBENCH_TUNE=0`` skips that: the backend's default plan runs). Returns the
    run with the plan's options, the environment the plan needs, and the line that says why.
    Unchanged for a backend without  ``run``: how a tuning trial runs (``PointRunner.run``).
    This is ``mlpbench run``'s; a sweep's points take theirs from ``planned_point``."""
    import os
    import sys
    from dataclasses import replace

    from mlpbench.api import registry
    from mlpbench.api.framework import hook
    from mlpbench.config.expand import Point
    from mlpbench.machine import describe

    entry = registry.load(spec.backend)
    cls = entry.cls
    offered = hook(cls, "thread_plans")
    if not offered or entry.capabilities.why_not(spec.device, spec.dtype):
        return spec, {}, ""  # nothing to plan, or a point it cannot run: it skips, untuned
    if callable(getattr(cls, "check_options", None)):  # a bad option: one line, nothing run
        cls.check_options(dict(spec.options))
    name = str(spec.options.get("plan", AUTO))
    if name == AUTO and not plans_apply(spec.device):
        return spec, {}, ""
    why = "named with -o plan"
    planned = {k for p in offered.values() for k in p.get("options", {})}
    by_hand = sorted(planned & set(spec.options))
    if name == AUTO and by_hand:
        return spec, {}, f"no plan: thread options given by hand ({', '.join(by_hand)})"
    if name == AUTO:
        key = PointKey.of_run(spec)
        point = Point(key, 0, spec)
        env = describe.machine()
        table = read_cache(env)
        entry = table.get(slot(key))
        if os.environ.get(TUNE_ENV) == "0":
            entry, why = None, "MLPBENCH_TUNE=0: no table used"
        elif not is_current(table, point, offered):
            def differing(k: PointKey) -> list[str]:
                return list(hook(cls, "plans_that_differ", threads=k.threads,
                                 batch_size=k.batch_size, widths=k.widths))  # fmt: skip

            print(
                "tuning this point's thread plans first (once per machine; MLPBENCH_TUNE=0 "
                "skips it)...",
                file=sys.stderr,
                flush=True,
            )
            chosen = choose(
                [point], {spec.backend: offered}, env,
                differing=differing,
                run=run, mode=mode,
            )  # fmt: skip
            entry, why = chosen.get(slot(key)), f"{TUNED} just now"
            if entry and entry.provisional:
                why += " under load: for this run only, not cached"
        else:
            why = f"{TUNED} (cached table)"
        if entry and entry.choice in offered:
            name = entry.choice
            times = entry.seconds
            if times.get(name) and len(times) > 1:
                runner_up = sorted((s, n) for n, s in times.items() if n != name)[0]
                why += (
                    f": {times[name]:.4f} s per trial epoch, next {runner_up[1]} "
                    f"{runner_up[0]:.4f} s"
                )
        else:
            name = hook(cls, "default_plan", spec.threads, spec.train.batch_size)
            why = f"{why}; the backend's default" if "TUNE" in why else "no table: the default"
    if name not in offered:  # a name the backend's options check refuses, or no default
        return spec, {}, ""
    options, env = settings(dict(spec.options), name, offered)
    return replace(spec, options=options), env, f"plan {name} ({why})"
