"""Sweeps on a Dask cluster: the same points, one per host at a time, results streamed home.

We build no scheduler: Dask distributed runs the points (benchopt's way). Each worker declares
the resource ``machine=1`` and each point asks for it, so a point has its host to itself; on
the host it runs exactly as locally (``mlpbench.sweep.loop.run_worker``: a fresh process, threads
set before any import, pinned cores). Each host is checked (versions), described and calibrated
once per sweep; the client appends each row as its point completes, with the same guarantees
as a local sweep. A worker lost mid-point: Dask runs the point again elsewhere (once, with the
scheduler's ``allowed-failures = 1``), after which it is a ``failed`` row, "worker lost".

ADDRESS is ``tcp://HOST:PORT`` (an existing scheduler) or ``local:N`` (a LocalCluster of N
worker processes on this machine, bound to 127.0.0.1, for trying it out). See docs/cluster.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mlpbench.errors import UserError

RESOURCE = {"machine": 1}
LOCAL = re.compile(r"local:(\d+)")


def versions() -> dict[str, str]:
    """What must match between the client and every worker: mlpbench, Python, and the
    distribution of every installed backend."""
    import platform

    from mlpbench.api import registry

    out = {"python": platform.python_version()}
    try:
        out["mlpbench"] = version("mlpbench")
    except PackageNotFoundError:
        out["mlpbench"] = "not installed"
    for name, ep in sorted(registry._entry_points().items()):
        dist = getattr(ep, "dist", None)
        out[f"backend {name}"] = dist.version if dist else "?"
    return out


def differences(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    keys = sorted(set(mine) | set(theirs))
    return [
        f"{k}: here {mine.get(k, 'missing')}, there {theirs.get(k, 'missing')}"
        for k in keys
        if mine.get(k) != theirs.get(k)
    ]


def host_setup(combos: list[tuple[str, int, str]], pin: bool) -> dict[str, Any]:
    """On a worker: which host this is, its environment, its machine check and its peaks."""
    import sys as _sys

    from mlpbench.machine import describe as environment
    from mlpbench.machine.doctor import as_json, doctor
    from mlpbench.machine.probe import host_id, hostname
    from mlpbench.sweep.spawn import calibrate

    return {
        "host": host_id(),
        "hostname": hostname(),
        "environment": environment.describe(),
        "doctor": as_json(doctor()),
        "peaks": calibrate([tuple(c) for c in combos], _sys.executable, pin=pin),
    }


def whoami() -> dict[str, Any]:
    from mlpbench.machine.probe import host_id, hostname

    return {"host": host_id(), "hostname": hostname(), "versions": versions()}


def run_point(
    point: Any, timeout: float, pin: bool, env: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """On a worker: one point in a fresh process, exactly as a local sweep runs it (``env``:
    its thread plan's variables, None to unset)."""
    import sys as _sys

    from mlpbench.machine.probe import host_id, hostname
    from mlpbench.machine.threads import pin_plan, usable_cpus
    from mlpbench.sweep.spawn import Progress, run_worker

    python, variables = _sys.executable, dict(env or {})
    if point.stack is not None:  # a version stack: this host builds it (once) and runs in it
        from mlpbench.stacks.build import StackError, ensure

        try:
            python = ensure(point.stack).python
        except StackError as e:
            reason = f"stack {point.stack.name!r}: {e}"
            return {
                "status": "skipped",
                "reason": reason,
                "host": host_id(),
                "hostname": hostname(),
            }
        from mlpbench.stacks.build import worker_env

        variables = {**worker_env(point.run.data), **variables}
    cpus, _ = pin_plan(point.key.threads, usable_cpus(), pin)
    result = run_worker(
        point, timeout, Progress(0, mode="none"), python, cpus if pin else None, variables
    )
    return {**result, "host": host_id(), "hostname": hostname()}


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """A Dask client for ``tcp://HOST:PORT`` or ``local:N``; closed (and a local cluster
    stopped) on exit."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError(
            "--cluster needs Dask: pip install 'mlpbench[cluster]' (make install does)"
        ) from None
    local = LOCAL.fullmatch(address)
    if local:
        n = int(local.group(1))
        if n < 1:
            raise UserError(f"--cluster {address}: local:N needs N >= 1 workers")
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                resources=RESOURCE,
                host="127.0.0.1",
                dashboard_address=None,
            )
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    if not re.fullmatch(r"(tcp|tls)://[^\s:]+:\d+", address):
        raise UserError(
            f"--cluster {address!r}: give tcp://HOST:PORT (a Dask scheduler) or local:N"
        )
    try:
        client = Client(address, timeout="20s")
    except OSError as e:
        raise UserError(f"--cluster {address}: cannot reach the scheduler ({e})") from None
    try:
        yield client
    finally:
        client.close()


def check_workers(client: Any, expected: dict[str, str] | None = None) -> dict[str, dict]:
    """Every worker's host and versions; a UserError naming the first worker whose versions
    differ from ``expected`` (this process's by default)."""
    expected = expected or versions()
    workers = list(client.scheduler_info()["workers"])
    if not workers:
        raise UserError("the Dask cluster has no workers")
    missing = [
        w
        for w, info in client.scheduler_info()["workers"].items()
        if info.get("resources", {}).get("machine", 0) < 1
    ]
    if missing:
        raise UserError(
            f"worker {missing[0]} does not declare the resource machine=1: start workers with "
            "dask worker ADDRESS --nworkers 1 --nthreads 1 --resources machine=1"
        )
    found = {}
    for w in workers:
        info = client.submit(whoami, workers=[w], allow_other_workers=False, pure=False).result()
        diff = differences(expected, info["versions"])
        if diff:
            raise UserError(
                f"worker {w} ({info['hostname']}) runs other versions: {'; '.join(diff)}"
            )
        found[w] = info
    return found


def prepare_hosts(
    client: Any, workers: dict[str, dict], combos: list[tuple[str, int, str]], pin: bool
) -> dict[str, dict]:
    """Describe and calibrate each host once, on one of its workers."""
    first: dict[str, str] = {}
    for w, info in workers.items():
        first.setdefault(info["host"], w)
    futures = {
        host: client.submit(
            host_setup, combos, pin, workers=[w], allow_other_workers=False,
            resources=RESOURCE, pure=False,
        )
        for host, w in first.items()
    }  # fmt: skip
    return {host: f.result() for host, f in futures.items()}


def run_points(
    client: Any,
    todo: list[tuple[int, Any]],
    timeout: float,
    pin: bool,
    planned: dict[int, tuple[Any, dict[str, str | None]]] | None = None,
) -> Iterator[tuple[int, Any, dict[str, Any]]]:
    """Submit every point (one per host at a time; as ``planned[index]`` says, the point with
    its thread plan and that plan's variables) and yield (index, point, result) as each
    completes. A point whose worker was lost twice comes back failed, "worker lost"."""
    from distributed import as_completed

    futures = {}
    for order, (index, point) in enumerate(todo):
        runs_as, env = (planned or {}).get(index, (point, None))
        future = client.submit(
            run_point, runs_as, timeout, pin, env, resources=RESOURCE, pure=False,
            priority=-order,
            key=f"mlpbench-point-{index}-{point.repeat}-{id(point)}",
        )  # fmt: skip
        futures[future] = (index, point)
    for future in as_completed(futures):
        index, point = futures[future]
        try:
            result = future.result()
        except Exception as e:  # KilledWorker after the retry, or a lost connection
            result = {
                "status": "failed",
                "reason": f"worker lost: {type(e).__name__}: {e}".splitlines()[0],
            }
        yield index, point, result
