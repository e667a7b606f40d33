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

import fcntl
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpbench.api.protocol import PHASES
from mlpbench.config import expand
from mlpbench.config.expand import Point
from mlpbench.config.points import KEY_COLUMNS
from mlpbench.config.sweepfile import (
    SweepConfig,
    changed_keys,
    load_config,
    parse_config,
    parse_toml,
)
from mlpbench.errors import BusyError, Interrupted, ResultsError, UserError
from mlpbench.machine import describe as environment
from mlpbench.machine.doctor import as_json, doctor
from mlpbench.machine.probe import host_id, hostname
from mlpbench.machine.threads import pin_plan, usable_cpus
from mlpbench.results.schema import (
    EPOCH_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    RunRecord,
    RunSummary,
)
from mlpbench.results.store import (
    append_rows,
    done_runs,
    prune_epochs,
    read_environment,
    repair_tail,
    write_json,
)
from mlpbench.sweep.spawn import Progress, calibrate, env_for, peak_for, run_worker


@dataclass
class Checked:
    """What the preflight found: the combinations this machine skips, and the thread plans."""

    skips: dict[tuple[str, str, str], str]
    plans: dict[str, dict[str, Any]]


def preflight(cfg: SweepConfig, python: str = sys.executable) -> Checked:
    """Every backend of the grid loads and takes its options, and the data is there: checked in
    one fresh process before anything is started or written. Raises one UserError; returns the
    (backend, device, dtype) combinations this machine will skip and each backend's plans."""
    backends: dict[str, list[dict[str, Any]]] = {}
    for key in expand.keys(cfg):
        options = expand.point(cfg, key, 0).run.options
        if options not in backends.setdefault(key.backend, []):
            backends[key.backend].append(dict(options))
    combinations = sorted({(k.backend, k.device, k.dtype) for k in expand.keys(cfg)})
    request = {"backends": backends, "combinations": combinations, "data": [vars(cfg.data)]}
    out = subprocess.run(
        [python, "-m", "mlpbench.worker", "check"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env_for(1),
        timeout=600,
    )
    try:
        answer = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{cfg.path}: checking the backends failed: {last}") from None
    if answer["problems"]:
        raise UserError(f"{cfg.path}: " + "; ".join(answer["problems"]))
    return Checked({(b, d, t): why for b, d, t, why in answer["skips"]}, answer["plans"])


def records_for(
    point: Point, run_id: str, result: dict[str, Any], peaks: list[dict[str, Any]]
) -> tuple[RunRecord, list[dict[str, Any]]]:
    """The run's runs.csv record and its epochs.csv rows."""
    summary = RunSummary(**result["summary"]) if result.get("summary") else None
    key = point.key
    record = RunRecord(
        run_id=run_id,
        key=key,
        repeat=point.repeat,
        status=result["status"],
        reason=result.get("reason", ""),
        summary=summary,
        started_at=datetime.fromtimestamp(result.get("started_at", time.time())).isoformat(
            timespec="seconds"
        ),
        worker_s=result.get("worker_s", math.nan),
        host=result.get("host") or host_id(),
        hostname=result.get("hostname") or hostname(),
    )
    if summary is not None:
        record.peak_gflops = peak_for(peaks, key.dtype, key.threads, key.device)
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
        # Phases the protocol names; a backend's own extra phases are not columns.
        row.update({f"phase_{k}": v for k, v in e.get("phases", {}).items() if k in PHASES})
        epochs.append(row)
    return record, epochs


def new_directory(cfg: SweepConfig, root: Path) -> Path:
    """A fresh folder ``<stamp>-<name>`` directly inside ``root`` (``-2``, ``-3`` if taken)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError(f"--results {root}: exists and is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--results {root}: cannot create ({e.strerror})") from None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        directory = root / (f"{stamp}-{cfg.name}" + (f"-{attempt}" if attempt > 1 else ""))
        if directory.resolve().parent != root.resolve():  # names are checked; never outside
            raise UserError(f"name = {cfg.name!r}: the results folder would leave {root}")
        try:
            directory.mkdir()
            return directory
        except FileExistsError:
            continue
    raise UserError(f"{root}: no free folder name for {stamp}-{cfg.name}")


def point_link(root: Path, directory: Path, progress: Progress | None = None) -> None:
    """results/latest -> the newest sweep (relative, so the tree can move). Only a link is
    ever replaced; a file or folder of that name is the user's and stays."""
    link = root / "latest"
    if link.exists() and not link.is_symlink():
        if progress:
            progress.say(f"note: {link} is not a link; left as it is")
        return
    tmp = root / f".latest-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(directory.name)
        tmp.replace(link)  # atomic
    except OSError:
        tmp.unlink(missing_ok=True)


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the folder's lock for the sweep's lifetime (released by the kernel on any exit)."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise BusyError(
            f"{directory} is in use by another mlpbench sweep (PID {holder}); "
            "wait for it or stop it, then --resume"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the sweep like Ctrl-C: the worker is killed, the folder stays resumable."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


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
    if name == plans.AUTO:
        name = table.get(plans.slot(point.key), {}).get("choice", "")
    if name not in offered:
        return point, {}
    return plans.with_plan(point, name, offered)


def choose_plans(
    points: list[Point],
    plans_of: dict[str, dict[str, Any]],
    env: dict[str, Any],
    python: str,
    pin: bool,
    universe: list[int],
    timeout: float,
    mode: str,
) -> dict[str, Any]:
    """The tuned plan of every point that needs one: from this machine's cache, measuring the
    missing ones now (mlpbench.sweep.tuning); the table also goes into environment.json."""
    from mlpbench.sweep import tuning as plans

    needed = [p for p in points if plans.needs_plan(p, plans_of.get(p.key.backend, {}))]
    if not needed or os.environ.get(plans.TUNE_ENV) == "0":
        return {}  # MLPBENCH_TUNE=0: the backends' own defaults, nothing measured
    once = list({plans.slot(p.key): p for p in needed}.values())
    table = plans.read_cache(env)
    missing = [p for p in once if not plans.is_current(table, p, plans_of[p.key.backend])]
    if missing and mode != "none":
        print(f"tuning thread plans for {len(missing)} point(s)...", file=sys.stderr, flush=True)

    def measure(point: Point, plan_env: dict[str, str | None]) -> float:
        cpus, own = pin_plan(point.key.threads, universe, pin)
        if pin:
            os.sched_setaffinity(0, own)
        result = run_worker(
            point, timeout, Progress(0, mode="none"), python, cpus if pin else None, plan_env
        )
        return float((result.get("summary") or {}).get("steady_epoch_s", math.inf))

    table = plans.tune(missing, plans_of, measure, table)
    if missing:
        plans.write_cache(env, table)
    return {plans.slot(p.key): table[plans.slot(p.key)] for p in once if plans.slot(p.key) in table}


def _run_on_cluster(
    cfg: SweepConfig,
    directory: Path,
    env: dict[str, Any],
    mode: str,
    pin: bool,
    address: str,
    points: list[Point],
    todo: list[tuple[int, Point]],
    run_id: Any,
    plans_of: dict[str, dict[str, Any]],
) -> None:
    """The points on a Dask cluster (mlpbench.sweep.cluster): hosts checked, described and
    calibrated once each, rows appended as each point completes. A forced thread plan runs with its
    variables; ``auto`` runs the backend's defaults (no host is tuned yet)."""
    from mlpbench.sweep import cluster

    combos = sorted({(p.key.dtype, p.key.threads, p.key.device) for p in points})
    progress = Progress(total=len(points), done=len(points) - len(todo), mode=mode)
    with cluster.connect(address) as client, terminated_as_interrupt():
        workers = cluster.check_workers(client)
        n_hosts = len({w["host"] for w in workers.values()})
        progress.say(f"cluster {address}: {len(workers)} worker(s) on {n_hosts} host(s)")
        hosts = env.setdefault("hosts", {})
        new = {w["host"] for w in workers.values()} - set(hosts)
        if new:
            progress.say(f"describing and calibrating {len(new)} host(s)...")
            ready = cluster.prepare_hosts(
                client, {w: i for w, i in workers.items() if i["host"] in new}, combos, pin
            )
            hosts.update(ready)
        env["cluster"] = address
        write_json(directory / "environment.json", env)
        point_link(directory.parent, directory, progress)
        try:
            planned = {i: planned_point(p, plans_of, {}) for i, p in todo}
            runs = cluster.run_points(client, todo, cfg.timeout_s, pin, planned)
            for index, point, result in runs:
                peaks = hosts.get(result.get("host", ""), {}).get("peaks", [])
                record, epochs = records_for(point, run_id(index), result, peaks)
                append_rows(directory / "epochs.csv", EPOCH_COLUMNS, epochs)
                append_rows(directory / "runs.csv", RUN_COLUMNS, [record.row()])
                detail = (
                    f"{record.summary.steady_epoch_s:.3f} s/epoch on {record.hostname}"
                    if record.summary is not None
                    else record.reason
                )
                progress.finished(point, record.status, detail)
        except (KeyboardInterrupt, Interrupted) as e:
            progress.close()
            signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
            print(
                f"\ninterrupted ({signal.Signals(signum).name}); finished points are kept. "
                f"Finish with: mlpbench sweep --resume {directory} --cluster {address}",
                file=sys.stderr,
            )
            raise Interrupted(signum) from None
    progress.close()


def check_config_unchanged(
    cfg: SweepConfig, env: dict[str, Any], directory: Path, force: bool
) -> dict[str, Any]:
    """Resume the config the sweep started with, or with ``force`` one that only adds points.

    Returns the environment to store (with the new fingerprint when forced)."""
    if env.get("config_fingerprint") == cfg.fingerprint():
        return env
    old_text = env.get("config_text", "")
    changed = changed_keys(parse_toml(old_text), parse_toml(cfg.text)) or ["the file's text"]
    if not force:
        raise UserError(
            f"{directory / 'config.toml'} changed since the sweep started "
            f"(changed: {', '.join(changed)}); --resume runs the sweep as it started: undo "
            "the edit, start a new sweep, or add --force to run the new points in this folder"
        )
    old = parse_config(parse_toml(old_text), str(directory / "config.toml"), old_text)
    old_points = {(p.key, p.repeat): p.run for p in expand.points(old)}
    for (key, repeat), _ in done_runs(directory).items():
        if (
            key in set(expand.keys(cfg))
            and old_points.get((key, repeat)) != expand.point(cfg, key, repeat).run
        ):
            raise UserError(
                f"--force: the edit (changed: {', '.join(changed)}) changes {key.label(repeat)}, "
                "which already ran; only new points may be added to a folder"
            )
    history = [*env.get("config_history", []), env.get("config_fingerprint")]
    return {
        **env,
        "config_fingerprint": cfg.fingerprint(),
        "config_text": cfg.text,
        "config_history": history,
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
            cfg = load_config(directory / "config.toml")
            env = check_config_unchanged(cfg, env, directory, force)
            checked = preflight(cfg, python)
            _run(cfg, directory, env, mode, python, pin, cluster or cfg.cluster, checked.plans)
        return directory
    cfg = config if isinstance(config, SweepConfig) else load_config(config)  # type: ignore[arg-type]
    checked = preflight(cfg, python)
    directory = new_directory(cfg, Path(root))
    with locked(directory):
        (directory / "config.toml").write_text(cfg.text or "")
        env = {
            **environment.describe(),
            "schema_version": SCHEMA_VERSION,
            "config_name": cfg.name,
            "config_path": cfg.path,
            "config_fingerprint": cfg.fingerprint(),
            "config_text": cfg.text,
        }
        _run(cfg, directory, env, mode, python, pin, cluster or cfg.cluster, checked.plans)
    return directory


def _run(
    cfg: SweepConfig,
    directory: Path,
    env: dict[str, Any],
    mode: str,
    python: str,
    pin: bool,
    cluster: str = "",
    plans_of: dict[str, dict[str, Any]] | None = None,
) -> None:
    progress = Progress(total=0, mode="none")
    plans_of = plans_of or {}
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
    used = set(done.values())

    def run_id(index: int) -> str:
        rid = f"r{index:04d}"
        if rid in used:  # taken by a point of an earlier config (--force): a fresh one
            rid = f"r{max(int(u[1:]) for u in used if u[1:].isdigit()) + 1:04d}"
        used.add(rid)
        return rid

    if cluster:
        _run_on_cluster(cfg, directory, env, mode, pin, cluster, points, todo, run_id, plans_of)
        return
    peaks = env.get("peaks", [])
    have = {(p["dtype"], int(p["threads"]), p["device"]) for p in peaks}
    need = sorted({(p.key.dtype, p.key.threads, p.key.device) for _, p in todo} - have)
    if need and mode != "none":
        print(
            f"calibrating GEMM peak for {len(need)} (dtype, threads, device) combination(s)...",
            file=sys.stderr,
            flush=True,
        )
    combos = sorted({(p.key.dtype, p.key.threads, p.key.device) for p in points})
    every = cfg.recalibrate_every
    all_cpus = usable_cpus()
    with terminated_as_interrupt():
        try:
            env["peaks"] = peaks + calibrate(need, python, pin=pin, universe=all_cpus)
            env["plans"] = choose_plans(
                [p for _, p in todo], plans_of, env, python, pin, all_cpus, cfg.timeout_s, mode
            )
            write_json(directory / "environment.json", env)
            progress = Progress(total=len(points), done=len(points) - len(todo), mode=mode)
            point_link(directory.parent, directory, progress)
            for n, (index, point) in enumerate(todo, start=1):
                progress.running(point)
                cpus, own = pin_plan(point.key.threads, all_cpus, pin)
                if pin:
                    os.sched_setaffinity(0, own)
                planned, plan_env = planned_point(point, plans_of, env["plans"])
                result = run_worker(
                    planned, cfg.timeout_s, progress, python, cpus if pin else None, plan_env
                )
                record, epochs = records_for(point, run_id(index), result, env["peaks"])
                append_rows(directory / "epochs.csv", EPOCH_COLUMNS, epochs)
                append_rows(directory / "runs.csv", RUN_COLUMNS, [record.row()])
                detail = (
                    f"{record.summary.steady_epoch_s:.3f} s/epoch"
                    if record.summary is not None
                    else record.reason
                )
                progress.finished(point, record.status, detail)
                if n == len(todo) or (every and n % every == 0):  # drift: the peak again
                    again = calibrate(combos, python, pin=pin, universe=all_cpus)
                    env.setdefault("recalibrations", []).append(
                        {"after_runs": len(points) - len(todo) + n, "peaks": again}
                    )
                    write_json(directory / "environment.json", env)
        except (KeyboardInterrupt, Interrupted) as e:
            progress.close()
            signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
            print(
                f"\ninterrupted ({signal.Signals(signum).name}); the running point is lost, "
                f"the rest is kept. Finish with: mlpbench sweep --resume {directory}",
                file=sys.stderr,
            )
            raise Interrupted(signum) from None
        finally:
            if pin:
                os.sched_setaffinity(0, all_cpus)
    progress.close()
