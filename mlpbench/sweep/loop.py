"""Run a sweep: check, calibrate, then every point in a fresh worker process, rows appended as
each point ends.

Guarantees (README, "What a sweep guarantees"):
- A crash, a timeout or a NaN in one point becomes a ``failed`` row with its reason and the
  sweep goes on; an impossible point becomes ``skipped``.
- A kill loses at most the running point: rows are written whole, the worker dies with the
  sweep, and ``--resume`` cuts a torn last line, keeps only complete runs and their epochs, and
  runs what is missing with fresh run ids.
- One sweep per results folder at a time (a lock), and ``--resume`` refuses a config.toml that
  changed since the sweep started unless ``--force`` (which may only add points).
- Everything is written inside the results root; ``latest`` is replaced only if it is a link.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpbench.api import records as checks
from mlpbench.api.protocol import EpochRecord
from mlpbench.api.records import RecordError
from mlpbench.config import expand
from mlpbench.config.expand import Point
from mlpbench.config.points import CURRENT_ENV, KEY_COLUMNS, PointKey
from mlpbench.config.sweepfile import (
    SweepConfig,
    load_config,
)
from mlpbench.errors import Interrupted, ResultsError, UserError
from mlpbench.machine import describe as environment
from mlpbench.machine.doctor import as_json, doctor
from mlpbench.machine.probe import host_id, hostname
from mlpbench.machine.threads import pin_plan, usable_cpus
from mlpbench.results.schema import (
    EPOCH_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STATUSES,
    SUMMARY_TYPES,
    RunRecord,
    RunSummary,
    columns_record,
)
from mlpbench.results.store import (
    append_rows,
    done_runs,
    prune_epochs,
    read_environment,
    read_runs,
    repair_tail,
    write_json,
)
from mlpbench.stacks import build as stacks
from mlpbench.sweep import cluster, tuning
from mlpbench.sweep.folder import (
    check_config_unchanged,
    locked,
    new_directory,
    point_link,
    terminated_as_interrupt,
)
from mlpbench.sweep.spawn import (
    Progress,
    calibrate,
    peak_for,
    run_script,
    run_worker,
)
from mlpbench.worker import standalone


@dataclass
class Checked:
    """What the preflight found: the combinations this machine skips, each backend's thread
    plans, and which of them can run each point differently (the backend's own
    ``plans_that_differ`` hook, asked in the fresh process; absent: all of them)."""

    skips: dict[tuple[str, str, str], str]
    plans: dict[str, dict[str, Any]]
    differ: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    """Backends whose check hung or failed: name -> the sentence their points are skipped with."""

    def differing(self, key: PointKey) -> list[str]:
        """The plans worth a trial at ``key``."""
        offered = list(self.plans.get(key.backend, {}))
        named = self.differ.get(key.backend, {}).get(shape_of(key))
        return offered if named is None else [n for n in offered if n in named]


def shape_of(key: PointKey) -> str:
    """What a backend's plans can differ by: threads, batch size, the network."""
    return f"{key.threads}|{key.batch_size}|{key.layers}"


CHECK_TIMEOUT_S = 120.0
"""The longest a backend's check (import, capabilities, options, plans) may take: past it, the
backend counts as broken and only its own points are skipped (a sweep's timeout_s caps it)."""


