"""``mlpbench plot``: (re)draw every plot of a results folder from its CSVs."""

from __future__ import annotations

import argparse
from typing import Any

from mlpbench.cli.common import add_results_dir


def add(sub: Any) -> None:
    p = sub.add_parser("plot", help="(re)draw every plot of a result dir from its CSVs")
    add_results_dir(p)
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.plots import plot_all

    for path in plot_all(Analysis.of(a.directory, a.strict)):
        print(path)
    return 0
