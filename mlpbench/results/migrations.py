"""Older results folders read as today's schema (asv's ``results.py`` migrates its old
``api_version`` files the same way): a column added since is filled with its default, a column
renamed or folded into another is rewritten, so a folder from any earlier version can still be
summarized, plotted and compared. A column no version ever wrote is refused.

History (runs.csv; epochs.csv carries the key columns the same way):
- v1, v2: no ``layers`` / ``keras_backend``; v2 added the probe columns (``cpus`` ...
  ``cpu_mhz``) without a bump, and v1 folders have no ``schema_version`` at all.
- v3: ``layers``, ``keras_backend``, ``host``, ``hostname``; ``plan`` added without a bump.
- v4: ``keras_backend`` folded into ``options`` (a backend's grid options, ``k=v,...``), and
  environment.json stores the column lists it was written with.
- v5: ``env``, the version stack a point ran in (``current`` before: the sweep's own); the
  ``stacks`` of environment.json.
- v6: ``blas_architecture`` and ``run_env`` (the BLAS kernel and the thread and BLAS variables
  each worker ran with: a reproducer sets them again); empty in older folders.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import MISSING, fields
from pathlib import Path

from mlpbench.config.points import PointKey

# Cells of key columns an older folder lacks: the axis's default (PointKey's field), the value
# every point had before the axis came; a new axis with a default needs no code here.
DEFAULT_CELLS = {
    f.name: str(f.default) for f in fields(PointKey) if f.default is not MISSING
}
FOLDED = {"keras_backend": "options"}  # an old column -> the column it lives in now
V3_ENGINES = {"tensorflow": "tf", "jax": "jax", "torch": "torch"}  # engine -> its raw backend


def known_after(header: Iterable[str]) -> list[str]:
    """The columns a header names once migrated."""
    return [FOLDED.get(c, c) for c in header]


def options_apart(directory: Path) -> bool:
    """Whether a v3 folder ran one backend on several engines (then each engine's points keep
    their own ``options`` label; with one engine the label is ``-``, as the grid had no
    options axis, so that v3 and v4 folders of one sweep file compare point by point)."""
    path = Path(directory) / "runs.csv"
    if not path.exists():
        return False
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.DictReader(f)
        if "keras_backend" not in (rows.fieldnames or []):
            return False
        engines = {r.get("keras_backend") for r in rows} - {"-", "", None}
    return len(engines) > 1


def migrate(row: dict[str, str], apart: bool) -> dict[str, str]:
    """One row of an older folder (cells as text) in today's columns; missing cells are left
    out here and filled by the reader with their defaults."""
    if "keras_backend" in row:
        engine = row.pop("keras_backend")
        row["options"] = f"keras_backend={engine}" if apart and engine not in ("", "-") else "-"
    info = row.get("backend_info", "")
    old = re.search(r"(?:^|;)keras_backend=(\w+)", info)
    if old and "engine=" not in info:  # v4 backends name their engine's backend in info()
        row["backend_info"] = f"{info};engine={V3_ENGINES.get(old.group(1), '')}"
    return row