def preflight(
    cfg: SweepConfig,
    python: str = sys.executable,
    env: str | None = None,
    extra_env: dict[str, str | None] | None = None,
) -> Checked:
    """Every backend of the grid loads and takes its options, and the data is there: checked
    before anything is started or written, each backend in a fresh process of its own, all at
    once, each within its timeout (``env``: only the points of that version stack, in its
    Python). A backend that is not installed, an option the sweep file gets wrong, or missing
    data is one UserError; a backend whose import, capabilities(), option check or plan hook
    hangs or fails is ``broken``: its points are skipped with that sentence, and the others
    run. Returns that, the combinations this machine will skip, and each backend's plans."""
    from concurrent.futures import ThreadPoolExecutor

    from mlpbench.sweep.spawn import ask

    backends: dict[str, list[dict[str, Any]]] = {}

    def here(k: PointKey) -> bool:  # env None: the points the sweep's own Python runs
        if env is not None:
            return k.env == env
        stack = cfg.environments.get(k.env)
        return k.env == CURRENT_ENV or (stack is not None and stack.is_current)

    keys = [k for k in expand.keys(cfg) if here(k)]
    for key in keys:
        options = expand.point(cfg, key, 0).run.options
        if options not in backends.setdefault(key.backend, []):
            backends[key.backend].append(dict(options))
    shapes: dict[str, dict[str, Any]] = {}
    for k in keys:
        shapes.setdefault(k.backend, {})[shape_of(k)] = [k.threads, k.batch_size, k.widths]
    requests: dict[str, dict[str, Any]] = {
        name: {
            "backend": name,
            "options": option_sets,
            "combinations": sorted({(k.device, k.dtype) for k in keys if k.backend == name}),
            "shapes": shapes.get(name, {}),
        }
        for name, option_sets in backends.items()
    }
    # The data is checked beside the first backend (one process fewer), or alone where there
    # is none, or where that backend's check broke.
    data = {"data": [vars(cfg.data)]}
    data_with = next(iter(requests), "")
    if data_with:
        requests[data_with].update(data)
    timeout = min(float(cfg.timeout_s), CHECK_TIMEOUT_S)
    with ThreadPoolExecutor(max_workers=max(2, min(len(requests), os.cpu_count() or 2))) as pool:
        futures = {
            name: pool.submit(ask, request, timeout, python, extra_env)
            for name, request in requests.items()
        }
        answers = {name: f.result() for name, f in futures.items()}
    carried = answers[data_with][0] if data_with else None
    if carried is not None and "data_problems" in carried:
        problems = list(carried["data_problems"])
    else:
        alone, why = ask(data, timeout, python, extra_env)
        if alone is None:
            raise UserError(f"{cfg.path}: checking the data failed: {why}")
        problems = list(alone.get("problems", []))
    skips: dict[tuple[str, str, str], str] = {}
    plans: dict[str, Any] = {}
    differ: dict[str, Any] = {}
    broken: dict[str, str] = {}
    for name, (answer, why) in answers.items():
        if answer is None:
            broken[name] = f"backend {name!r} is broken: its check {why}"
            continue
        if answer.get("missing"):
            from mlpbench.sweep.spawn import unknown_backend

            problems.append(unknown_backend(name))
        elif answer.get("broken"):
            broken[name] = str(answer["broken"])
        problems += [str(p) for p in answer.get("problems", [])]
        skips.update({(b, d, t): w for b, d, t, w in answer.get("skips", [])})
        if answer.get("plans"):
            plans[name] = answer["plans"]
        if answer.get("differ"):
            differ[name] = answer["differ"]
    if problems:
        raise UserError(f"{cfg.path}: " + "; ".join(problems))
    return Checked(skips, plans, differ, broken)


EPOCH_FIELDS = {f.name for f in fields(EpochRecord)} - {"phases"}


def checked_result(result: dict[str, Any]) -> dict[str, Any]:
    """The worker's result as it may be written, or a failed result saying what was wrong
    with it: the worker checks what its backend returns, and this checks what reached the
    sweep (a worker of another mlpbench, a garbled pipe), so nothing invalid is written."""
    try:
        if result.get("status") not in STATUSES:
            raise RecordError(f"status = {result.get('status')!r} is not one of {STATUSES}")
        summary = result.get("summary")
        if result["status"] == "ok":
            if not isinstance(summary, dict) or set(summary) - set(SUMMARY_TYPES):
                raise RecordError("the summary does not have runs.csv's columns")
            for name, kind in SUMMARY_TYPES.items():
                if name in summary and kind in (int, float):
                    checks.number(summary[name], name, nan_ok=kind is float)
            checks.number(summary.get("steady_epoch_s"), "steady_epoch_s", minimum=1e-12)
        for i, e in enumerate(result.get("epochs", [])):
            phases = e.get("phases", {})
            known = {k: v for k, v in e.items() if k in EPOCH_FIELDS}
            checks.check_epoch(EpochRecord(**{**known, "phases": phases}), i)
    except (RecordError, TypeError, AttributeError, KeyError) as error:
        return {
            **{k: result[k] for k in ("started_at", "worker_s", "host", "hostname") if k in result},
            "status": "failed",
            "reason": f"the worker's result is invalid: {error}",
        }
    return result


