"""The results folder of a sweep: a fresh name inside the results root, the ``latest`` link,
the lock that keeps one sweep per folder, and the checks before ``--resume`` runs a folder's
config again."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpbench.config import expand
from mlpbench.config.sweepfile import SweepConfig, changed_keys, parse_config, parse_toml
from mlpbench.errors import BusyError, Interrupted, UserError
from mlpbench.results.store import done_runs
from mlpbench.sweep.spawn import Progress


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
    """Hold the folder's lock for the sweep's lifetime (released by the kernel on any exit;
    its file is removed when the sweep ends)."""
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
        # Removed while still held, so a finished (or stopped) folder holds only its results.
        (directory / ".lock").unlink(missing_ok=True)
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
