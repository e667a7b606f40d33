"""``mlpbench repro``: one point of a result set as a self-contained folder a maintainer can
run without mlpbench: ``run.py`` (only NumPy, or Keras and its framework), a pinned
``requirements.txt`` from the run's environment, the data (``mnist.npz``, or the seeded
synthetic problem drawn in the script), and a README with the command and what the sweep
measured.

The scripts print the per-epoch lines of ``mlpbench run`` (``epoch   N/M   S s (cpu ...)``)
and the steady epoch (median of epochs 2..N), so the two can be set side by side.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from mlpbench.analysis.tables import ResultSet
from mlpbench.config import expand
from mlpbench.config.points import CURRENT_ENV, PointKey, match_key
from mlpbench.errors import UserError

NOT_PINNED = {"mlpbench", "psutil", "pip", "setuptools", "wheel"}


def select(results: ResultSet, selector: str) -> PointKey:
    """The one point ``selector`` names: a run id (``r0003``) or ``axis=value,...`` matching
    exactly one point of the folder's runs."""
    runs = results.runs
    if re.fullmatch(r"r\d{4,}", selector):
        hit = runs[runs["run_id"] == selector]
        if hit.empty:
            raise UserError(f"--point {selector}: no run {selector} in {results.directory}")
        return PointKey.from_row(hit.iloc[0].to_dict())
    keys = [PointKey.from_row(r) for r in runs.to_dict("records")]
    return match_key(keys, selector)


def versions_of(results: ResultSet, key: PointKey) -> dict[str, str]:
    """The package versions the point ran with (its stack's, or the sweep's own)."""
    env = results.env
    if key.env != CURRENT_ENV:
        stack = env.stacks.get(key.env)
        return dict(stack.versions) if stack is not None else {}
    return dict(env.versions)


def runs_of(results: ResultSet, key: PointKey) -> list[dict[str, Any]]:
    """The point's ok runs (the README's numbers, plan and backend settings come from them)."""
    return [r for r in results.ok.to_dict("records") if PointKey.from_row(r) == key]


def execution(
    results: ResultSet, key: PointKey, rows: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The thread and BLAS variables the point's worker ran with and the BLAS it got: what its
    runs recorded (runs.csv run_env, blas_architecture), else, for a folder older than those
    columns, the sweep's BLAS variables (environment.json) with the point's thread counts."""
    from mlpbench.machine.threads import env_of_text, thread_env

    row = rows[0] if rows else {}
    variables = env_of_text(str(row.get("run_env") or ""))
    if not variables:
        variables = {**dict(results.env.blas_env), **thread_env(key.threads)}
    recorded = results.env.blas if key.env == CURRENT_ENV else {}
    blas = {
        "internal_api": str(row.get("blas") or recorded.get("blas") or "").split(" ")[0],
        "architecture": str(row.get("blas_architecture") or recorded.get("blas_architecture", "")),
        "num_threads": _count(row.get("blas_threads")),
    }
    return variables, {k: v for k, v in blas.items() if v not in ("", None)}


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):  # empty, or NaN in an older row
        return None


def pinned(backend: str) -> list[str]:
    """What a script's requirements pin for ``backend``'s point, from the versions the run
    had: NumPy, threadpoolctl and the packages the backend names (its ``packages`` hook)."""
    from mlpbench.api import registry
    from mlpbench.api.framework import hook
    from mlpbench.stacks.build import norm

    try:
        named = hook(registry.load(backend).cls, "packages")
    except UserError:
        named = {}
    return list(dict.fromkeys(norm(n) for n in ("numpy", "threadpoolctl", *named)))


def requirements(results: ResultSet, key: PointKey) -> list[str]:
    """``name==version`` lines for the script: a stack's every distribution (the stack, as
    resolved), else the framework packages of the sweep's own environment."""
    from mlpbench.stacks.build import norm

    versions = versions_of(results, key)
    if key.env != CURRENT_ENV:
        pins = sorted(
            f"{name}=={v}" for name, v in versions.items() if norm(name) not in NOT_PINNED
        )
    else:
        lower = {norm(k): v for k, v in versions.items()}
        pins = [f"{name}=={lower[name]}" for name in pinned(key.backend) if name in lower]
    if not any(norm(p.split("==")[0]) == "threadpoolctl" for p in pins):
        pins.append("threadpoolctl")  # the script prints the BLAS kernel it got with it
    return pins


