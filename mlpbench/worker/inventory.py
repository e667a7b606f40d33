"""``python -m mlpbench.worker describe [DISTRIBUTION ...]``: what this interpreter resolves
to, as one JSON line (a version stack's verification, ``mlpbench.stacks.build``): its Python,
every installed distribution's version, the BLAS NumPy uses, the backends it registers, and
whether each DISTRIBUTION's modules import (their names from its own metadata, so no list of
known packages is kept)."""

from __future__ import annotations

import importlib
import json
import sys
from importlib.metadata import distributions


def import_names(dist_name):  # plain code: also runs in a Python mlpbench cannot run in
    """The top-level modules a distribution installs (its top_level.txt, else its files)."""
    try:
        from importlib.metadata import distribution

        found = distribution(dist_name)
    except Exception:  # not installed (its install said why), or Python 3.7
        return []
    text = found.read_text("top_level.txt")
    if text:
        return [x for x in text.split() if x and not x.startswith("_")]
    names = set()
    for f in found.files or []:
        parts = f.parts
        if len(parts) == 2 and parts[1] == "__init__.py" and "." not in parts[0]:
            names.add(parts[0])
        elif len(parts) == 1 and parts[0].endswith(".py") and not parts[0].startswith("_"):
            names.add(parts[0][:-3])
    return sorted(names)


def main(distributions_named: list[str]) -> int:
    problems = []
    modules = [m for d in distributions_named for m in import_names(d)]
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
