"""``mlpbench tune``: measure each thread plan of a backend here, keep the fastest per
(network, dtype, threads, batch) in this machine's cache, and print the table."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlpbench.cli.common import layers


def add(sub: Any) -> None:
    p = sub.add_parser("tune", help="measure the thread plans here and cache the fastest")
    p.add_argument("--backend", default="numpy", help="a backend with thread plans (numpy)")
    p.add_argument("--layers", type=layers, default=(784, 70, 30, 10))
    p.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    p.add_argument("--threads", nargs="+", default=["1", "all"], help="counts, or all")
    p.add_argument("--batch-size", nargs="+", type=int, default=[100, 500, 2000, 10000])
    p.add_argument("--dataset", default="mnist", choices=("mnist", "synthetic"))
    p.add_argument("--force", action="store_true", help="measure again what the cache has")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="tune again every point this machine's cache holds for --backend (those tuned "
        "under load or found stale included), whatever the other flags name",
    )
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.config import expand
    from mlpbench.config.sweepfile import parse_config
    from mlpbench.errors import UserError
    from mlpbench.machine import describe as environment
    from mlpbench.sweep import tuning as plans
    from mlpbench.sweep.preflight import preflight
    from mlpbench.sweep.runner import PointRunner

    doc = {
        "name": "tune",
        "data": {"dataset": a.dataset},
        "model": {"layers": list(a.layers)},
        "grid": {
            "backend": [a.backend],
            "dtype": a.dtype,
            "threads": [
                t if t == "all" else int(t) for t in a.threads if t == "all" or t.isdigit()
            ],
            "batch_size": a.batch_size,
        },
    }
    env = environment.describe()
    if a.refresh:
        return refresh(a.backend, env, doc)
    cfg = parse_config(doc, "mlpbench tune")
    checked = preflight(cfg)
    offered = checked.plans
    if a.backend not in offered:
        raise UserError(f"--backend {a.backend}: it offers no thread plans (numpy does)")
    if a.force:
        table = plans.read_cache(env)
        for p in expand.points(cfg):
            table.pop(plans.slot(p.key), None)
        plans.write_cache(env, table)
    mode = "lines" if not sys.stderr.isatty() else "bar"
    chosen = plans.choose(
        expand.points(cfg),
        offered,
        env,
        differing=checked.differing,
        run=PointRunner(timeout=600).run,
        mode=mode,
        cannot=lambda k: checked.skips.get((k.backend, k.device, k.dtype), ""),
    )
    print(f"thread plans of {a.backend} on this machine ({env['cpu_model']}):")
    print("\n".join(plans.lines(chosen)))
    print(f"\ncached in {plans.cache_path(env)}; sweeps use it (-o plan=NAME forces one)")
    return 0


def refresh(backend: str, env: Any, doc: dict[str, Any]) -> int:
    """``--refresh``: every slot of ``backend`` in this machine's cache tuned again, one
    sweep grid per network (a slot is backend|layers|dtype|device|threads|batch)."""
    from mlpbench.config import expand
    from mlpbench.config.sweepfile import parse_config
    from mlpbench.errors import UserError
    from mlpbench.sweep import tuning as plans
    from mlpbench.sweep.preflight import preflight
    from mlpbench.sweep.runner import PointRunner

    table = plans.read_cache(env)
    slots = [k.split("|") for k in table if k.split("|")[0] == backend]
    if not slots:
        raise UserError(f"--refresh: this machine's cache has no tuned point of {backend}")
    chosen: dict[str, Any] = {}
    for net in sorted({s[1] for s in slots}):
        mine = [s for s in slots if s[1] == net]
        wanted = {plans.slot_of(s) for s in mine}
        cfg = parse_config(
            {
                **doc,
                "model": {"layers": [int(v) for v in net.split("-")]},
                "grid": {
                    "backend": [backend],
                    "dtype": sorted({s[2] for s in mine}),
                    "device": sorted({s[3] for s in mine}),
                    "threads": sorted({int(s[4]) for s in mine}),
                    "batch_size": sorted({int(s[5]) for s in mine}),
                },
            },
            "mlpbench tune --refresh",
        )
        points = [p for p in expand.points(cfg) if plans.slot(p.key) in wanted]
        checked = preflight(cfg)
        for p in points:  # measured again: drop the cached choice
            table.pop(plans.slot(p.key), None)
        plans.write_cache(env, table)
        chosen.update(
            plans.choose(
                points, checked.plans, env, differing=checked.differing,
                run=PointRunner(timeout=600).run,
                mode="lines" if not sys.stderr.isatty() else "bar",
                cannot=lambda k, c=checked: c.skips.get((k.backend, k.device, k.dtype), ""),
            )  # fmt: skip
        )
        table = plans.read_cache(env)
    print(f"thread plans of {backend} on this machine ({env['cpu_model']}), tuned again:")
    print("\n".join(plans.lines(chosen)))
    return 0
