"""``ResultsFolder``: one sweep's results folder, and the only code that knows its layout.

A folder holds ``config.toml`` (the sweep file as it ran), ``environment.json`` (the machine,
the stacks, peaks, plans, sessions), ``runs.csv`` (one row per run) and ``epochs.csv`` (one row
per epoch), and while a sweep runs, its lock. It owns the file names, the lock, the rows it
appends and the environment it reads and writes (asv's ``Results`` owns its file the same way);
every other module asks it.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpbench.api import records as checks
from mlpbench.config.points import KEY_COLUMNS, PointKey
from mlpbench.errors import BusyError, ResultsError, UserError
from mlpbench.results import store
from mlpbench.results.environment import Environment
from mlpbench.results.point import PointResult
from mlpbench.results.profile import Profile, ProfiledRun
from mlpbench.results.schema import EPOCH_COLUMNS, RUN_COLUMNS, SCHEMA_VERSION, RunRecord

CONFIG, ENVIRONMENT, RUNS, EPOCHS, LOCK = (
    "config.toml", "environment.json", "runs.csv", "epochs.csv", ".lock",
)  # fmt: skip
PROFILES, STACKS = "profiles.jsonl", "profiles"
LATEST = "latest"
FILES = (RUNS, EPOCHS, ENVIRONMENT, CONFIG, PROFILES)
"""What a folder holds once its sweep has ended (a copy of these is a result set)."""


@dataclass(frozen=True)
class ResultsFolder:
    """A results folder by its path (``results/latest`` resolved to the real one)."""

    path: Path

    @classmethod
    def new(cls, root: Path, name: str) -> ResultsFolder:
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
            directory = root / (f"{stamp}-{name}" + (f"-{attempt}" if attempt > 1 else ""))
            if directory.resolve().parent != root.resolve():  # names are checked; never outside
                raise UserError(f"name = {name!r}: the results folder would leave {root}")
            try:
                directory.mkdir()
                return cls(directory)
            except FileExistsError:
                continue
        raise UserError(f"{root}: no free folder name for {stamp}-{name}")

    @classmethod
    def existing(cls, path: str | Path) -> ResultsFolder:
        """A folder a sweep wrote (it has its config.toml), for ``--resume``."""
        directory = store.resolved(Path(path))
        if not (directory / CONFIG).is_file():
            raise ResultsError(f"{directory} has no {CONFIG}: not a results directory")
        return cls(directory)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def runs_path(self) -> Path:
        return self.path / RUNS

    @property
    def epochs_path(self) -> Path:
        return self.path / EPOCHS

    # environment.json
    def read_environment(self) -> Environment:
        return Environment.from_json(store.read_environment(self.path))

    def write_environment(self, env: Environment) -> None:
        store.write_json(self.path / ENVIRONMENT, env.to_json())

    def resumable_environment(self) -> Environment:
        """The environment of a folder ``--resume`` may add to: one this schema writes."""
        env = self.read_environment()
        if env.empty:
            raise ResultsError(f"{self.path} has no {ENVIRONMENT}: not resumable")
        if env.schema_version != SCHEMA_VERSION:
            raise ResultsError(
                f"{self.path} was written with results schema "
                f"v{env.schema_version}; this mlpbench writes v{SCHEMA_VERSION} "
                "and would mix the two in one file: summary, report and compare read it "
                "as it is; finish it with the mlpbench that started it, or start a new sweep"
            )
        return env

    # rows
    def runs(self, strict: bool = True) -> list[dict[str, Any]]:
        return store.read_runs(self.path, strict)

    def done(self) -> dict[tuple[PointKey, int], str]:
        """(key, repeat) -> run id of every complete run."""
        return store.done_runs(self.path)

    def repair(self) -> int:
        """Cut a torn last line of runs.csv (a kill mid-write); its length in bytes."""
        return store.repair_tail(self.runs_path)

    def prune(self, run_ids: set[str]) -> int:
        """Drop epochs whose run never got its row."""
        return store.prune_epochs(self.path, run_ids)

    def copy_to(self, other: Path) -> None:
        """The result set's files into ``other`` (a results page keeps its data beside it)."""
        import shutil

        if self.path.resolve() == Path(other).resolve():
            return
        for name in FILES:
            if (self.path / name).exists():
                shutil.copyfile(self.path / name, Path(other) / name)
        if (self.path / STACKS).is_dir():
            shutil.copytree(self.path / STACKS, Path(other) / STACKS, dirs_exist_ok=True)

    # profiled runs (mlpbench.results.profile): apart from the timed runs
    def profiles(self) -> list[ProfiledRun]:
        """Every profiled run of the folder; a line that does not read is left out, with a
        warning naming it (the timed runs never depend on these)."""
        path = self.path / PROFILES
        out: list[ProfiledRun] = []
        if not path.exists():
            return out
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(ProfiledRun.from_json(json.loads(line)))
            except (ValueError, checks.RecordError) as e:
                store.warn_skipped(f"{path}:{number}", str(e)[:200])
        return out

    def add_profile(self, key: PointKey, result: PointResult) -> ProfiledRun:
        """A profiled run's line (a run that failed or skipped keeps its reason as the
        profile's) and its folded stacks (``profiles/RUN_ID.folded``)."""
        run_id = f"p{len(self.profiles()) + 1:04d}"
        profile = result.profile or Profile(skipped=f"the profiled run {result.status}: "
                                                    f"{result.reason}"[:300])  # fmt: skip
        steady = result.summary.steady_epoch_s if result.summary is not None else math.nan
        run = ProfiledRun(key, run_id, steady, profile)
        if profile.folded:
            (self.path / STACKS).mkdir(exist_ok=True)
            (self.path / STACKS / f"{run_id}.folded").write_text(profile.folded)
        line = json.dumps(run.to_json(), default=float) + "\n"
        try:
            store.append_bytes(self.path / PROFILES, line.encode())
        except OSError as e:
            raise ResultsError(store.unwritable(self.path / PROFILES, e)) from None
        return run

    def append(self, record: RunRecord, epochs: list[dict[str, Any]]) -> None:
        """A finished run's rows: epochs first, then the run (a kill between them leaves epochs
        that ``prune`` removes on resume)."""
        if record.run_id in store.written_run_ids(self.runs_path):
            raise ResultsError(
                f"{self.runs_path}: run_id {record.run_id} is already in the file (another "
                "sweep wrote to this folder); not written twice"
            )
        store.append_rows(self.epochs_path, EPOCH_COLUMNS, epochs)
        store.append_rows(self.runs_path, RUN_COLUMNS, [record.row()])

    # the folder
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock for the sweep's lifetime (released by the kernel on any exit).

        The lock is an ``flock`` on the folder's own descriptor, which nobody can unlink; the
        ``.lock`` file beside it only names the holder's PID for the message a second sweep
        gets, and is removed when the sweep ends.
        """
        lock = self.path / LOCK
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = lock.read_text(errors="replace")[:32].strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise BusyError(
                f"{self.path} is in use by another mlpbench sweep (PID {holder}); "
                "wait for it or stop it, then --resume"
            ) from None
        try:
            try:
                lock.write_text(f"{os.getpid()}\n")
            except OSError:
                pass  # only the message's PID depends on it
            yield
        finally:
            # Removed while still held, so a finished (or stopped) folder holds only its results.
            lock.unlink(missing_ok=True)
            os.close(fd)

    def link_latest(self) -> str:
        """``<root>/latest`` -> this folder (relative, so the tree can move). Only a link is
        ever replaced; a file or folder of that name is the user's and stays: the note that
        says so is returned ("" when linked)."""
        root = self.path.parent
        link = root / LATEST
        if link.exists() and not link.is_symlink():
            return f"note: {link} is not a link; left as it is"
        tmp = root / f".latest-{os.getpid()}"
        try:
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.path.name)
            tmp.replace(link)  # atomic
        except OSError:
            tmp.unlink(missing_ok=True)
        return ""


def rows_of(
    key: PointKey, repeat: int, run_id: str, result: PointResult, peak_gflops: float
) -> tuple[RunRecord, list[dict[str, Any]]]:
    """A run's runs.csv record and its epochs.csv rows."""
    summary = result.summary
    record = RunRecord(
        run_id=run_id,
        key=key,
        repeat=repeat,
        status=result.status,
        reason=checks.bounded(result.reason, checks.MAX_REASON_CHARS),
        summary=summary,
        started_at=datetime.fromtimestamp(result.started_at or time.time()).isoformat(
            timespec="seconds"
        ),
        worker_s=result.worker_s,
        host=result.host,
        hostname=result.hostname,
    )
    if summary is not None:
        record.peak_gflops = peak_gflops
        if peak_gflops > 0:
            record.efficiency = summary.gflops / peak_gflops
    ids = {"run_id": run_id, **dict(zip(KEY_COLUMNS, (*key.values(), repeat)))}
    epochs = []
    for e in result.epochs:
        row = {
            **ids,
            "epoch": e.epoch + 1,
            "wall_s": e.wall_s,
            "cpu_s": e.cpu_s,
            "loss": e.loss,
            "accuracy": e.accuracy,
        }
        row.update({f"phase_{k}": v for k, v in (e.phases or {}).items()})  # checked: known
        epochs.append(row)
    return record, epochs
