"""A small, fabricated results directory with known numbers, for plot/report/compare tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlpbench.config.points import KEY_COLUMNS
from mlpbench.results.schema import EPOCH_COLUMNS, RUN_COLUMNS, SCHEMA_VERSION, columns_record
from mlpbench.results.store import append_rows, write_json

BATCHES = (100, 500, 2000)


def base_time(backend: str, batch: int, dtype: str, threads: int, variant: str) -> float:
    t = {"numpy": 0.2, "keras": 0.5, "torch": 0.35, "tf": 0.4}[backend] * (500 / batch) ** 0.3
    t *= 2.0 if dtype == "float64" else 1.0
    t /= 1.0 + 0.6 * (threads - 1)
    return t * {"baseline": 1.0, "input_delta": 1.4}.get(variant, 1.0)


def make_results(
    directory: Path,
    repeats: int = 5,
    slow: dict | None = None,
    seed: int = 0,
    backends=("numpy", "keras"),
    variants=("baseline",),
    host_of=None,
) -> Path:
    """Write runs.csv, epochs.csv, environment.json, config.toml. ``slow`` = {key: factor}.
    ``host_of(backend, repeat)`` -> (host id, time factor): a cluster sweep's rows."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text(
        'name = "fixture"\n' + "".join(f'[[variant]]\nname = "{v}"\n' for v in variants)
    )
    write_json(
        directory / "environment.json",
        {
            "schema_version": SCHEMA_VERSION,
            "columns": columns_record(),
            "cpu_model": "Fixture CPU",
            "cores_usable": 2,
            "memory_gb": 8,
            "config_name": "fixture",
            "blas": {"blas": "openblas 0.3"},
            "versions": {"numpy": "2.0", "keras": "3.5"},
            "peaks": [
                {
                    "dtype": d,
                    "threads": t,
                    "device": "cpu",
                    "gflops": 100.0 / (1 + (d == "float64")),
                }
                for d in ("float32", "float64")
                for t in (1, 2)
            ],
        },
    )
    runs, epochs, i = [], [], 0
    for r in range(repeats):
        for batch in BATCHES:
            for dtype in ("float32", "float64"):
                for threads in (1, 2):
                    for variant in variants:
                        for backend in backends:
                            key = (backend, batch, dtype, "cpu", threads, variant)
                            full = (*key, "784-70-30-10", "-", "current")
                            t = base_time(backend, batch, dtype, threads, variant)
                            t *= (slow or {}).get(key, 1.0) * rng.uniform(0.97, 1.03)
                            host, factor = host_of(backend, r) if host_of else ("", 1.0)
                            t *= factor
                            run_id = f"r{i:04d}"
                            point = dict(zip(KEY_COLUMNS, (*full, r)))
                            i += 1
                            runs.append(
                                {
                                    "run_id": run_id,
                                    **point,
                                    "status": "ok",
                                    "dataset": "mnist",
                                    "n_train": 60000,
                                    "epochs": 4,
                                    "import_s": 3.0 if backend == "keras" else 0.05,
                                    "setup_s": 0.1,
                                    "first_epoch_s": t * (3 if backend == "keras" else 1.05),
                                    "steady_epoch_s": t,
                                    "steady_epoch_min_s": t * 0.98,
                                    "steady_epoch_max_s": t * 1.02,
                                    "train_s": t * 4.5,
                                    "cpu_s": t * 8,
                                    "samples_per_s": 60000 / t,
                                    "gflops": 14.0 / t,
                                    "peak_gflops": 100.0,
                                    "efficiency": 0.14 / t,
                                    "final_loss": 1.0,
                                    "final_accuracy": float("nan"),
                                    "test_loss": 1.0,
                                    "test_accuracy": 0.8,
                                    "blas_threads": threads,
                                    "host": host,
                                    "hostname": "vm" if host else "",
                                    "backend_info": "keras_backend=tensorflow;engine=tf"
                                    if backend == "keras"
                                    else "",
                                }
                            )
                            for e in range(1, 5):
                                row = {
                                    "run_id": run_id,
                                    **point,
                                    "epoch": e,
                                    "wall_s": t,
                                    "cpu_s": t * 2,
                                    "loss": 2.0 / e,
                                    "accuracy": float("nan"),
                                }
                                if backend == "numpy":
                                    row.update(
                                        phase_shuffle=0.1 * t,
                                        phase_forward=0.4 * t,
                                        phase_backward=0.4 * t,
                                        phase_update=0.1 * t,
                                    )
                                epochs.append(row)
    runs.append(
        {
            "run_id": f"r{i:04d}",
            "backend": "numpy",
            "batch_size": 100,
            "dtype": "float32",
            "device": "gpu",
            "threads": 1,
            "variant": variants[0],
            "layers": "784-70-30-10",
            "options": "-",
            "repeat": 0,
            "status": "skipped",
            "reason": "device 'gpu' unavailable: no GPU",
        }
    )
    append_rows(directory / "runs.csv", RUN_COLUMNS, runs)
    append_rows(directory / "epochs.csv", EPOCH_COLUMNS, epochs)
    return directory
