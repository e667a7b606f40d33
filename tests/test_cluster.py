"""Sweeps on a Dask cluster, with real processes on 127.0.0.1 only: a scheduler and two
workers started here (as two "hosts", by MLPBENCH_HOST_ID), every process stopped by its PID."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from mlpbench.cli.app import main
from mlpbench.errors import UserError
from mlpbench.results.environment import Host
from mlpbench.results.point import PointResult
from mlpbench.sweep import cluster
from mlpbench.sweep.loop import run_sweep
from tests.conftest import sweep_text

BIN = Path(sys.executable).parent
SWEEP = sweep_text(
    "{name}", 'backend = ["numpy", "numpy-plain"]\nbatch_size = [50, 100]\nthreads = [1]\n',
    top="repeats = {repeats}\n", samples="{samples}", features=50, layers="[50, {width}, 4]",
    epochs="{epochs}",
)  # fmt: skip


def sweep_file(tmp_path: Path, name: str = "cl", slow: bool = False, repeats: int = 1) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        SWEEP.format(
            name=name,
            repeats=repeats,
            samples=20000 if slow else 1000,
            width=512 if slow else 16,
            epochs=8 if slow else 2,
        )
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes from the venv, on loopback ports."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    log = (tmp_path / "dask.log").open("w")
    procs = [
        subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    workers = {}
    for host in ("host-a", "host-b"):
        worker = subprocess.Popen(
            [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
             "--resources", "machine=1", "--host", "127.0.0.1", "--no-dashboard", "--no-nanny",
             "--name", host],
            env={**env, "MLPBENCH_HOST_ID": host}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(worker)
        workers[host] = worker
    try:
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in procs:  # every process this fixture started, by its PID
            for child in psutil.Process(p.pid).children(recursive=True) if p.poll() is None else []:
                child.kill()
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_a_sweep_runs_through_a_scheduler_with_a_host_map(tmp_path, dask_cluster, capsys):
    address, _ = dask_cluster
    out = run_sweep(
        sweep_file(tmp_path, repeats=2), root=tmp_path / "r", quiet=True, cluster=address
    )
    runs = rows(out / "runs.csv")
    assert len(runs) == 8 and {r["status"] for r in runs} == {"ok"}
    assert {r["host"] for r in runs} <= {"host-a", "host-b"} and all(r["host"] for r in runs)
    env = json.loads((out / "environment.json").read_text())
    assert set(env["hosts"]) == {"host-a", "host-b"}
    for host in env["hosts"].values():
        assert host["peaks"][0]["gflops"] > 0 and host["environment"]["cpu_model"]
    assert len({(r["backend"], r["batch_size"], r["repeat"]) for r in runs}) == 8
    both = [
        point
        for point in {(r["backend"], r["batch_size"]) for r in runs}
        if len({r["host"] for r in runs if (r["backend"], r["batch_size"]) == point}) == 2
    ]
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert ("host vs host" in text) == bool(both)  # a point measured on both hosts compares


@pytest.mark.slow
def test_a_lost_worker_costs_a_retry_not_a_row(tmp_path, dask_cluster):
    address, workers = dask_cluster
    victim = workers["host-b"]
    result: dict = {}

    def sweep() -> None:
        result["out"] = run_sweep(
            sweep_file(tmp_path, slow=True), root=tmp_path / "r", quiet=True, cluster=address
        )

    thread = threading.Thread(target=sweep)
    thread.start()
    deadline = time.time() + 120
    killed = False
    while time.time() < deadline and not killed:  # once a point runs on host-b, kill it
        for child in psutil.Process(victim.pid).children(recursive=True):
            try:
                if "mlpbench.worker train" in " ".join(child.cmdline()):
                    victim.send_signal(signal.SIGKILL)
                    killed = True
                    break
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.1)
    thread.join(timeout=300)
    assert killed, "no point ever ran on host-b"
    runs = rows(result["out"] / "runs.csv")
    keys = [(r["backend"], r["batch_size"], r["repeat"]) for r in runs]
    assert len(runs) == 4 and len(set(keys)) == 4  # every point once: no duplicate rows
    assert {r["status"] for r in runs} == {"ok"}  # the lost one ran again on host-a
    assert {r["host"] for r in runs if r["status"] == "ok"} >= {"host-a"}


@pytest.mark.slow
def test_local_cluster_gives_the_points_of_a_serial_run(tmp_path):
    serial = run_sweep(sweep_file(tmp_path, "s"), root=tmp_path / "serial", quiet=True)
    local = run_sweep(
        sweep_file(tmp_path, "s"), root=tmp_path / "local", quiet=True, cluster="local:2"
    )

    def points(folder: Path) -> set[tuple[str, ...]]:
        return {
            (r["backend"], r["batch_size"], r["repeat"], r["status"])
            for r in rows(folder / "runs.csv")
        }

    assert points(serial) == points(local) and len(points(local)) == 4


def test_other_versions_on_a_worker_are_refused(dask_cluster):
    from distributed import Client

    address, _ = dask_cluster
    expected = {**cluster.versions(), "mlpbench": "0.0.0-elsewhere"}
    with Client(address, timeout="30s") as client:
        with pytest.raises(
            UserError, match=r"runs other versions: mlpbench: here 0\.0\.0-elsewhere"
        ):
            cluster.check_workers(client, expected=expected)
        assert len(cluster.check_workers(client)) == 2  # the same versions pass


def test_bad_cluster_addresses_are_one_line(tmp_path, capsys):
    path = sweep_file(tmp_path)
    for bad in ("nowhere", "local:0", "http://x:1"):
        assert main(["sweep", str(path), "--cluster", bad, "--results", str(tmp_path / "r")]) == 2
        assert "--cluster" in capsys.readouterr().err


def test_a_cluster_point_runs_with_its_forced_plans_variables(tmp_path, monkeypatch):
    """On a cluster a point forced to plan sleep ran without OPENBLAS_THREAD_TIMEOUT=4 (the
    worker got no plan variables) while runs.csv said sleep. The whole path, sweep -> Dask ->
    run_point, on an in-process cluster (no server, no port); only the point's own process
    is replaced."""
    from contextlib import contextmanager

    from distributed import Client, LocalCluster

    from mlpbench.config.sweepfile import parse_config
    from mlpbench.sweep import spawn as execute

    seen = {}

    def fake_worker(point, timeout, progress, python, cpus, env=None):
        seen.update(point=point, env=env)
        return PointResult.failed("not run: the test only looks at its inputs")

    @contextmanager
    def in_process(address):
        with LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, resources=cluster.RESOURCE,
            dashboard_address=None,
        ) as local, Client(local) as client:  # fmt: skip
            yield client

    monkeypatch.setattr(execute, "run_worker", fake_worker)
    monkeypatch.setattr(cluster, "connect", in_process)
    monkeypatch.setattr(  # no calibration: the point does not run
        cluster, "prepare_hosts", lambda client, workers, combos, pin: {
            i["host"]: Host(i["host"]) for i in workers.values()
        },
    )  # fmt: skip
    doc = {
        "data": {"dataset": "synthetic", "synthetic_samples": 200, "synthetic_features": 50},
        "model": {"layers": [50, 32, 4]},
        "train": {"epochs": 1},
        "grid": {"backend": ["numpy"], "batch_size": [100], "threads": [1]},
        "options": {"numpy": {"plan": "sleep"}},
    }
    run_sweep(parse_config(doc), root=tmp_path, quiet=True, cluster="local:1")
    assert seen["env"]["OPENBLAS_THREAD_TIMEOUT"] == "4"
    assert seen["point"].run.options["split_rows"] is False  # the plan's options came too
