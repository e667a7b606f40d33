"""``mlpbench configs``: the sweeps shipped with the package, with their sizes."""

from __future__ import annotations

import argparse
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("configs", help="list the shipped sweeps (mlpbench sweep NAME)")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.config import catalog, expand
    from mlpbench.config.sweepfile import load_config
    from mlpbench.render.text import table_lines

    rows = [("name", "points", "runs", "description")]
    for name, path in catalog.shipped().items():
        cfg = load_config(path)
        points = len(expand.keys(cfg))
        rows.append((name, str(points), str(points * cfg.repeats), cfg.description))
    print("\n".join(table_lines(rows)))
    print("\nrun one: mlpbench sweep NAME; see it: mlpbench sweep NAME --show")
    return 0