def records_for(
    point: Point, run_id: str, result: dict[str, Any], peaks: list[dict[str, Any]]
) -> tuple[RunRecord, list[dict[str, Any]]]:
    """The run's runs.csv record and its epochs.csv rows."""
    result = checked_result(result)
    summary = RunSummary(**result["summary"]) if result.get("summary") else None
    key = point.key
    record = RunRecord(
        run_id=run_id,
        key=key,
        repeat=point.repeat,
        status=result["status"],
        reason=checks.bounded(str(result.get("reason", "")), checks.MAX_REASON_CHARS),
        summary=summary,
        started_at=datetime.fromtimestamp(result.get("started_at", time.time())).isoformat(
            timespec="seconds"
        ),
        worker_s=result.get("worker_s", math.nan),
        host=result.get("host") or host_id(),
        hostname=result.get("hostname") or hostname(),
    )
    if summary is not None:
        record.peak_gflops = peak_for(peaks, key.dtype, key.threads, key.device, key.env)
        if record.peak_gflops > 0:
            record.efficiency = summary.gflops / record.peak_gflops
    ids = {"run_id": run_id, **dict(zip(KEY_COLUMNS, (*key.values(), point.repeat)))}
    epochs = []
    for e in result.get("epochs", []):
        row = {
            **ids,
            "epoch": e["epoch"] + 1,
            "wall_s": e["wall_s"],
            "cpu_s": e["cpu_s"],
            "loss": e["loss"],
            "accuracy": e["accuracy"],
        }
        row.update({f"phase_{k}": v for k, v in e.get("phases", {}).items()})  # checked: known
        epochs.append(row)
    return record, epochs


def planned_point(
    point: Point, plans_of: dict[str, dict[str, Any]], table: dict[str, Any]
) -> tuple[Point, dict[str, str | None]]:
    """The point as it runs: with its backend's plan (forced by -o plan=NAME, else the tuned
    choice) and the environment that plan needs; unchanged for a backend without plans."""
    from mlpbench.sweep import tuning as plans

    offered = plans_of.get(point.key.backend, {})
    if not offered:
        return point, {}
    name = point.run.options.get("plan", plans.AUTO)
    if name == plans.AUTO and not plans.plans_apply(point.key.device):
        return point, {}
    if name == plans.AUTO:
        name = table.get(plans.slot(point.key), {}).get("choice", "")
    if name not in offered:
        return point, {}
    return plans.with_plan(point, name, offered)


def prepare_stacks(cfg: SweepConfig, mode: str) -> dict[str, stacks.Stack | str]:
    """Every version stack the grid names, built (once, into the cache) and checked like the
    sweep's own environment: name -> the stack, or the one line saying why its points will be
    skipped (the rest of the sweep runs)."""
    used = sorted({k.env for k in expand.keys(cfg)} - {CURRENT_ENV})
    out: dict[str, stacks.Stack | str] = {}

    def say(line: str) -> None:
        if mode != "none":
            print(line, file=sys.stderr, flush=True)

    for name in used:
        if cfg.environments[name].is_current:
            out[name] = CURRENT_ENV  # the running environment under another name
            continue
        try:
            stack = stacks.ensure(cfg.environments[name], say)
            if stack.runner == "worker":  # a script stack has no mlpbench to check with
                preflight(cfg, stack.python, env=name, extra_env=stacks.worker_env(cfg.data))
            out[name] = stack
        except UserError as e:
            reason = str(e).removeprefix(f"{cfg.path}: ")
            print(f"stack {name!r}: {reason}; its points are skipped", file=sys.stderr)
            out[name] = reason
    return out


def stacks_record(ready: dict[str, stacks.Stack | str]) -> dict[str, Any]:
    """environment.json's ``stacks``: each stack's resolved versions, or why it was not used
    (or ``same_as: current`` for the running environment under another name)."""
    return {
        name: s.record()
        if isinstance(s, stacks.Stack)
        else ({"same_as": CURRENT_ENV} if s == CURRENT_ENV else {"error": s})
        for name, s in ready.items()
    }


