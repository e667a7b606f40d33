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
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from pathlib import Path

from mlpbench.config import expand
from mlpbench.config.expand import Point
from mlpbench.config.points import NO_OPTIONS, PointKey
from mlpbench.config.sweepfile import SweepConfig, load_config
from mlpbench.errors import Interrupted
from mlpbench.machine import describe as environment
from mlpbench.machine.doctor import as_json, doctor
from mlpbench.machine.threads import usable_cpus
from mlpbench.results.environment import Environment
from mlpbench.results.folder import ResultsFolder
from mlpbench.results.profile import PROFILE_ENV
from mlpbench.results.schema import SCHEMA_VERSION, columns_record
from mlpbench.stacks import build as stacks
from mlpbench.sweep import cluster as dask_cluster
from mlpbench.sweep.local import local
from mlpbench.sweep.preflight import Checked, preflight, prepare_stacks, stacks_record
from mlpbench.sweep.runner import PointRunner
from mlpbench.sweep.session import (
    Sweep,
    check_config_unchanged,
    session_timed,
    terminated_as_interrupt,
)
from mlpbench.sweep.spawn import become_subreaper


def run_sweep(
    config: SweepConfig | str | Path | None,
    root: Path = Path("results"),
    resume: Path | None = None,
    quiet: bool = False,
    python: str = sys.executable,
    force: bool = False,
    pin: bool = True,
    cluster: str | None = None,
    more: MorePolicy | None = None,
) -> Path:
    """Run (or complete) a sweep; returns its results directory. ``pin``: each point on its
    own ``threads`` cores, away from the sweep's process where cores allow. ``more``: the
    runs to add once the planned ones are done, asked again until it returns none
    (:func:`extra_repeats` by default; the gate adds rounds where a point is undecided)."""
    mode = "none" if quiet else ("bar" if sys.stderr.isatty() else "lines")
    become_subreaper()  # a daemon a backend starts is still ours, and ends with its point
    if resume is not None:
        folder = ResultsFolder.existing(resume)  # results/latest -> the real directory
        with folder.locked():
            env = folder.resumable_environment()
            cfg = load_config(folder.config_path)
            env = check_config_unchanged(cfg, env, folder.path, force)
            checked = preflight(cfg, python, env=None)
            ready = prepare_stacks(cfg, mode)
            env.stacks = stacks_record(ready)
            _run(cfg, folder, env, mode, python, pin, checked, cluster or cfg.cluster, ready, more)
        return folder.path
    cfg = config if isinstance(config, SweepConfig) else load_config(config)  # type: ignore[arg-type]
    checked = preflight(cfg, python)
    ready = prepare_stacks(cfg, mode)
    folder = ResultsFolder.new(Path(root), cfg.name)
    with folder.locked():
        folder.config_path.write_text(cfg.text or "")
        env = Environment.from_json(environment.describe())
        env.schema_version, env.columns = SCHEMA_VERSION, columns_record()
        env.config_name, env.config_path, env.config_text = cfg.name, cfg.path, cfg.text
        env.config_fingerprint = cfg.fingerprint()
        if ready:
            env.stacks = stacks_record(ready)
        # What --resume needs, before calibration: a sweep killed there can be finished (the
        # peaks it has not measured yet are measured then).
        folder.write_environment(env)
        _run(cfg, folder, env, mode, python, pin, checked, cluster or cfg.cluster, ready, more)
    return folder.path


def extra_repeats(sweep: Sweep) -> list[tuple[int, Point]]:
    """The next repeat of each point whose ok runs' 95% interval of the median is wider than
    ``target_interval`` of it, or that has too few ok runs for an interval (``MIN_CI``: three
    fast processes in a row looked like a narrow interval), while it has fewer than
    ``max_repeats``; and of both sides of every comparison with the reference backend that
    its per-pair ratios do not decide yet at 95% where more pairs could decide it (the gate's
    until-decided policy, ``analysis.findings.decide``). A point with no ok run gets none."""
    cfg = sweep.cfg
    if cfg.max_repeats <= cfg.repeats:
        return []
    from mlpbench.analysis.findings import decide
    from mlpbench.analysis.stats import bootstrap_ci

    runs = sweep.folder.runs()
    times: dict[PointKey, dict[int, float]] = {}
    repeats: dict[PointKey, int] = {}
    for r in runs:
        key = PointKey.from_row(r)
        repeats[key] = max(repeats.get(key, 0), r["repeat"] + 1)
        if r["status"] == "ok":
            times.setdefault(key, {})[r["repeat"]] = float(r["steady_epoch_s"])
    wanted: list[PointKey] = []
    for key in expand.keys(cfg):
        t = list(times.get(key, {}).values())
        if not t or repeats.get(key, 0) >= cfg.max_repeats:
            continue
        lo, hi = bootstrap_ci(t)
        median = statistics.median(t)
        if math.isnan(lo) or (median > 0 and (hi - lo) / median > cfg.target_interval):
            wanted.append(key)
    undecided = 0
    for key, ref in reference_pairs(cfg):
        if max(repeats.get(key, 0), repeats.get(ref, 0)) >= cfg.max_repeats:
            continue
        mine, theirs = times.get(key, {}), times.get(ref, {})
        ratios = [mine[i] / theirs[i] for i in sorted(set(mine) & set(theirs))]
        d = decide(ratios)
        if ratios and not d.decided and d.needed is not None and d.needed <= cfg.max_repeats:
            undecided += 1
            wanted += [k for k in (ref, key) if k not in wanted]
    base = len(sweep.points) + len(sweep.used)
    out = [(base + i, expand.point(cfg, k, repeats.get(k, 0))) for i, k in enumerate(wanted)]
    if out:
        why = f"an interval wider than {100 * cfg.target_interval:.0f}%"
        if undecided:
            why += f", or {undecided} comparison(s) with the reference not yet decided at 95%"
        sweep.progress.say(f"{len(out)} point(s) get one more repeat each ({why})")
    return out


