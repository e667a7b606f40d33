"""``mlpbench report``: the summary, the plots and report.html of a results folder."""

from __future__ import annotations

import argparse
from typing import Any

from bench.commands.common import add_results_dir


def add(sub: Any) -> None:
    p = sub.add_parser("report", help="plots + report.html of a result dir")
    add_results_dir(p)
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from bench.analysis import Analysis
    from bench.plots import plot_all
    from bench.report import write_report
    from bench.text import summary_lines

    analysis = Analysis.of(a.directory)
    print("\n".join(summary_lines(analysis)))
    print(f"\nreport: {write_report(analysis, plot_all(analysis))}")
    return 0
