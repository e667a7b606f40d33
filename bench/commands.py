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
