"""Subcommands beyond ``run``: each parser adds itself to ``PARSERS``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

PARSERS: list[Callable[[Any], None]] = []


def parser(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    PARSERS.append(fn)
    return fn


@parser
def add_backends(sub: Any) -> None:
    p = sub.add_parser("backends", help="list installed backends and what they can do here")
    p.set_defaults(func=cmd_backends)


def cmd_backends(a: argparse.Namespace) -> int:
    from bench import registry

    entries = registry.describe_all()
    rows = [("name", "version", "devices", "dtypes", "phases", "status")]
    for e in entries:
        if e.error:
            rows.append((e.name, e.version, "-", "-", "-", f"broken: {e.error}"))
            continue
        caps = e.capabilities
        devices = ", ".join(d for d in caps.devices if d not in caps.unavailable)
        notes = "; ".join(f"{d} unavailable: {why}" for d, why in caps.unavailable.items())
        rows.append(
            (
                e.name,
                e.version,
                devices or "-",
                ", ".join(caps.dtypes),
                "yes" if caps.phases else "no",
                notes or "ok",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])
    return 0


@parser
def add_sweep(sub: Any) -> None:
    p = sub.add_parser("sweep", help="run a TOML sweep, one fresh process per point")
    p.add_argument(
        "config",
        nargs="?",
        help="a sweep file, or a shipped sweep by name (mlpbench configs); a file wins",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check and expand the sweep, print its points and a time estimate; run nothing",
    )
    p.add_argument("--show", action="store_true", help="print the sweep file (to copy and edit)")
    p.add_argument("--resume", metavar="DIR", help="complete an interrupted sweep in DIR")
    p.add_argument("--results", default="results", help="where new result dirs go (results/)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output (CI, pipes)")
    p.add_argument("--report", action="store_true", help="then write plots and report.html")
    p.add_argument(
        "--force",
        action="store_true",
        help="with --resume: accept an edited config.toml that only adds points (new run ids)",
    )
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(a: argparse.Namespace) -> int:
    """Exit 0 when every point is ok or skipped, 1 when any failed (the summary says which)."""
    from pathlib import Path

    from bench import catalog
    from bench.commands_util import print_summary_table
    from bench.config import load_config
    from bench.errors import UserError
    from bench.results import read_runs
    from bench.sweep import run_sweep

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
        from bench.plan import make_plan, render
        from bench.sweep import preflight

        cfg = load_config(catalog.find(a.config))
        print("\n".join(render(make_plan(cfg, preflight(cfg), Path(a.results)))))
        return 0
    if a.resume:
        directory = run_sweep(None, resume=Path(a.resume), quiet=a.quiet, force=a.force)
    else:
        cfg = load_config(catalog.find(a.config))
        directory = run_sweep(cfg, root=Path(a.results), quiet=a.quiet)
    if not a.quiet:
        print_summary_table(directory)
    print(f"\nresults: {directory}")
    if a.report:
        from bench.report import write_report

        print(f"report:  {write_report(directory)}")
    failed = [r for r in read_runs(directory) if r["status"] == "failed"]
    if failed:
        print(f"{len(failed)} run(s) failed; see 'not run' above", file=sys.stderr)
        return 1
    return 0


@parser
def add_configs(sub: Any) -> None:
    p = sub.add_parser("configs", help="list the shipped sweeps (mlpbench sweep NAME)")
    p.set_defaults(func=cmd_configs)


def cmd_configs(a: argparse.Namespace) -> int:
    from bench import catalog, expand
    from bench.config import load_config

    rows = [("name", "points", "runs", "description")]
    for name, path in catalog.shipped().items():
        cfg = load_config(path)
        points = len(expand.keys(cfg))
        rows.append((name, str(points), str(points * cfg.repeats), cfg.description))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    print("\nrun one: mlpbench sweep NAME; see it: mlpbench sweep NAME --show")
    return 0


def _on_directory(sub: Any, name: str, help: str, func: Callable[..., int]) -> None:
    """A subcommand that reads one results directory, results/latest by default."""
    p = sub.add_parser(name, help=help)
    p.add_argument("directory", nargs="?", default="results/latest", help="a results directory")
    p.set_defaults(func=func)


@parser
def add_summary(sub: Any) -> None:
    _on_directory(
        sub, "summary", "medians, spread and NumPy/Keras ratios of a result dir", cmd_summary
    )


def cmd_summary(a: argparse.Namespace) -> int:
    from bench.commands_util import print_summary_table

    print_summary_table(a.directory)
    return 0


@parser
def add_plot(sub: Any) -> None:
    _on_directory(sub, "plot", "(re)draw every plot of a result dir from its CSVs", cmd_plot)


def cmd_plot(a: argparse.Namespace) -> int:
    from bench.plots import plot_all
    from bench.results import resolve

    for path in plot_all(resolve(a.directory)):
        print(path)
    return 0


@parser
def add_report(sub: Any) -> None:
    _on_directory(sub, "report", "plots + report.html of a result dir", cmd_report)


def cmd_report(a: argparse.Namespace) -> int:
    from bench.commands_util import print_summary_table
    from bench.report import write_report
    from bench.results import resolve

    directory = resolve(a.directory)
    print_summary_table(directory)
    path = write_report(directory)
    print(f"\nreport: {path}")
    return 0


@parser
def add_compare(sub: Any) -> None:
    p = sub.add_parser("compare", help="ratio table of two result dirs; exit 1 on a slowdown")
    p.add_argument("a", help="baseline result dir")
    p.add_argument("b", help="new result dir")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        help="relative slowdown that counts (default 0.10 = 10%%)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    p.set_defaults(func=cmd_compare)


def cmd_compare(a: argparse.Namespace) -> int:
    from bench.compare import compare, print_rows

    rows = compare(a.a, a.b, a.threshold, a.alpha)
    print_rows(rows, a.a, a.b)
    slower = [r for r in rows if r.verdict.startswith("slower")]
    if slower:
        print(f"\n{len(slower)} point(s) slower by more than {100 * a.threshold:.0f}%")
        return 1
    return 0
