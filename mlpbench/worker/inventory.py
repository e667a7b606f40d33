"""``python -m mlpbench.worker describe [MODULE ...]``: what this interpreter resolves to, as
one JSON line (a version stack's verification, ``mlpbench.stacks.build``): its Python, every
installed distribution's version, the BLAS NumPy uses, the backends it registers, and whether
each MODULE imports."""

from __future__ import annotations

import importlib
import json
import sys
from importlib.metadata import distributions


def main(modules: list[str]) -> int:
    problems = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:  # any failure to import is the answer
            problems.append(f"import {name} failed: {type(e).__name__}: {e}")
    from mlpbench.api import registry
    from mlpbench.machine.threads import blas_info

    versions = {d.metadata["Name"]: d.version for d in distributions() if d.metadata["Name"]}
    answer = {
        "python": sys.version,
        "executable": sys.executable,
        "versions": dict(sorted(versions.items(), key=lambda kv: kv[0].lower())),
        "blas": blas_info(),
        "backends": registry.available(),
        "problems": problems,
    }
    print(json.dumps(answer, default=str))
    return 0
