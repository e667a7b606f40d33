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
    from mlpbench.results.environment import Environment

    env = Environment.from_json(environment.describe())
    # --refresh: the grids of the points this machine's cache holds, one per network
    grids = cached_grids(a.backend, env, doc) if a.refresh else [(doc, None)]
    mode = "lines" if not sys.stderr.isatty() else "bar"
    chosen: dict[str, Any] = {}
    for grid, only in grids:
        cfg = parse_config(grid, "mlpbench tune")
        checked = preflight(cfg)
        if a.backend not in checked.plans:
            raise UserError(f"--backend {a.backend}: it offers no thread plans (numpy does)")
        points = [p for p in expand.points(cfg) if only is None or plans.slot(p.key) in only]
        if a.force or a.refresh:  # measured again: the cached choices dropped first
            table = plans.read_cache(env)
            for p in points:
                table.pop(plans.slot(p.key), None)
            plans.write_cache(env, table)
        chosen |= plans.choose(
            points, checked.plans, env, differing=checked.differing,
            run=PointRunner(timeout=600).run, mode=mode,
            cannot=lambda k, c=checked: c.skips.get((k.backend, k.device, k.dtype), ""),
        )  # fmt: skip
    print(f"thread plans of {a.backend} on this machine ({env.cpu_model}):")
    print("\n".join(plans.lines(chosen)))
    print(f"\ncached in {plans.cache_path(env)}; sweeps use it (-o plan=NAME forces one)")
    return 0


def cached_grids(
    backend: str, env: Any, doc: dict[str, Any]
) -> list[tuple[dict[str, Any], set[str]]]:
    """``--refresh``: per network, the sweep grid that holds every slot of ``backend`` in this
    machine's cache, and those slots (a slot is backend|layers|dtype|device|threads|batch)."""
    from mlpbench.errors import UserError
    from mlpbench.sweep import tuning as plans

    slots = [k for k in plans.read_cache(env) if k.split("|")[0] == backend]
    if not slots:
        raise UserError(f"--refresh: this machine's cache has no tuned point of {backend}")
    out = []
    for net in sorted({k.split("|")[1] for k in slots}):
        mine = [k.split("|") for k in slots if k.split("|")[1] == net]
        grid = {
            "backend": [backend],
            "dtype": sorted({s[2] for s in mine}),
            "device": sorted({s[3] for s in mine}),
            "threads": sorted({int(s[4]) for s in mine}),
            "batch_size": sorted({int(s[5]) for s in mine}),
        }
        model = {"layers": [int(v) for v in net.split("-")]}
        out.append(({**doc, "model": model, "grid": grid}, {"|".join(s) for s in mine}))
    return out
