"""``mlpbench summary``: medians, spread and speed ratios of a results folder."""

from __future__ import annotations

import argparse
from typing import Any

from mlpbench.cli.common import add_results_dir


def add(sub: Any) -> None:
    p = sub.add_parser("summary", help="medians, spread and speed ratios of a result dir")
    add_results_dir(p)
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.text import summary_lines

    print("\n".join(summary_lines(Analysis.of(a.directory, a.strict))))
    return 0
