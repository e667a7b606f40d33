"""``mlpbench sweep``: run a sweep file (or a shipped sweep by name), resume one, show one, or
plan one without running it. Exit 0 when every point is ok or skipped, 1 when any failed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlpbench.cli.common import add_results_root
from mlpbench.errors import UserError


def add(sub: Any) -> None:
    p = sub.add_parser("sweep", help="run a TOML sweep, one fresh process per point")
    p.add_argument(
        "config",
        nargs="?",
        help="a sweep file, or a shipped sweep by name (mlpbench configs); a file wins",
    )
    p.add_argument("--resume", metavar="DIR", help="complete an interrupted sweep in DIR")
    p.add_argument(
        "--force",
        action="store_true",
        help="with --resume: accept an edited config.toml that only adds points (new run ids)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check and expand the sweep, print its points and a time estimate; run nothing",
    )
    p.add_argument("--show", action="store_true", help="print the sweep file (to copy and edit)")
    add_results_root(p)
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default="",
        help="run the points on a Dask cluster: tcp://HOST:PORT or local:N (docs/cluster.md)",
    )
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin each point to its own cores (pinned by default, recorded in runs.csv)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output (CI, pipes)")
    p.add_argument("--report", action="store_true", help="then write plots and report.html")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.config import catalog
    from mlpbench.config.sweepfile import load_config
    from mlpbench.sweep.loop import run_sweep

    if bool(a.config) == bool(a.resume):
        raise UserError("give either a config file or --resume DIR")
    if a.force and not a.resume:
        raise UserError("--force goes with --resume DIR")
    if (a.show or a.dry_run) and not a.config:
        raise UserError("--show and --dry-run take a sweep file or name, not --resume")
    if a.show:
        print(catalog.find(a.config).read_text(), end="")
        return 0
    if a.dry_run:
        from mlpbench.sweep.dryrun import make_plan, render
        from mlpbench.sweep.preflight import preflight

        cfg = load_config(catalog.find(a.config))
        checked = preflight(cfg)
        plan = make_plan(cfg, checked.skips, Path(a.results), checked.plans)
        print("\n".join(render(plan)))
        return 0
    if a.resume:
        directory = run_sweep(
            None,
            resume=Path(a.resume),
            quiet=a.quiet,
            force=a.force,
            pin=not a.no_pin,
            cluster=a.cluster,
        )
    else:
        cfg = load_config(catalog.find(a.config))
        directory = run_sweep(
            cfg, root=Path(a.results), quiet=a.quiet, pin=not a.no_pin, cluster=a.cluster
        )
    return finish(directory, quiet=a.quiet, report=a.report)


def finish(directory: Path, quiet: bool, report: bool) -> int:
    """Summary, report, and the exit status from what the sweep recorded."""
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.text import summary_lines

    analysis = Analysis.of(directory)
    if not quiet:
        print("\n".join(summary_lines(analysis)))
    print(f"\nresults: {directory}")
    if report:
        from mlpbench.render.plots import plot_all
        from mlpbench.render.report import write_report

        print(f"report:  {write_report(analysis, plot_all(analysis))}")
    runs = analysis.results.runs
    if len(runs) and not (runs["status"] == "ok").any():
        print(
            f"no run succeeded ({len(runs)} run(s): "
            + ", ".join(f"{n} {s}" for s, n in runs["status"].value_counts().items())
            + "); the summary lists why under 'not run'",
            file=sys.stderr,
        )
        return 1
    failed = int((runs["status"] == "failed").sum())
    if failed:
        print(f"{failed} run(s) failed; the summary lists them under 'not run'", file=sys.stderr)
        return 1
    return 0
