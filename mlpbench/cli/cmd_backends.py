"""``mlpbench backends``: installed backends, their devices and dtypes, and why not here.

Each backend is described in a fresh process of its own, all at once, each within
``--timeout``: a plugin whose import or capabilities() hangs or fails is listed as broken with
the reason, and never holds up the others or the command."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIBE_TIMEOUT_S = 60.0


def add(sub: Any) -> None:
    p = sub.add_parser("backends", help="list installed backends and what they can do here")
    p.add_argument(
        "--timeout",
        type=float,
        default=DESCRIBE_TIMEOUT_S,
        metavar="S",
        help="seconds each backend may take to import and describe itself; past it, it is "
        "listed as broken (default: %(default)g)",
    )
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.api.protocol import SpecError
    from mlpbench.render.text import table_lines

    if not a.timeout > 0:
        raise SpecError(f"--timeout = {a.timeout:g}: must be more than 0 seconds")
    from mlpbench.sweep.spawn import describe_backends

    rows = [("name", "package version", "devices", "dtypes", "phases", "status")]
    described = describe_backends(a.timeout)
    for e in described:
        if e.get("error"):
            rows.append((e["name"], e.get("version", ""), "-", "-", "-", f"broken: {e['error']}"))
            continue
        unavailable = e.get("unavailable", {})
        devices = ", ".join(d for d in e["devices"] if d not in unavailable)
        notes = "; ".join(f"{d} unavailable: {why}" for d, why in unavailable.items())
        rows.append(
            (
                e["name"],
                e.get("version", ""),
                devices or "-",
                ", ".join(e["dtypes"]),
                "yes" if e.get("phases") else "no",
                notes or "ok",
            )
        )
    from mlpbench.api import registry

    claimed = registry.conflicts()
    rows = [
        (*row[:5], f"conflict: {', '.join(claimed[row[0]])}") if row[0] in claimed else row
        for row in rows
    ]
    print("\n".join(table_lines(rows)))
    for name, distributions in claimed.items():
        print(f"\n{registry.conflict_line(name, distributions).removesuffix('; nothing was run')}")
    for e in described:  # a backend that runs on several engines lists them
        if e.get("engines"):
            found = ", ".join(f"{k} ({v})" for k, v in e["engines"].items())
            print(f"\n{e['name']} engines: {found}")
    return 0