def run_sweep(
    config: SweepConfig | str | Path | None,
    root: Path = Path("results"),
    resume: Path | None = None,
    quiet: bool = False,
    python: str = sys.executable,
    force: bool = False,
    pin: bool = True,
    cluster: str | None = None,
) -> Path:
    """Run (or complete) a sweep; returns its results directory. ``pin``: each point on its
    own ``threads`` cores, away from the sweep's process where cores allow."""
    mode = "none" if quiet else ("bar" if sys.stderr.isatty() else "lines")
    if resume is not None:
        directory = Path(resume).resolve()  # results/latest -> the real directory
        if not (directory / "config.toml").is_file():
            raise ResultsError(f"{directory} has no config.toml: not a results directory")
        with locked(directory):
            env = read_environment(directory)
            if not env:
                raise ResultsError(f"{directory} has no environment.json: not resumable")
            if env.get("schema_version", 1) != SCHEMA_VERSION:
                raise ResultsError(
                    f"{directory} was written with results schema "
                    f"v{env.get('schema_version', 1)}; this mlpbench writes v{SCHEMA_VERSION} "
                    "and would mix the two in one file: summary, report and compare read it "
                    "as it is; finish it with the mlpbench that started it, or start a new sweep"
                )
            cfg = load_config(directory / "config.toml")
            env = check_config_unchanged(cfg, env, directory, force)
            checked = preflight(cfg, python, env=None)
            ready = prepare_stacks(cfg, mode)
            env["stacks"] = stacks_record(ready)
            _run(cfg, directory, env, mode, python, pin, checked, cluster or cfg.cluster, ready)
        return directory
    cfg = config if isinstance(config, SweepConfig) else load_config(config)  # type: ignore[arg-type]
    checked = preflight(cfg, python)
    ready = prepare_stacks(cfg, mode)
    directory = new_directory(cfg, Path(root))
    with locked(directory):
        (directory / "config.toml").write_text(cfg.text or "")
        env = {
            **environment.describe(),
            "schema_version": SCHEMA_VERSION,
            "columns": columns_record(),
            "config_name": cfg.name,
            "config_path": cfg.path,
            "config_fingerprint": cfg.fingerprint(),
            "config_text": cfg.text,
        }
        if ready:
            env["stacks"] = stacks_record(ready)
        _run(cfg, directory, env, mode, python, pin, checked, cluster or cfg.cluster, ready)
    return directory


@dataclass
class Sweep:
    """One sweep as every executor sees it: the config, the folder and its environment, how
    points run (the Python, pinning, the cores), the preflight's answer, and the one path by
    which a finished point becomes rows."""

    cfg: SweepConfig
    directory: Path
    env: dict[str, Any]
    mode: str
    python: str
    pin: bool
    checked: Checked
    universe: list[int]
    points: list[Point]
    todo: list[tuple[int, Point]]
    used: set[str]
    progress: Progress = field(default_factory=lambda: Progress(total=0, mode="none"))
    stacks: dict[str, stacks.Stack | str] = field(default_factory=dict)
    # this session's work before its first point, counted and timed (calibrate_s,
    # calibrations; tune_s, tuned_slots; on a cluster hosts_s), which environment.json's
    # sessions keep; its "_s" entries add up to the session's prepare_s
    prepared: dict[str, Any] = field(default_factory=dict)
    recorded: int = 0  # runs this session wrote

    def python_for(self, point: Point) -> tuple[str, dict[str, str | None], str, str]:
        """The interpreter a point runs in, the variables its stack needs, why it cannot run
        ("" when it can), and how: mlpbench's worker, or a standalone script (a stack whose
        Python is older than mlpbench needs)."""
        if point.key.env == CURRENT_ENV or self.stacks.get(point.key.env) == CURRENT_ENV:
            return self.python, {}, "", "worker"
        stack = self.stacks.get(point.key.env, "the stack was not prepared")
        if not isinstance(stack, stacks.Stack):
            return "", {}, f"stack {point.key.env!r}: {stack}", ""
        if stack.runner == "script" and point.key.backend not in standalone.AS_SCRIPT:
            why = (
                f"stack {point.key.env!r} runs Python {stack.python_version.split()[0]}, which "
                f"mlpbench cannot run in: its points run as standalone scripts, which exist "
                f"for {', '.join(standalone.AS_SCRIPT)}"
            )
            return "", {}, why, ""
        return stack.python, stacks.worker_env(self.cfg.data), "", stack.runner

    def run_id(self, index: int) -> str:
        rid = f"r{index:04d}"
        if rid in self.used:  # taken by a point of an earlier config (--force): a fresh one
            rid = f"r{max(int(u[1:]) for u in self.used if u[1:].isdigit()) + 1:04d}"
        self.used.add(rid)
        return rid

    def planned(self, point: Point, table: dict[str, Any]) -> tuple[Point, dict[str, str | None]]:
        return planned_point(point, self.checked.plans, table)

    def record(
        self, index: int, point: Point, result: dict[str, Any], peaks: list[dict[str, Any]]
    ) -> RunRecord:
        """The finished point's rows, epochs before the run (a kill between them leaves epochs
        that --resume prunes), and its progress line."""
        record, epochs = records_for(point, self.run_id(index), result, peaks)
        append_rows(self.directory / "epochs.csv", EPOCH_COLUMNS, epochs)
        append_rows(self.directory / "runs.csv", RUN_COLUMNS, [record.row()])
        self.recorded += 1
        where = f" on {record.hostname}" if self.env.get("cluster") else ""
        detail = (
            f"{record.summary.steady_epoch_s:.3f} s/epoch{where}"
            if record.summary is not None
            else record.reason
        )
        self.progress.finished(point, record.status, detail)
        return record


