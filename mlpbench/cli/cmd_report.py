"""``mlpbench report``: the summary, the plots and report.html of a results folder."""

from __future__ import annotations

import argparse
from typing import Any

from mlpbench.cli.common import add_results_dir


def add(sub: Any) -> None:
    p = sub.add_parser("report", help="plots + report.html of a result dir")
    add_results_dir(p)
    p.add_argument(
        "--markdown",
        metavar="FOLDER",
        help="also write a results page (FOLDER/<date>-<cpu>-<sweep>.md, the result set and "
        "key plots beside it), as docs/results/ holds",
    )
    p.add_argument(
        "--headline",
        metavar="README",
        help="with --markdown: replace the headline block of this README with the verdict",
    )
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.plots import plot_all
    from mlpbench.render.report import write_report
    from mlpbench.render.text import summary_lines

    analysis = Analysis.of(a.directory, a.strict)
    print("\n".join(summary_lines(analysis)))
    plots = plot_all(analysis)
    print(f"\nreport: {write_report(analysis, plots)}")
    if a.markdown:
        from pathlib import Path

        from mlpbench.render import markdown

        written = markdown.write_page(analysis, Path(a.markdown), plots)
        print(f"results page: {written}")
        if a.headline:
            readme = Path(a.headline)
            block = markdown.headline(analysis, written.stem)
            readme.write_text(markdown.replace_headline(readme.read_text(), block))
            print(f"headline: {readme}")
    elif a.headline:
        from mlpbench.errors import UserError

        raise UserError("--headline needs --markdown FOLDER (the page it links)")
    return 0
