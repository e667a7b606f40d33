"""``mlpbench bisect PACKAGE LOW HIGH --point KEY``: the first release of PACKAGE whose time
at one point differs from LOW's by more than the threshold (``mlpbench.stacks.bisect``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("bisect", help="find the release of a package that changed a point's time")
    p.add_argument("package", help="the package whose releases are bisected, e.g. numpy")
    p.add_argument("low", help="a release known good (the control), e.g. 1.26.0")
    p.add_argument("high", help="a later release, e.g. 2.4.6")
    p.add_argument(
        "--point",
        required=True,
        metavar="KEY",
        help="axis=value pairs naming one point of the sweep: "
        "backend=numpy,batch_size=500,dtype=float32,threads=1",
    )
    p.add_argument(
        "--sweep",
        default="quick",
        help="the sweep file (or shipped sweep) whose data, model and training the point uses "
        "(default: quick)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=1.1,
        help="a ratio of times that counts as a change, either way (default 1.1)",
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per release (3)")
    p.add_argument(
        "--requirement",
        action="append",
        default=[],
        metavar="REQ",
        help="another requirement of every stack (repeatable), e.g. 'keras==3.5.*'",
    )
    p.add_argument("--python", default="", help="the stacks' Python: a version or a path")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.config import catalog, expand
    from mlpbench.config.points import CURRENT_ENV, match_key
    from mlpbench.config.sweepfile import load_config
    from mlpbench.errors import UserError
    from mlpbench.stacks import bisect as finder
    from mlpbench.stacks import build as stacks
    from mlpbench.sweep.runner import PointRunner

    if a.rounds < 1:
        raise UserError(f"--rounds = {a.rounds}: must be an integer >= 1")
    cfg = load_config(catalog.find(a.sweep))
    keys = [k for k in expand.keys(cfg) if k.env == CURRENT_ENV]
    key = match_key(keys, a.point)
    point = expand.point(cfg, key, 0)
    python = stacks.find_python(a.python) if a.python else sys.executable
    versions = finder.releases(a.package, a.low, a.high, python)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    say(
        f"bisect {a.package} {a.low}..{a.high}: {len(versions)} releases, point {key.label()}, "
        f"threshold {a.threshold:g}x, {a.rounds} rounds"
    )
    runner = PointRunner(cfg.timeout_s, stack_vars=stacks.worker_env(cfg.data))
    done: dict[str, int] = {}

    def once(version: str) -> float:
        stack = stacks.ensure(finder.stack_of(a.package, version, a.requirement, a.python), say)
        result = runner.run(point, {}, stack=stack)
        if not result.ok:
            raise stacks.StackError(f"the point {result.status}: {result.reason}")
        return result.seconds

    def measure_round(version: str, low: str) -> tuple[float, float]:
        n = done[version] = done.get(version, 0) + 1
        if version == low:
            t = once(low)
            return t, t
        if n % 2:  # alternate which side runs first
            control = once(low)
            return once(version), control
        seconds = once(version)
        return seconds, once(low)

    store = finder.store_for(a.package, point.run.to_json(), a.requirement, python)
    outcome = finder.bisect(versions, measure_round, a.threshold, a.rounds, store, say)
    print("\n".join(outcome.lines()))
    return 0