Results = Iterator[tuple[int, Point, dict[str, Any], list[dict[str, Any]]]]
"""What an executor yields as points finish: index, point, result, the peaks of its host."""


def run_one(sweep: Sweep, point: Point) -> dict[str, Any]:
    """One point in a fresh worker pinned to its cores (this process moved off them), with
    its thread plan's options and variables: the local executor's step."""
    sweep.progress.running(point)
    python, stack_vars, why_not, runner = sweep.python_for(point)
    why_not = why_not or sweep.checked.broken.get(point.key.backend, "")
    if why_not:
        return {"status": "skipped", "reason": why_not, "started_at": time.time()}
    cpus, own = pin_plan(point.key.threads, sweep.universe, sweep.pin)
    if sweep.pin:
        os.sched_setaffinity(0, own)
    cpu_arg = cpus if sweep.pin else None
    if runner == "script":
        timeout = sweep.cfg.timeout_s
        return run_script(point, timeout, sweep.progress, python, cpu_arg, stack_vars)
    runs_as, plan_env = sweep.planned(point, sweep.env.get("plans", {}))
    variables = {**stack_vars, **plan_env}
    return run_worker(runs_as, sweep.cfg.timeout_s, sweep.progress, python, cpu_arg, variables)


def run_locally(sweep: Sweep) -> Results:
    """The local executor: calibrate what is missing, tune, then each point in a fresh pinned
    worker, one at a time; the GEMM peak again every ``recalibrate_every`` runs and at the end
    (drift)."""
    cfg, env, points, todo = sweep.cfg, sweep.env, sweep.points, sweep.todo
    t0 = time.monotonic()
    peaks = env.get("peaks", [])
    have = {(p.get("env", CURRENT_ENV), p["dtype"], int(p["threads"]), p["device"]) for p in peaks}
    need = sorted({(p.key.env, p.key.dtype, p.key.threads, p.key.device) for _, p in todo} - have)
    calibrated_in = {CURRENT_ENV} | {  # a script stack has no mlpbench worker to calibrate
        n for n, s in sweep.stacks.items() if isinstance(s, stacks.Stack) and s.runner == "worker"
    }
    need = [n for n in need if n[0] in calibrated_in]
    if need and sweep.mode != "none":
        print(
            f"calibrating GEMM peak for {len(need)} (dtype, threads, device) combination(s)...",
            file=sys.stderr,
            flush=True,
        )
    combos = sorted({(p.key.dtype, p.key.threads, p.key.device) for p in points})
    calibrated = dict(python=sweep.python, pin=sweep.pin, universe=sweep.universe)
    for name in dict.fromkeys(n[0] for n in need):  # each stack's own BLAS, in its Python
        python = sweep.python if name == CURRENT_ENV else sweep.stacks[name].python  # type: ignore[union-attr]
        measured = calibrate(
            [n[1:] for n in need if n[0] == name],
            **{**calibrated, "python": python},
            say=None
            if sweep.mode == "none"
            else lambda line, at=name: print(
                line + ("" if at == CURRENT_ENV else f" (stack {at})"), file=sys.stderr
            ),
        )
        peaks = peaks + [{**m, "env": name} if name != CURRENT_ENV else m for m in measured]
    env["peaks"] = peaks
    t1 = time.monotonic()
    tuned: dict[str, int] = {}
    env["plans"] = tuning.choose(
        [p for _, p in todo],
        sweep.checked.plans,
        env,
        differing=sweep.checked.differing,
        python=sweep.python,
        pin=sweep.pin,
        universe=sweep.universe,
        timeout=cfg.timeout_s,
        mode=sweep.mode,
        counted=tuned,
        cannot=lambda k: sweep.checked.skips.get((k.backend, k.device, k.dtype), ""),
    )
    write_json(sweep.directory / "environment.json", env)
    sweep.prepared = {
        "calibrations": len(need),
        "calibrate_s": round(t1 - t0, 1),
        "tuned_slots": tuned.get("slots", 0),
        "tune_s": round(time.monotonic() - t1, 1),
    }
    sweep.progress = Progress(total=len(points), done=len(points) - len(todo), mode=sweep.mode)
    point_link(sweep.directory.parent, sweep.directory, sweep.progress)
    every = cfg.recalibrate_every
    try:
        for n, (index, point) in enumerate(todo, start=1):
            yield index, point, run_one(sweep, point), env["peaks"]
            if n == len(todo) or (every and n % every == 0):  # drift: the peak again
                again = calibrate(combos, **calibrated)
                env.setdefault("recalibrations", []).append(
                    {"after_runs": len(points) - len(todo) + n, "peaks": again}
                )
                write_json(sweep.directory / "environment.json", env)
    finally:
        if sweep.pin:
            os.sched_setaffinity(0, sweep.universe)


