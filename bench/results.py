"""The results directory: tidy CSVs appended as each point ends, read back for summaries/plots."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

POINT_COLUMNS = ["backend", "batch_size", "dtype", "device", "threads", "variant", "repeat"]
RUN_COLUMNS = [
    "run_id",
    *POINT_COLUMNS,
    "status",
    "reason",
    "dataset",
    "n_train",
    "epochs",
    "import_s",
    "setup_s",
    "first_epoch_s",
    "steady_epoch_s",
    "steady_epoch_min_s",
    "steady_epoch_max_s",
    "train_s",
    "cpu_s",
    "samples_per_s",
    "gflops",
    "peak_gflops",
    "efficiency",
    "final_loss",
    "final_accuracy",
    "test_loss",
    "test_accuracy",
    "peak_rss_mb",
    "blas",
    "blas_threads",
    "framework_threads",
    "backend_version",
    "backend_info",
    "started_at",
    "worker_s",
]
PHASE_COLUMNS = ["phase_shuffle", "phase_forward", "phase_backward", "phase_update", "phase_eval"]
EPOCH_COLUMNS = [
    "run_id",
    *POINT_COLUMNS,
    "epoch",
    "wall_s",
    "cpu_s",
    "loss",
    "accuracy",
    *PHASE_COLUMNS,
]
FILES = ("runs.csv", "epochs.csv", "environment.json", "config.toml")


def _cell(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return "" if value is None else value


def append_rows(path: Path, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Append rows and flush to disk at once: a kill loses at most the running point."""
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
        f.flush()
        os.fsync(f.fileno())


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def done_keys(directory: Path) -> set[tuple[str, ...]]:
    """Point keys already in runs.csv, as strings (what --resume skips)."""
    return {tuple(row[k] for k in POINT_COLUMNS) for row in read_csv(directory / "runs.csv")}


def key_strings(key: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in key)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


def read_environment(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "environment.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_runs(directory: str | Path) -> Any:
    """runs.csv as a pandas DataFrame with numeric columns parsed."""
    import pandas as pd

    path = Path(directory) / "runs.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: is {directory} a results directory?")
    return pd.read_csv(path, keep_default_na=True, dtype={"reason": str, "variant": str})


def load_epochs(directory: str | Path) -> Any:
    import pandas as pd

    path = Path(directory) / "epochs.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=EPOCH_COLUMNS)


def resolve(directory: str | Path) -> Path:
    """A results directory, following results/latest."""
    path = Path(directory)
    if not (path / "runs.csv").exists() and not path.is_dir():
        raise FileNotFoundError(f"no results directory at {path}")
    return path.resolve()


def prune_orphan_epochs(directory: Path) -> None:
    """Drop epoch rows of a run whose runs.csv row was never written (killed in between)."""
    epochs_path = directory / "epochs.csv"
    runs = {row["run_id"] for row in read_csv(directory / "runs.csv")}
    rows = read_csv(epochs_path)
    kept = [r for r in rows if r["run_id"] in runs]
    if len(kept) != len(rows):
        epochs_path.unlink()
        append_rows(epochs_path, EPOCH_COLUMNS, kept)