def write(results: ResultSet, selector: str, out: Path) -> Path:
    """The reproducer folder of one point; returns it."""
    from mlpbench.worker.standalone import script_for, template_of

    key = select(results, selector)
    if not template_of(key.backend):
        raise UserError(
            f"--point: {key.backend} has no standalone script (numpy, numpy-plain and keras "
            "do), so no reproducer is written for its points"
        )
    if results.config is None:
        raise UserError(f"{results.directory} has no readable config.toml: its settings are lost")
    run = expand.point(results.config, key, 0).run
    if run.data.dataset not in ("mnist", "synthetic"):
        raise UserError(
            f"--point: a reproducer carries mnist or synthetic data, not {run.data.dataset}"
        )
    out.mkdir(parents=True, exist_ok=True)
    rows = runs_of(results, key)
    variables, blas = execution(results, key, rows)
    (out / "run.py").write_text(script_for(run, f"mlpbench point {key.label()}", variables, blas))
    pins = requirements(results, key)
    (out / "requirements.txt").write_text("\n".join(pins or ["numpy"]) + "\n")
    if run.data.dataset == "mnist":
        import numpy as np

        from mlpbench.data import load_raw

        raw, _ = load_raw(run.data)
        np.savez_compressed(out / "mnist.npz", **raw)
    (out / "README.md").write_text(readme(results, key, rows, pins, variables, blas))
    return out


def readme(
    results: ResultSet,
    key: PointKey,
    rows: list[dict[str, Any]],
    pins: list[str],
    variables: dict[str, str],
    blas: dict[str, Any],
) -> str:
    env = results.env
    settings = "\n".join(f"    {k}={v}" for k, v in sorted(variables.items())) or "    (none)"
    kernel = " ".join(str(blas.get(k, "?")) for k in ("internal_api", "architecture"))
    times = [float(r["steady_epoch_s"]) for r in rows]
    plans = ", ".join(sorted({str(r.get("plan") or "") for r in rows} - {""}))
    plan = f" with thread plan {plans!r}" if plans else ""
    options = f"`{rows[0]['backend_info']}`" if rows and rows[0].get("backend_info") else "-"
    median = statistics.median(times) if times else float("nan")
    spread = f"{min(times):.4f}-{max(times):.4f} s" if times else "-"
    blas = (
        env.blas_name
        if key.env == CURRENT_ENV
        else (stack.blas_name if (stack := env.stacks.get(key.env)) else "?")
    )
    return f"""# Reproducer: {key.label()}

Written by `mlpbench repro` from the result set `{results.directory.name}`. It needs only
{", ".join(pins) or "NumPy"} (no mlpbench):

```sh
python -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/python run.py                      # the run's thread and BLAS settings
.venv/bin/python run.py --machine-defaults   # this machine's own, with {key.threads} thread(s)
```

Before NumPy loads, `run.py` sets the thread and BLAS variables the sweep's worker ran with, as
it recorded them, and unsets any other such variable of your shell (an image's
`OPENBLAS_CORETYPE` picks another OpenBLAS kernel, which can change the time by more than the
versions do):

```
{settings}
```

It then prints the BLAS library, kernel and thread count it got (threadpoolctl) beside the
run's ({kernel}), and one line more when they differ. `--machine-defaults` keeps your shell's
variables instead (only the point's thread count is set where none is).

It prints one line per epoch, as `mlpbench run` does, then the steady epoch (the median of
epochs 2..N; epoch 1 carries the warm-up). The maths is the one every mlpbench backend
computes (the same loss definitions, clipping and update rules, from the same initial weights),
written plainly; mlpbench's `{key.backend}` backend ran it{plan}.

## What the sweep measured

| | |
|---|---|
| point | {key.label()} |
| runs | {len(times)} |
| steady epoch, median | {median:.4f} s |
| min-max | {spread} |
| CPU | {env.cpu_model or "?"} |
| BLAS | {blas} |
| stack | {key.env} |
| the backend's settings | {options} |

The script runs the Keras way (one `fit()`, one step per call) or plainly (NumPy); options of
mlpbench's backend that have no place in it (`steps_per_execution`, a thread plan) are in the
backend's settings above, so that a difference from the sweep's time can be read against them.
"""