def extra_repeats(sweep: Sweep) -> list[tuple[int, Point]]:
    """The next repeat of each point whose ok runs' 95% interval of the median is wider than
    ``target_interval`` of it, or that has too few ok runs for an interval (``MIN_CI``: three
    fast processes in a row looked like a narrow interval), while it has fewer than
    ``max_repeats``. A point with no ok run gets none."""
    cfg = sweep.cfg
    if cfg.max_repeats <= cfg.repeats:
        return []
    from mlpbench.analysis.stats import bootstrap_ci

    runs = read_runs(sweep.directory)
    times: dict[PointKey, list[float]] = {}
    repeats: dict[PointKey, int] = {}
    for r in runs:
        key = PointKey.from_row(r)
        repeats[key] = max(repeats.get(key, 0), r["repeat"] + 1)
        if r["status"] == "ok":
            times.setdefault(key, []).append(float(r["steady_epoch_s"]))
    out = []
    base = len(sweep.points) + len(sweep.used)
    for key in expand.keys(cfg):
        t = times.get(key, [])
        n = repeats.get(key, 0)
        if not t or n >= cfg.max_repeats:
            continue
        lo, hi = bootstrap_ci(t)
        median = statistics.median(t)
        if math.isnan(lo) or (median > 0 and (hi - lo) / median > cfg.target_interval):
            out.append((base + len(out), expand.point(cfg, key, n)))
    return out


def run_points(sweep: Sweep, todo: list[tuple[int, Point]]) -> Results:
    """The given points, one after another, as the local executor runs them."""
    sweep.progress.add(len(todo))
    try:
        for index, point in todo:
            yield index, point, run_one(sweep, point), sweep.env["peaks"]
    finally:
        if sweep.pin:
            os.sched_setaffinity(0, sweep.universe)


@contextmanager
def session_timed(sweep: Sweep, started: str, t0: float) -> Iterator[None]:
    """environment.json's ``sessions``: each session's wall time, its work before the first
    point and the runs it wrote, also when it is interrupted (``mlpbench configs`` and the
    results pages state how long a sweep took from these, measured, never typed)."""
    finished = False
    try:
        yield
        finished = True
    finally:
        sweep.env.setdefault("sessions", []).append(
            {
                "started_at": started,
                "wall_s": round(time.monotonic() - t0, 1),
                "prepare_s": round(
                    sum(v for k, v in sweep.prepared.items() if k.endswith("_s")), 1
                ),
                **sweep.prepared,
                "runs": sweep.recorded,
                "finished": finished,
            }
        )
        try:
            write_json(sweep.directory / "environment.json", sweep.env)
        except OSError:  # the folder went away: the rows are what matters
            pass


