"""``mlpbench configs``: the sweeps shipped with the package, with their sizes and how long
each last took on this machine (measured, from the results folder)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlpbench.cli.common import add_results_root


def add(sub: Any) -> None:
    p = sub.add_parser("configs", help="list the shipped sweeps (mlpbench sweep NAME)")
    add_results_root(p)
    p.set_defaults(func=run)


def last_times(root: Path) -> dict[str, str]:
    """Each sweep name's wall time in its newest finished result folder under ``root``."""
    from mlpbench.render.format import sweep_time
    from mlpbench.results.store import environments

    found: dict[str, str] = {}
    for folder, env in environments(root):
        name, took = str(env.config_name), sweep_time(env)
        if name and took and name not in found:
            found[name] = f"{took}, {folder.name}"
    return found


def run(a: argparse.Namespace) -> int:
    from mlpbench.config import catalog, expand
    from mlpbench.config.sweepfile import load_config
    from mlpbench.render.text import table_lines

    took = last_times(Path(a.results))
    rows = [("name", "points", "runs", f"last run here ({a.results}/)", "description")]
    for name, path in catalog.shipped().items():
        cfg = load_config(path)
        points = len(expand.keys(cfg))
        when = took.get(name, "not run here yet")
        rows.append((name, str(points), str(points * cfg.repeats), when, cfg.description))
    print("\n".join(table_lines(rows)))
    print(
        "\nrun one: mlpbench sweep NAME; see it: mlpbench sweep NAME --show; "
        "--dry-run names its points and the calibration and tuning it will do first"
    )
    return 0
