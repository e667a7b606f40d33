"""Standalone scripts of one point: the reproducer ``mlpbench repro`` writes, and the worker a
sweep runs in a version stack whose Python mlpbench cannot run in (older than 3.10, such as
the article's 2020 stack on Python 3.8).

A script needs only its framework and NumPy; it prints the per-epoch lines of ``mlpbench run``
and, last, ``RESULT {json}`` (per-epoch wall, CPU and loss; import and train time; test loss and
accuracy; the versions it ran with), which :func:`result_of` turns into the worker's result.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlpbench.api.spec import RunSpec
from mlpbench.errors import UserError
from mlpbench.results.point import PointResult

# A template's line that imports a sibling template or a module of mlpbench, replaced by...
SHARED_IMPORT = re.compile(r"from (standalone_\w+|mlpbench(?:\.\w+)+) import ")
INLINE_MARK = "# --- inlined below this line ---"  # ...what that module has below this line


def template_of(backend: str) -> str:
    """The name of ``backend``'s standalone template in ``templates/`` ("" for none): the
    backend's own hook says (``mlpbench.api.framework``)."""
    from mlpbench.api import registry
    from mlpbench.api.framework import hook

    try:
        return str(hook(registry.load(backend).cls, "standalone_template"))
    except UserError:  # not installed here, or broken: no script
        return ""


def runs_as_script(backend: str) -> bool:
    """Whether a sweep runs ``backend``'s points as its script in a stack mlpbench cannot run
    in: those whose script is the backend (numpy-plain's maths, Keras's fit; the tuned NumPy
    backend is not a script); the backend's hook says."""
    from mlpbench.api import registry
    from mlpbench.api.framework import hook

    try:
        return bool(hook(registry.load(backend).cls, "script_in_old_stacks"))
    except UserError:
        return False


def script_for(
    run: RunSpec,
    title: str,
    environment: dict[str, str] | None = None,
    blas: dict[str, Any] | None = None,
) -> str:
    """The script of ``run``: its template with the point's settings filled in.
    ``environment``: the thread and BLAS variables the script sets before NumPy loads (the
    run's, as recorded; None: only the point's thread count, where the shell sets none);
    ``blas``: the BLAS the run got (internal_api, architecture, num_threads), which the script
    prints beside its own."""
    template = template_of(run.backend)
    if not template:
        raise ValueError(f"backend {run.backend} has no standalone script")
    settings = {
        "title": title,
        "threads": run.threads,
        "dtype": run.dtype,
        "model": {**asdict(run.model), "layers": list(run.model.layers)},
        "train": asdict(run.train),
        "data": asdict(run.data),
        "options": dict(run.options),
        "environment": dict(environment or {}),
        "blas": dict(blas or {}),
    }
    folder = Path(__file__).parent.parent / "backends" / "templates"

    def inlined(line: str) -> str:
        shared = SHARED_IMPORT.match(line)
        if not shared:
            return line
        name = shared.group(1)
        if name.startswith("mlpbench."):  # numpy-plain's maths: the script needs no mlpbench
            path = Path(__file__).parent.parent.joinpath(*name.split(".")[1:]).with_suffix(".py")
        else:
            path = folder / f"{name}.py"
        text = path.read_text()
        return text.split(INLINE_MARK, 1)[1].lstrip("\n")

    text = (folder / template).read_text()
    lines = [inlined(line) for line in text.split("\n")]
    return "\n".join(lines).replace("__SETTINGS__", json.dumps(settings, indent=1))


def result_of(output: str, run: RunSpec) -> PointResult:
    """The point's result from a script's output: ok with a summary and the epochs, or
    failed naming the last line the script printed."""
    line = next((x for x in reversed(output.splitlines()) if x.startswith("RESULT ")), "")
    if not line:
        last = next((x for x in reversed(output.splitlines()) if x.strip()), "no output")
        return PointResult.failed(f"the standalone script failed: {last[-300:]}")
    got = json.loads(line[len("RESULT ") :])
    rows = got["epochs"]
    epochs = [
        {"epoch": i, "wall_s": w, "cpu_s": c, "loss": v, "accuracy": math.nan, "phases": {}}
        for i, (w, c, v) in enumerate(rows)
    ]
    walls = [w for w, _, _ in rows]
    steady_walls = walls[1:] or walls
    steady = statistics.median(steady_walls)
    n = int(got["n_train"])
    _, flops = run.model.flops_per_sample()
    versions = got.get("versions", {})
    framework = str(got.get("framework", ""))
    summary = {
        "dataset": run.data.dataset,
        "n_train": n,
        "epochs": len(rows),
        "import_s": float(got.get("import_s", 0.0)),
        "setup_s": math.nan,
        "first_epoch_s": walls[0],
        "steady_epoch_s": steady,
        "steady_epoch_min_s": min(steady_walls),
        "steady_epoch_max_s": max(steady_walls),
        "train_s": float(got.get("train_s", sum(walls))),
        "cpu_s": sum(c for _, c, _ in rows),
        "samples_per_s": n / steady if steady > 0 else math.nan,
        "gflops": flops * n / steady / 1e9 if steady > 0 else math.nan,
        "final_loss": rows[-1][2],
        "final_accuracy": math.nan,
        "test_loss": float(got["test_loss"]),
        "test_accuracy": float(got["test_accuracy"]),
        "peak_rss_mb": math.nan,
        "blas": "",
        "blas_threads": run.threads,
        "framework_threads": f"standalone script, {run.threads} thread(s)",
        "backend_version": framework,
        "backend_info": ";".join(
            ["runner=standalone script", *(f"{k}={v}" for k, v in sorted(versions.items()))]
        ),
    }
    return PointResult.from_json({"status": "ok", "summary": summary, "epochs": epochs})