@contextmanager
def on_cluster(sweep: Sweep, address: str) -> Iterator[Results]:
    """The Dask executor (``mlpbench.sweep.cluster``): hosts checked, described and calibrated
    once each; points one per host at a time, as they complete. A forced thread plan runs with
    its variables; ``auto`` runs the backend's defaults (no host is tuned yet)."""
    combos = sorted({(p.key.dtype, p.key.threads, p.key.device) for p in sweep.points})
    env = sweep.env
    t0 = time.monotonic()
    with cluster.connect(address) as client:
        workers = cluster.check_workers(client)
        n_hosts = len({w["host"] for w in workers.values()})
        sweep.progress = Progress(
            total=len(sweep.points), done=len(sweep.points) - len(sweep.todo), mode=sweep.mode
        )
        sweep.progress.say(f"cluster {address}: {len(workers)} worker(s) on {n_hosts} host(s)")
        hosts = env.setdefault("hosts", {})
        new = {w["host"] for w in workers.values()} - set(hosts)
        if new:
            sweep.progress.say(f"describing and calibrating {len(new)} host(s)...")
            ready = cluster.prepare_hosts(
                client, {w: i for w, i in workers.items() if i["host"] in new}, combos, sweep.pin
            )
            hosts.update(ready)
        env["cluster"] = address
        write_json(sweep.directory / "environment.json", env)
        point_link(sweep.directory.parent, sweep.directory, sweep.progress)
        # describing and calibrating the hosts: no pace per calibration (dryrun.earlier_pace)
        sweep.prepared = {"hosts_s": round(time.monotonic() - t0, 1)}

        def results() -> Results:
            broken = sweep.checked.broken
            for index, point in sweep.todo:  # a broken backend's points never leave here
                if point.key.backend in broken:
                    reason = broken[point.key.backend]
                    yield index, point, {"status": "skipped", "reason": reason}, []
            todo = [(i, p) for i, p in sweep.todo if p.key.backend not in broken]
            planned = {i: sweep.planned(p, {}) for i, p in todo}
            runs = cluster.run_points(client, todo, sweep.cfg.timeout_s, sweep.pin, planned)
            for index, point, result in runs:
                yield index, point, result, hosts.get(result.get("host", ""), {}).get("peaks", [])

        yield results()


def _run(
    cfg: SweepConfig,
    directory: Path,
    env: dict[str, Any],
    mode: str,
    python: str,
    pin: bool,
    checked: Checked,
    address: str = "",
    ready: dict[str, stacks.Stack | str] | None = None,
) -> None:
    checks = doctor()  # before anything of ours loads the machine
    env.setdefault("doctor_history", []).append(as_json(checks))
    env["doctor"] = as_json(checks)
    env["pinned"] = pin
    for check in checks:
        if not check.ok and mode != "none":
            print(check.line(), file=sys.stderr)
    cut = repair_tail(directory / "runs.csv")
    if cut and mode != "none":
        print(
            f"runs.csv: cut a partial last line ({cut} bytes, a write torn by a kill); "
            "that point runs again",
            file=sys.stderr,
        )
    done = done_runs(directory)
    prune_epochs(directory, set(done.values()))
    points = expand.points(cfg)
    todo = [(i, p) for i, p in enumerate(points) if (p.key, p.repeat) not in done]
    sweep = Sweep(
        cfg, directory, env, mode, python, pin, checked, usable_cpus(), points, todo,
        set(done.values()), stacks=ready or {},
    )  # fmt: skip
    resume = f"mlpbench sweep --resume {directory}" + (f" --cluster {address}" if address else "")
    started, t0 = datetime.now().isoformat(timespec="seconds"), time.monotonic()
    with terminated_as_interrupt(), session_timed(sweep, started, t0):
        try:
            with on_cluster(sweep, address) if address else nullcontext(run_locally(sweep)) as rs:
                for index, point, result, peaks in rs:
                    sweep.record(index, point, result, peaks)
            while not address:  # more repeats where the interval is wide (max_repeats)
                more = extra_repeats(sweep)
                if not more:
                    break
                sweep.progress.say(
                    f"{len(more)} point(s) with an interval wider than "
                    f"{100 * cfg.target_interval:.0f}%: one more repeat each"
                )
                sweep.todo = more
                for index, point, result, peaks in run_points(sweep, more):
                    sweep.record(index, point, result, peaks)
        except (KeyboardInterrupt, Interrupted) as e:
            sweep.progress.close()
            signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
            print(
                f"\ninterrupted ({signal.Signals(signum).name}); the running point is lost, "
                f"the rest is kept. Finish with: {resume}",
                file=sys.stderr,
            )
            raise Interrupted(signum) from None
    sweep.progress.close()
