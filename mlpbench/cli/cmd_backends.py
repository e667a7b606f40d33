"""``mlpbench backends``: installed backends, their devices and dtypes, and why not here."""

from __future__ import annotations

import argparse
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("backends", help="list installed backends and what they can do here")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.api import registry
    from mlpbench.render.text import table_lines

    rows = [("name", "version", "devices", "dtypes", "phases", "status")]
    for e in registry.describe_all():
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
    print("\n".join(table_lines(rows)))
    for e in registry.describe_all():  # a backend that runs on several engines lists them
        engines = getattr(e.cls, "engines", None) if e.cls is not None else None
        if callable(engines):
            found = ", ".join(f"{k} ({v})" for k, v in engines().items())
            print(f"\n{e.name} engines: {found}")
    return 0
