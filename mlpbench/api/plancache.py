"""This machine's table of tuned thread plans (``mlpbench tune`` writes it), readable by the
harness and by a backend alike, so that ``plan = "auto"`` means the tuned plan everywhere: in a
sweep, in ``mlpbench run`` and in a Trainer built from Python.

The table lives in the user's cache folder, one file per machine fingerprint: the CPU, its
flags, the usable cores, the BLAS and its kernels, NumPy's version, and the OpenBLAS variables
of the environment the user has (the image may set ``OPENBLAS_CORETYPE``: a table tuned with it
unset is not used with it set). Variables a sweep sets per point (thread counts, a plan's own)
are not part of it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpbench.machine.threads import blas_environment

__all__ = ["blas_environment"]

if TYPE_CHECKING:
    from mlpbench.results.environment import Environment, PlanEntry

AUTO = "auto"
TUNE_ENV = "MLPBENCH_TUNE"  # "0": no tuning and no table; the backends' defaults run


def fingerprint(env: Environment | Mapping[str, Any]) -> str:
    """What makes a plan's speed this machine's (``env``: a sweep's Environment, or the
    machine part of one as ``mlpbench.machine.describe.machine`` gives it)."""
    from mlpbench.results.environment import Environment

    if not isinstance(env, Environment):
        env = Environment.from_json(env)
    keys = env.plan_machine()
    return hashlib.sha256(json.dumps(keys, default=str).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    from mlpbench.data import cache_dir as data_cache

    return data_cache()


def cache_path(env: dict[str, Any]) -> Path:
    return cache_dir() / f"plans-{fingerprint(env)}.json"


def read(env: dict[str, Any]) -> dict[str, PlanEntry]:
    from mlpbench.results.environment import plans_of

    path = cache_path(env)
    if not path.exists():
        return {}
    try:
        return plans_of(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def write(env: dict[str, Any], table: Mapping[str, PlanEntry]) -> Path:
    """The table, each entry's seconds finite and its choice among them (an entry made of
    ``Infinity``, from trials that all failed, is never kept)."""
    import math
    from dataclasses import replace

    kept = {}
    for k, e in table.items():
        finite = {n: v for n, v in e.seconds.items() if math.isfinite(v)}
        if e.seconds and e.choice not in finite:
            continue  # its trials failed, or its choice was never measured: nothing learned
        kept[k] = replace(e, seconds=finite).to_json()
    path = cache_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(kept, indent=2, sort_keys=True, allow_nan=False))
    tmp.replace(path)
    return path


def slot(backend: str, layers: str, dtype: str, device: str, threads: int, batch: int) -> str:
    """The table's key for a point: what a plan's speed depends on."""
    return f"{backend}|{layers}|{dtype}|{device}|{threads}|{batch}"


@functools.lru_cache(maxsize=1)
def _this_machine() -> str:
    from mlpbench.machine.describe import machine

    return json.dumps(machine())


def this_machine() -> dict[str, Any]:
    """The fingerprint's part of environment.json, for this process (computed once)."""
    return json.loads(_this_machine())


def lookup(
    backend: str, layers: str, dtype: str, device: str, threads: int, batch: int
) -> PlanEntry | None:
    """This machine's tuned entry for the point, or None: no table, no entry, or tuning off
    (``MLPBENCH_TUNE=0``)."""
    if os.environ.get(TUNE_ENV) == "0":
        return None
    return read(this_machine()).get(slot(backend, layers, dtype, device, threads, batch))
