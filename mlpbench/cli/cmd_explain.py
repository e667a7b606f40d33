"""``mlpbench explain``: profile chosen points of a finished result set and add the profiles
to it (the same profiled run a sweep file's ``profile`` key asks for, after the fact)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlpbench.cli.common import add_results_dir


def add(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="profile points of a result set: where a step's CPU time goes",
        description="Run chosen points of a finished result set once more, their steady "
        "epochs sampled on every thread (Linux perf; py-spy where perf cannot run), and add "
        "the profiles to the folder (profiles.jsonl; `mlpbench report` shows them). The "
        "profiled runs are not timed.",
    )
    add_results_dir(p)
    p.add_argument(
        "--point",
        action="append",
        required=True,
        metavar="AXIS=VALUE,...",
        help="a point of the result set, e.g. backend=keras,batch_size=500 (repeatable; the "
        "axes left out may take any value as long as one point remains)",
    )
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.config import expand
    from mlpbench.config.points import match_key
    from mlpbench.config.sweepfile import load_config
    from mlpbench.machine.threads import usable_cpus
    from mlpbench.render.text import profile_lines
    from mlpbench.results.folder import ResultsFolder
    from mlpbench.results.profile import PROFILE_ENV
    from mlpbench.sweep.preflight import preflight
    from mlpbench.sweep.runner import PointRunner

    folder = ResultsFolder.existing(a.directory)
    cfg = load_config(folder.config_path)
    keys = sorted({key for key in expand.keys(cfg)})
    chosen = list(dict.fromkeys(match_key(keys, s) for s in a.point))  # all checked first
    env = folder.read_environment()
    checked = preflight(cfg)
    runner = PointRunner(cfg.timeout_s, sys.executable, env.pinned, usable_cpus(),
                         plans=checked.plans, table=env.plans, broken=checked.broken)  # fmt: skip
    with folder.locked():
        for key in chosen:
            print(f"mlpbench explain: profiling {key.label()} (one more run, not timed)...")
            point, variables = runner.planned(expand.point(cfg, key, 0))
            result = runner.run(point, {**(variables or {}), PROFILE_ENV: "auto"})
            profiled = folder.add_profile(key, result)
            print("\n".join(profile_lines(profiled.profile)))
    print(f"\nadded to {folder.path / 'profiles.jsonl'}; `mlpbench report {a.directory}` shows it")
    return 0
