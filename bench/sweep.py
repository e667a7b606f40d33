"""Run a sweep: calibrate, then every point in a fresh worker process, rows appended as they end.

A crash, a timeout or a NaN in one point becomes a ``failed`` row with its reason and the sweep
goes on; an impossible point becomes ``skipped``. ``resume`` runs only the points missing from
runs.csv, so an interrupted sweep completes without duplicate rows.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import environment
from bench.config import Point, SweepConfig, load_config
from bench.results import (
    EPOCH_COLUMNS,
    POINT_COLUMNS,
    RUN_COLUMNS,
    append_rows,
    done_keys,
    key_strings,
    prune_orphan_epochs,
    read_environment,
    write_json,
)
from bench.threads import thread_env
from bench.worker import PROGRESS


@dataclass
class Progress:
    """A bar on a terminal, one plain line per point in a pipe, nothing when quiet."""

    total: int
    done: int = 0
    mode: str = "bar"  # bar | lines | none
    bar: Any = None
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                initial=self.done,
                unit="point",
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def running(self, point: Point, epoch: str = "") -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{point.label()} {epoch}".strip(), refresh=True)

    def finished(self, point: Point, status: str, detail: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if status != "ok":
                self.bar.write(f"{point.label()}: {status}: {detail}")
        elif self.mode == "lines":
            print(f"[{self.done}/{self.total}] {point.label()}: {status} {detail}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _env_for(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(thread_env(threads))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def calibrate(
    keys: list[tuple[str, int, str]], python: str = sys.executable, timeout: float = 300
) -> list[dict[str, Any]]:
    """GEMM peak per (dtype, threads, device), each in a fresh process like a point."""
    peaks = []
    for dtype, threads, device in keys:
        cmd = [
            python,
            "-m",
            "bench.calibrate",
            "--dtype",
            dtype,
            "--threads",
            str(threads),
            "--device",
            device,
        ]
        entry = {"dtype": dtype, "threads": threads, "device": device, "gflops": math.nan}
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=_env_for(threads)
            )
            if out.returncode == 0:
                entry.update(json.loads(out.stdout.strip().splitlines()[-1]))
            else:
                entry["error"] = (out.stderr.strip().splitlines() or ["failed"])[-1]
        except subprocess.TimeoutExpired:
            entry["error"] = f"timeout after {timeout} s"
        peaks.append(entry)
    return peaks


def peak_for(peaks: list[dict[str, Any]], dtype: str, threads: int, device: str) -> float:
    for p in peaks:
        if (p["dtype"], int(p["threads"]), p["device"]) == (dtype, threads, device):
            return float(p.get("gflops", math.nan))
    return math.nan


def run_worker(
    point: Point, timeout: float, progress: Progress, python: str = sys.executable
) -> dict[str, Any]:
    """Run one point in a fresh process; always returns a result dict with a status."""
    with tempfile.TemporaryDirectory(prefix="mlpbench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(point.run.to_json()))
        proc = subprocess.Popen(
            [python, "-m", "bench.worker", str(spec_path), str(result_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env_for(point.threads),
            start_new_session=True,
        )
        tail: deque[str] = deque(maxlen=30)

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(PROGRESS):
                    msg = json.loads(line[len(PROGRESS) :])
                    progress.running(point, f"epoch {msg['epoch']}/{msg['of']}")
                elif line.strip():
                    tail.append(line.rstrip())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        t0 = time.perf_counter()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            reader.join(timeout=5)
            return {
                "status": "failed",
                "reason": f"timeout after {timeout:g} s",
                "worker_s": time.perf_counter() - t0,
            }
        except BaseException:
            _kill(proc)
            raise
        reader.join(timeout=5)
        if result_path.exists():
            return json.loads(result_path.read_text())
        if code < 0 and -code == signal.SIGKILL:
            why = "killed by SIGKILL (out of memory?)"
        elif code < 0:
            why = f"killed by signal {signal.Signals(-code).name}"
        else:
            why = f"worker exited with code {code}"
        last = next((line for line in reversed(tail) if line.strip()), "")
        return {
            "status": "failed",
            "reason": f"{why}{': ' + last if last else ''}",
            "worker_s": time.perf_counter() - t0,
        }


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def rows_for(
    point: Point, run_id: str, result: dict[str, Any], peaks: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    keys = dict(zip(POINT_COLUMNS, point.key()))
    run = {
        "run_id": run_id,
        **keys,
        "status": result["status"],
        "reason": result.get("reason", ""),
        "started_at": datetime.fromtimestamp(result.get("started_at", time.time())).isoformat(
            timespec="seconds"
        ),
        "worker_s": result.get("worker_s", math.nan),
    }
    summary = result.get("summary") or {}
    run.update(summary)
    if summary:
        peak = peak_for(peaks, point.dtype, point.threads, point.device)
        run["peak_gflops"] = peak
        run["efficiency"] = summary["gflops"] / peak if peak and not math.isnan(peak) else math.nan
    epochs = []
    for e in result.get("epochs", []):
        row = {
            "run_id": run_id,
            **keys,
            "epoch": e["epoch"] + 1,
            "wall_s": e["wall_s"],
            "cpu_s": e["cpu_s"],
            "loss": e["loss"],
            "accuracy": e["accuracy"],
        }
        row.update({f"phase_{k}": v for k, v in e.get("phases", {}).items()})
        epochs.append(row)
    return run, epochs


def new_directory(cfg: SweepConfig, root: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = root / f"{stamp}-{cfg.name}"
    directory.mkdir(parents=True, exist_ok=False)
    return directory


def point_link(root: Path, directory: Path) -> None:
    """results/latest -> the newest sweep (relative, so the tree can move)."""
    link = root / "latest"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(directory.name)
    except OSError:
        pass


def run_sweep(
    config: SweepConfig | str | Path,
    root: Path = Path("results"),
    resume: Path | None = None,
    quiet: bool = False,
    python: str = sys.executable,
) -> Path:
    """Run (or complete) a sweep; returns its results directory."""
    if resume is not None:
        resume = Path(resume).resolve()  # results/latest -> the real directory
        if not (resume / "config.toml").exists():
            raise FileNotFoundError(f"{resume} has no config.toml: not a results directory")
        cfg = load_config(resume / "config.toml")
        directory = resume
        prune_orphan_epochs(directory)
    else:
        cfg = config if isinstance(config, SweepConfig) else load_config(config)
        directory = new_directory(cfg, Path(root))
        (directory / "config.toml").write_text(cfg.text or "")
    points = cfg.points()
    done = done_keys(directory)
    todo = [(i, p) for i, p in enumerate(points) if key_strings(p.key()) not in done]

    env = read_environment(directory)
    peaks = env.get("peaks", [])
    have = {(p["dtype"], int(p["threads"]), p["device"]) for p in peaks}
    need = sorted({(p.dtype, p.threads, p.device) for _, p in todo} - have)
    mode = "none" if quiet else ("bar" if sys.stderr.isatty() else "lines")
    if need and mode != "none":
        print(
            f"calibrating GEMM peak for {len(need)} (dtype, threads, device) combination(s)...",
            file=sys.stderr,
            flush=True,
        )
    peaks = peaks + calibrate(need, python)
    if not env:
        env = environment.describe()
        env["config_name"] = cfg.name
        env["config_path"] = cfg.path
        env["config_fingerprint"] = cfg.fingerprint()
    env["peaks"] = peaks
    write_json(directory / "environment.json", env)
    point_link(directory.parent, directory)

    progress = Progress(total=len(points), done=len(points) - len(todo), mode=mode)
    try:
        for index, point in todo:
            progress.running(point)
            result = run_worker(point, cfg.timeout_s, progress, python)
            run, epochs = rows_for(point, f"r{index:04d}", result, peaks)
            append_rows(directory / "epochs.csv", EPOCH_COLUMNS, epochs)
            append_rows(directory / "runs.csv", RUN_COLUMNS, [run])
            detail = (
                f"{run['steady_epoch_s']:.3f} s/epoch"
                if result["status"] == "ok"
                else run["reason"]
            )
            progress.finished(point, result["status"], detail)
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted; finish with: mlpbench sweep --resume {directory}", file=sys.stderr)
        raise
    progress.close()
    return directory