def profiled_runs(sweep: Sweep, address: str = "") -> None:
    """One profiled run of each point the sweep file's ``profile`` names, after its timed
    runs, with the point's own thread plan (``mlpbench.worker.profiler``): kept apart in
    ``profiles.jsonl``, never in the statistics. A point profiled before (a resumed sweep)
    is not profiled again; on a cluster the profile would be another host's, so none."""
    cfg = sweep.cfg
    if not cfg.profile:
        return
    if address:
        sweep.progress.say("profile: not on a cluster (run the points with mlpbench run --profile)")
        return
    done = {p.key for p in sweep.folder.profiles()}
    ok = {PointKey.from_row(r) for r in sweep.folder.runs() if r["status"] == "ok"}
    todo = [k for k in expand.keys(cfg) if cfg.profiled(k) and k in ok and k not in done]
    if not todo:
        return
    sweep.progress.say(f"profiling {len(todo)} point(s): one more run each, sampled, not timed")
    sweep.progress.add(len(todo))
    for key in todo:
        point, variables = sweep.runner.planned(expand.point(cfg, key, 0))
        result = sweep.runner.run(point, {**(variables or {}), PROFILE_ENV: "auto"})
        run = sweep.folder.add_profile(key, result)
        if not sweep.env.profiler or run.profile.tool:
            sweep.env.profiler = run.profile.tool or run.profile.skipped
            sweep.save()
        said = run.profile.skipped or f"{run.profile.coverage:.0%} of its CPU time sampled"
        sweep.progress.finished(point, "profiled", said)


def reference_pairs(cfg: SweepConfig) -> list[tuple[PointKey, PointKey]]:
    """(point, the reference backend's point it is compared with) for every point of another
    backend: the same point but for backend and options (the reference's own options where
    it runs several)."""
    keys = expand.keys(cfg)
    reference = cfg.reference
    refs: dict[tuple, list[PointKey]] = {}
    for k in keys:
        if k.backend == reference:
            refs.setdefault(_without_series(k), []).append(k)
    out = []
    for k in keys:
        if k.backend == reference:
            continue
        found = sorted(refs.get(_without_series(k), []), key=lambda r: r.options != NO_OPTIONS)
        if found:
            out.append((k, found[0]))
    return out


def _without_series(key: PointKey) -> tuple:
    """The point less its series' backend and options: what two compared points share."""
    return tuple(getattr(key, f.name) for f in fields(key) if f.name not in ("backend", "options"))


def resume_command(path: Path, address: str = "") -> str:
    """The command that finishes a sweep, quoted for a shell (a path may hold spaces)."""
    cluster = f" --cluster {shlex.quote(address)}" if address else ""
    return f"mlpbench sweep --resume {shlex.quote(str(path))}{cluster}"


MorePolicy = Callable[[Sweep], list[tuple[int, Point]]]
"""What runs to add to a sweep whose planned runs are done (index, point): none ends it."""


def _run(
    cfg: SweepConfig,
    folder: ResultsFolder,
    env: Environment,
    mode: str,
    python: str,
    pin: bool,
    checked: Checked,
    address: str = "",
    ready: dict[str, stacks.Stack | str] | None = None,
    more: MorePolicy | None = None,
) -> None:
    checks = doctor()  # before anything of ours loads the machine
    env.doctor_history.append(as_json(checks))
    env.doctor = as_json(checks)
    env.pinned = pin
    for check in checks:
        if not check.ok and mode != "none":
            print(check.line(), file=sys.stderr)
    cut = folder.repair()
    if cut and mode != "none":
        print(
            f"{folder.runs_path.name}: cut a partial last line ({cut} bytes, a write torn by "
            "a kill); that point runs again",
            file=sys.stderr,
        )
    done = folder.done()
    folder.prune(set(done.values()))
    points = expand.points(cfg)
    todo = [(i, p) for i, p in enumerate(points) if (p.key, p.repeat) not in done]
    runner = PointRunner(
        cfg.timeout_s, python, pin, usable_cpus(), stacks=ready or {},
        stack_vars=stacks.worker_env(cfg.data) if ready else {}, plans=checked.plans,
        table=env.plans, broken=checked.broken, scripts=checked.scripts,
    )  # fmt: skip
    sweep = Sweep(cfg, folder, env, mode, checked, runner, points, todo, set(done.values()))
    resume = resume_command(folder.path, address)
    started, t0 = datetime.now().isoformat(timespec="seconds"), time.monotonic()
    executor = dask_cluster.on_cluster(sweep, address) if address else local(sweep)
    with terminated_as_interrupt(), session_timed(sweep, started, t0):
        try:
            with executor as run:
                run.prepare()
                sweep.start_progress()
                for index, point, result, peaks in run.map(sweep.todo):
                    sweep.record(index, point, result, peaks)
                while added := (more or extra_repeats)(sweep):
                    sweep.progress.add(len(added))
                    for index, point, result, peaks in run.map(added, recalibrate=False):
                        sweep.record(index, point, result, peaks)
                profiled_runs(sweep, address)
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
