"""One session of a sweep over its results folder: the state every executor shares
(``Sweep``), the one path by which a finished point becomes rows, the session's timings in
environment.json, SIGTERM taken as Ctrl-C, and the checks before ``--resume`` runs a folder's
config again."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpbench.config import expand
from mlpbench.config.expand import Point
from mlpbench.config.sweepfile import SweepConfig, changed_keys, parse_config, parse_toml
from mlpbench.errors import Interrupted, UserError
from mlpbench.results.environment import Environment, Peak, Session
from mlpbench.results.folder import ResultsFolder, rows_of
from mlpbench.results.point import PointResult
from mlpbench.results.schema import RunRecord
from mlpbench.sweep.preflight import Checked
from mlpbench.sweep.runner import PointRunner
from mlpbench.sweep.spawn import Progress, peak_for

Finished = Iterator[tuple[int, Point, PointResult, list[dict[str, Any]]]]
"""What an executor yields as points finish: index, point, result, the peaks of its host."""


@dataclass
class Sweep:
    """One sweep as every executor sees it: the config, the folder and its environment, the
    runner every point goes through, the preflight's answer, what is left to run, and the one
    path by which a finished point becomes rows."""

    cfg: SweepConfig
    folder: ResultsFolder
    env: Environment
    mode: str
    checked: Checked
    runner: PointRunner
    points: list[Point]
    todo: list[tuple[int, Point]]
    used: set[str]
    progress: Progress = field(default_factory=lambda: Progress(total=0, mode="none"))
    # this session's work before its first point, counted and timed (calibrate_s,
    # calibrations; tune_s, tuned_slots; on a cluster hosts_s), which environment.json's
    # sessions keep; its "_s" entries add up to the session's prepare_s
    prepared: dict[str, Any] = field(default_factory=dict)
    recorded: int = 0  # runs this session wrote

    def run_id(self, index: int) -> str:
        rid = f"r{index:04d}"
        if rid in self.used:  # taken by a point of an earlier config (--force): a fresh one
            rid = f"r{max(int(u[1:]) for u in self.used if u[1:].isdigit()) + 1:04d}"
        self.used.add(rid)
        return rid

    def say(self, line: str) -> None:
        if self.mode != "none":
            print(line, file=sys.stderr, flush=True)

    def save(self) -> None:
        self.folder.write_environment(self.env)

    def start_progress(self) -> None:
        """The bar (or lines) over every point of the sweep, those done before included."""
        done = len(self.points) - len(self.todo)
        self.progress = Progress(total=len(self.points), done=done, mode=self.mode)
        self.runner.progress = self.progress
        note = self.folder.link_latest()
        if note:
            self.progress.say(note)

    def record(
        self, index: int, point: Point, result: PointResult, peaks: list[Peak]
    ) -> RunRecord:
        """The finished point's rows and its progress line."""
        key = point.key
        peak = peak_for(peaks, key.dtype, key.threads, key.device, key.env)
        record, epochs = rows_of(key, point.repeat, self.run_id(index), result, peak)
        self.folder.append(record, epochs)
        self.recorded += 1
        summary = record.summary
        if summary is not None and summary.plan and not self.env.cluster:
            from mlpbench.sweep import tuning

            if str(point.run.options.get("plan", tuning.AUTO)) == tuning.AUTO:  # tuned, not forced
                stale = tuning.check_against_run(
                    self.env, key, summary.plan, summary.steady_epoch_s, summary.n_train,
                    entry=self.env.plans.get(tuning.slot(key)),
                )  # fmt: skip
                if stale:
                    self.progress.say(stale)
        where = f" on {record.hostname}" if self.env.cluster else ""
        detail = (
            f"{record.summary.steady_epoch_s:.3f} s/epoch{where}"
            if record.summary is not None
            else record.reason
        )
        self.progress.finished(point, record.status, detail)
        return record


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
        sweep.env.sessions.append(
            Session.from_json(
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
        )
        try:
            sweep.save()
        except OSError:  # the folder went away: the rows are what matters
            pass


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


def check_config_unchanged(
    cfg: SweepConfig, env: Environment, directory: Path, force: bool
) -> Environment:
    """Resume the config the sweep started with, or with ``force`` one that only adds points.

    Returns the environment to store (with the new fingerprint when forced)."""
    if env.config_fingerprint == cfg.fingerprint():
        return env
    old_text = env.config_text
    changed = changed_keys(parse_toml(old_text), parse_toml(cfg.text)) or ["the file's text"]
    if not force:
        raise UserError(
            f"{ResultsFolder(directory).config_path} changed since the sweep started "
            f"(changed: {', '.join(changed)}); --resume runs the sweep as it started: undo "
            "the edit, start a new sweep, or add --force to run the new points in this folder"
        )
    old = parse_config(parse_toml(old_text), str(ResultsFolder(directory).config_path), old_text)
    old_points = {(p.key, p.repeat): p.run for p in expand.points(old)}
    for (key, repeat), _ in ResultsFolder(directory).done().items():
        if (
            key in set(expand.keys(cfg))
            and old_points.get((key, repeat)) != expand.point(cfg, key, repeat).run
        ):
            raise UserError(
                f"--force: the edit (changed: {', '.join(changed)}) changes {key.label(repeat)}, "
                "which already ran; only new points may be added to a folder"
            )
    env.config_history = [*env.config_history, env.config_fingerprint]
    env.config_fingerprint, env.config_text = cfg.fingerprint(), cfg.text
    return env
