"""``mlpbench report``: the summary, the plots and report.html of a results folder."""

from __future__ import annotations

import argparse
from typing import Any

from mlpbench.cli.common import add_results_dir


def add(sub: Any) -> None:
    p = sub.add_parser("report", help="plots + report.html of a result dir")
    add_results_dir(p)
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.plots import plot_all
    from mlpbench.render.report import write_report
    from mlpbench.render.text import summary_lines

    analysis = Analysis.of(a.directory)
    print("\n".join(summary_lines(analysis)))
    print(f"\nreport: {write_report(analysis, plot_all(analysis))}")
    return 0
