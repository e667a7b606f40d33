"""Sweeps on a Dask cluster: the same points, one per host at a time, results streamed home.

We build no scheduler: Dask distributed runs the points (benchopt's way). Each worker declares
the resource ``machine=1`` and each point asks for it, so a point has its host to itself; on
the host it runs exactly as locally (``mlpbench.sweep.runner.PointRunner``: a fresh process,
threads set before any import, pinned cores). Each host is checked (versions), described and
calibrated once per sweep; the client appends each row as its point completes, with the same
guarantees as a local sweep. A worker lost mid-point: Dask runs the point again elsewhere
(once, with the scheduler's ``allowed-failures = 1``), after which it is a ``failed`` row,
"worker lost".

ADDRESS is ``tcp://HOST:PORT`` (an existing scheduler) or ``local:N`` (a LocalCluster of N
worker processes on this machine, bound to 127.0.0.1, for trying it out). See docs/cluster.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mlpbench.errors import UserError
from mlpbench.results.environment import Host
from mlpbench.results.point import PointResult
from mlpbench.sweep.session import Finished, Sweep

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
    for name, ep in sorted(registry.installed().items()):
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
        "peaks": [p.to_json() for p in calibrate([tuple(c) for c in combos], _sys.executable,
                                                 pin=pin)],  # fmt: skip
    }


def whoami() -> dict[str, Any]:
    from mlpbench.machine.probe import host_id, hostname

    return {"host": host_id(), "hostname": hostname(), "versions": versions()}


def run_point(
    point: Any,
    timeout: float,
    pin: bool,
    env: dict[str, str | None] | None = None,
    scripts: frozenset[str] = frozenset(),
) -> PointResult:
    """On a worker: one point through this host's ``PointRunner``, exactly as a local sweep runs
    it (``env``: its thread plan's variables, planned by the client; a version stack the
    point names is built on this host, once; ``scripts``: the backends that run as their
    script, from the client's preflight)."""
    from mlpbench.sweep.runner import PointRunner

    return PointRunner(timeout, pin=pin, scripts=set(scripts)).run(point, dict(env or {}))


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
) -> dict[str, Host]:
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
    return {host: Host.from_json(f.result()) for host, f in futures.items()}


def run_points(
    client: Any,
    todo: list[tuple[int, Any]],
    timeout: float,
    pin: bool,
    planned: dict[int, tuple[Any, dict[str, str | None]]] | None = None,
    scripts: frozenset[str] = frozenset(),
) -> Iterator[tuple[int, Any, PointResult]]:
    """Submit every point (one per host at a time; as ``planned[index]`` says, the point with
    its thread plan and that plan's variables) and yield (index, point, result) as each
    completes. A point whose worker was lost twice comes back failed, "worker lost"."""
    from distributed import as_completed

    futures = {}
    for order, (index, point) in enumerate(todo):
        runs_as, env = (planned or {}).get(index, (point, None))
        future = client.submit(
            run_point, runs_as, timeout, pin, env, scripts, resources=RESOURCE, pure=False,
            priority=-order,
            key=f"mlpbench-point-{index}-{point.repeat}-{id(point)}",
        )  # fmt: skip
        futures[future] = (index, point)
    for future in as_completed(futures):
        index, point = futures[future]
        try:
            result = future.result()
        except Exception as e:  # KilledWorker after the retry, or a lost connection
            result = PointResult.failed(f"worker lost: {type(e).__name__}: {e}".splitlines()[0])
        yield index, point, result


class ClusterExecutor:
    """Runs a sweep's points on a Dask cluster: hosts checked, described and calibrated once
    each; points one per host at a time, as they complete. A forced thread plan runs with its
    variables; ``auto`` runs the backend's defaults: a plan is tuned per machine, by trials on
    that machine, which the client cannot run for its hosts (``mlpbench tune`` on a host
    tunes it for its own sweeps)."""

    def __init__(self, sweep: Sweep, client: Any, address: str) -> None:
        self.sweep, self.client, self.address = sweep, client, address
        self.hosts: dict[str, Host] = {}

    def prepare(self) -> None:
        sweep, env = self.sweep, self.sweep.env
        combos = sorted({(p.key.dtype, p.key.threads, p.key.device) for p in sweep.points})
        t0 = time.monotonic()
        workers = check_workers(self.client)
        n_hosts = len({w["host"] for w in workers.values()})
        sweep.say(f"cluster {self.address}: {len(workers)} worker(s) on {n_hosts} host(s)")
        self.hosts = env.hosts
        new = {w["host"] for w in workers.values()} - set(self.hosts)
        if new:
            sweep.say(f"describing and calibrating {len(new)} host(s)...")
            ready = prepare_hosts(
                self.client,
                {w: i for w, i in workers.items() if i["host"] in new},
                combos,
                sweep.runner.pin,
            )
            self.hosts.update(ready)
        if any(sweep.checked.plans.values()):
            sweep.say("cluster: thread plans are not tuned on the hosts (auto runs each "
                      "backend's default; -o plan=NAME forces one)")  # fmt: skip
        env.cluster = self.address
        sweep.save()
        # describing and calibrating the hosts: no pace per calibration (dryrun.earlier_pace)
        sweep.prepared = {"hosts_s": round(time.monotonic() - t0, 1)}

    def map(self, todo: list[tuple[int, Any]], recalibrate: bool = True) -> Finished:
        """The points as they complete (``recalibrate``: each host was calibrated once)."""
        sweep = self.sweep
        runner = sweep.runner
        for index, point in todo:  # a broken backend's points never leave here
            if point.key.backend in runner.broken:
                yield index, point, PointResult.skipped(runner.broken[point.key.backend]), []
        todo = [(i, p) for i, p in todo if p.key.backend not in runner.broken]
        planned = {i: runner.planned(p) for i, p in todo}
        for index, point, result in run_points(
            self.client, todo, sweep.cfg.timeout_s, runner.pin, planned, frozenset(runner.scripts)
        ):
            host = self.hosts.get(result.host)
            yield index, point, result, list(host.peaks) if host else []


@contextmanager
def on_cluster(sweep: Sweep, address: str) -> Iterator[ClusterExecutor]:
    with connect(address) as client:
        yield ClusterExecutor(sweep, client, address)
