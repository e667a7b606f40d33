"""``mlpbench envs``: the version stacks in the cache; build those a sweep file names, or
remove them (``mlpbench.stacks.build``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("envs", help="list, build or remove the cached version stacks")
    p.add_argument(
        "--build",
        metavar="SWEEP",
        help="build (and verify) every stack of a sweep file's [environments]",
    )
    p.add_argument("--remove", metavar="NAME", help="delete the cached stacks of this name")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.stacks import build as stacks

    if a.remove:
        gone = stacks.remove(a.remove)
        for folder in gone:
            print(f"removed {folder}")
        if not gone:
            print(f"no cached stack called {a.remove!r} in {stacks.stacks_dir()}")
        return 0
    if a.build:
        from mlpbench.config import catalog
        from mlpbench.config.sweepfile import load_config

        cfg = load_config(catalog.find(a.build))
        if not cfg.environments:
            print(f"{cfg.path} has no [environments]: nothing to build")
        failed = 0
        for spec in cfg.environments.values():
            try:
                stacks.ensure(spec, lambda line: print(line, file=sys.stderr, flush=True))
            except stacks.StackError as e:
                print(f"stack {spec.name!r}: {e}", file=sys.stderr)
                failed += 1
        if failed:
            return 1
    rows = stacks.listed()
    if not rows:
        print(f"no version stacks in {stacks.stacks_dir()}")
        return 0
    print(f"version stacks in {stacks.stacks_dir()}:")
    for r in rows:
        state = "ready" if r["ready"] else "incomplete (built again when a sweep needs it)"
        # what the stack was asked for, as it resolved (NumPy too: every stack has it)
        shown = ", ".join(stacks.named_versions(r["requirements"], r["versions"], ["numpy"]))
        python = r["python"].split()[0] if r["python"] else "?"
        names = ", ".join(r["names"]) or "?"
        print(
            f"  {names} ({r['folder'].name}): {state}, Python {python}"
            f"{', ' + shown if shown else ''}, {r['size_mb']:.0f} MiB, built {r['built_at'] or '-'}"
        )
    return 0
