"""Subcommands beyond ``run``: each parser adds itself to ``PARSERS``."""

from __future__ import annotations

import argparse
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
    p.add_argument("config", nargs="?", help="a sweep file, e.g. configs/quick.toml")
    p.add_argument("--resume", metavar="DIR", help="complete an interrupted sweep in DIR")
    p.add_argument("--results", default="results", help="where new result dirs go (results/)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output (CI, pipes)")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(a: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.commands_util import print_summary_table
    from bench.config import load_config
    from bench.sweep import run_sweep

    if bool(a.config) == bool(a.resume):
        from bench.cli import UsageError

        raise UsageError("give either a config file or --resume DIR")
    if a.resume:
        directory = run_sweep(None, resume=Path(a.resume), quiet=a.quiet)
    else:
        directory = run_sweep(load_config(a.config), root=Path(a.results), quiet=a.quiet)
    if not a.quiet:
        print_summary_table(directory)
    print(f"results: {directory}")
    return 0


@parser
def add_summary(sub: Any) -> None:
    p = sub.add_parser("summary", help="medians, spread and NumPy/Keras ratios of a result dir")
    p.add_argument("directory", nargs="?", default="results/latest")
    p.set_defaults(func=cmd_summary)


def cmd_summary(a: argparse.Namespace) -> int:
    from bench.commands_util import print_summary_table

    print_summary_table(a.directory)
    return 0
