"""Issue 49: what a hostile backend does to the sweep's processes and its result pipe costs
only its own point, and leaves nothing behind. Each test is a fault of the reliability trial
on a75d8a3, reproduced as it was found; each failed there.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlpbench.results.store import read_runs
from mlpbench.sweep.loop import run_sweep
from tests.conftest import on_path, write_plugin

MARK = f"{random.randint(10**6, 10**7)}.5"  # how long the daemons sleep: finds this run's

MODULE = f'''
import json, os, sys, time
from mlpbench.backends.numpy.trainer import NumpyTrainer


def _pipe():
    return int(sys.argv[sys.argv.index("train") + 1])


class Forged(NumpyTrainer):
    """Writes a complete ok result of 5 epochs (for a 2-epoch run) and 500 kB cells, exits."""
    def fit(self, data, on_epoch_end=None):
        summary = dict(dataset="synthetic", n_train=400, epochs=5, import_s=0.1, setup_s=0.1,
                       first_epoch_s=0.1, steady_epoch_s=0.1, steady_epoch_min_s=0.1,
                       steady_epoch_max_s=0.1, train_s=0.5, cpu_s=0.5, samples_per_s=4000.0,
                       gflops=1.0, final_loss=0.5, final_accuracy=0.5, test_loss=0.5,
                       test_accuracy=0.5, peak_rss_mb=100.0, blas="x" * 500_000,
                       blas_threads=1, framework_threads="1", backend_version="1",
                       backend_info="y" * 500_000)
        epochs = [dict(epoch=i, wall_s=0.1, cpu_s=0.1, loss=0.5, accuracy=0.5, phases={{}})
                  for i in range(5)]
        msg = json.dumps({{"result": {{"status": "ok", "summary": summary, "epochs": epochs}}}})
        os.write(_pipe(), (msg + "\\n").encode())
        os._exit(0)


class NegativeImport(NumpyTrainer):
    def info(self):
        return {{**super().info(), "import_s": -1e6}}


class BadMessage(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        os.write(_pipe(), b'{{"progress": 5}}\\n')
        return super().fit(data, on_epoch_end)


class Flood(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        chunk = "z" * 2**20
        for _ in range(300):  # 300 MiB without a newline
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return super().fit(data, on_epoch_end)


class CleanDaemon(NumpyTrainer):
    """`setsid -f sleep` with a clean environment: neither the group nor the token."""
    def fit(self, data, on_epoch_end=None):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.execve("/bin/sleep", ["sleep", "{MARK}"], {{}})
            os._exit(0)
        return super().fit(data, on_epoch_end)
'''
ENTRY_POINTS = """[mlpbench.backends]
forged = hostile:Forged
negativeimport = hostile:NegativeImport
badmessage = hostile:BadMessage
flood = hostile:Flood
cleandaemon = hostile:CleanDaemon
hangsatimport = hostilehang:Thing
"""


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    hang = "import time\ntime.sleep(600)\nThing = None\n"
    modules = {"hostile": MODULE, "hostilehang": hang}
    root = write_plugin(tmp_path / "plugins", modules, ENTRY_POINTS, "hostile-backends")
    return on_path(root, monkeypatch)


def sweep_file(tmp_path: Path, backends: list[str], timeout_s: int = 60) -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(
        f'name = "hostile"\ntimeout_s = {timeout_s}\n[data]\ndataset = "synthetic"\n'
        "synthetic_samples = 400\nsynthetic_features = 20\nsynthetic_classes = 4\n"
        "[model]\nlayers = [20, 8, 4]\n[train]\nepochs = 2\n"
        f"[grid]\nbackend = {json.dumps(backends)}\nbatch_size = [50]\nthreads = [1]\n"
    )
    return path


def by_backend(folder: Path) -> dict[str, dict]:
    return {r["backend"]: r for r in read_runs(folder)}


@pytest.mark.slow
def test_forged_negative_and_malformed_results_cost_only_their_points(hostile, tmp_path):
    """Faults 7, 8, 9: a forged ok result (5 epochs for 2, 5 MB cells) was accepted; an
    import_s of -1e6 was stored; `{"progress": 5}` killed the reader and lost a good run."""
    backends = ["forged", "negativeimport", "badmessage", "numpy"]
    out = run_sweep(sweep_file(tmp_path, backends), root=tmp_path / "r", quiet=True)
    runs = by_backend(out)
    assert runs["numpy"]["status"] == "ok"
    forged = runs["forged"]
    assert forged["status"] == "failed" and "invalid" in forged["reason"]
    assert len(forged["reason"]) <= 1000
    assert runs["negativeimport"]["status"] == "failed"
    assert "import_s" in runs["negativeimport"]["reason"]
    assert runs["badmessage"]["status"] == "failed"
    assert "malformed message" in runs["badmessage"]["reason"]
    assert "progress" in runs["badmessage"]["reason"]
    assert os.path.getsize(out / "runs.csv") < 100_000


@pytest.mark.slow
def test_a_flood_of_output_does_not_grow_the_sweep(hostile, tmp_path):
    """Fault 13: 800 MiB printed without a newline grew the sweep to 1.7 GiB."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = run_sweep(sweep_file(tmp_path, ["flood"]), root=tmp_path / "r", quiet=True)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert by_backend(out)["flood"]["status"] == "ok"
    assert grown_mib < 100, f"the sweep grew by {grown_mib:.0f} MiB"


def sleepers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if MARK in (p.info["cmdline"] or [])]


@pytest.mark.slow
def test_a_daemon_without_group_or_token_ends_with_its_point(hostile, tmp_path):
    """Fault 10: `setsid -f sleep 301` with a clean environment outlived the sweep."""
    sweep = subprocess.run(
        [sys.executable, "-m", "mlpbench", "sweep", str(sweep_file(tmp_path, ["cleandaemon"])),
         "--quiet", "--results", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    try:
        assert sweep.returncode == 0, sweep.stderr[-2000:]
        time.sleep(0.5)
        assert not sleepers(), "the daemon outlived its point"
    finally:
        for p in sleepers():
            p.kill()


def start_sweep(tmp_path: Path, backends: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlpbench", "sweep", str(sweep_file(tmp_path, backends, 120)),
         "--quiet", "--results", str(tmp_path / "r")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def wait_for_check(sweep: subprocess.Popen) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = []
        for child in psutil.Process(sweep.pid).children(recursive=True):
            try:
                if "mlpbench.worker check" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                pass
        if found:
            time.sleep(1.0)  # inside the hanging import
            return found
        time.sleep(0.1)
    raise AssertionError("the sweep started no check in time")


@pytest.mark.slow
def test_no_child_of_a_sweep_killed_during_its_check_lives_on(hostile, tmp_path):
    """Fault 11: SIGKILL to the sweep during the pre-run check left the check running."""
    sweep = start_sweep(tmp_path, ["hangsatimport", "numpy"])
    try:
        checks = wait_for_check(sweep)
        sweep.kill()
        sweep.communicate()
        time.sleep(2.0)
        alive = [c for c in checks if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"{len(alive)} check process(es) outlived the sweep"
    finally:
        for c in psutil.process_iter(["cmdline"]):
            if "mlpbench.worker check" in " ".join(c.info["cmdline"] or []) and str(
                hostile
            ) in c.environ().get("PYTHONPATH", ""):
                c.kill()


@pytest.mark.slow
def test_ctrl_c_during_the_check_ends_within_2_s(hostile, tmp_path):
    """Fault 12: Ctrl-C during the pre-run check took 54 s with a hanging plugin import."""
    sweep = start_sweep(tmp_path, ["hangsatimport", "numpy"])
    try:
        checks = wait_for_check(sweep)
        t0 = time.monotonic()
        sweep.send_signal(signal.SIGINT)
        sweep.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.communicate()
    assert sweep.returncode == 130 and took < 2.0, (sweep.returncode, took)
    time.sleep(0.5)
    assert not [c for c in checks if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_a_sweep_killed_during_calibration_leaves_no_child_and_resumes(tmp_path):
    """Faults 11 and 14: SIGKILL during calibration left the GEMM process running, and the
    folder (config.toml and a stale .lock, no environment.json) could not be resumed."""
    sweep = start_sweep(tmp_path, ["numpy"])
    gemm = None
    try:
        deadline = time.monotonic() + 60
        while gemm is None and time.monotonic() < deadline:
            for child in psutil.Process(sweep.pid).children(recursive=True):
                try:
                    if "mlpbench.worker gemm" in " ".join(child.cmdline()):
                        gemm = child
                except psutil.Error:
                    pass
            time.sleep(0.01)
        assert gemm is not None, "the sweep started no calibration in time"
        sweep.kill()
        sweep.communicate()
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.communicate()
    time.sleep(2.0)
    assert not (gemm.is_running() and gemm.status() != psutil.STATUS_ZOMBIE)
    (folder,) = [p for p in (tmp_path / "r").iterdir() if not p.is_symlink()]
    out = run_sweep(None, resume=folder, quiet=True)
    assert [r["status"] for r in read_runs(out)] == ["ok"]


@pytest.fixture
def shadow(hostile):
    entry = "[mlpbench.backends]\nnumpy = hostile:Forged\n"
    return write_plugin(hostile, {}, entry, "shadow-backends")


@pytest.mark.slow
def test_a_plugin_registering_a_built_in_name_is_refused_naming_both(
    shadow, tmp_path, capsys, monkeypatch
):
    """Fault 2: a second distribution registering `numpy` silently replaced the built-in."""
    from mlpbench.cli.app import main

    assert (
        main(["sweep", str(sweep_file(tmp_path, ["numpy"])), "--results", str(tmp_path / "r")]) == 2
    )
    err = capsys.readouterr().err
    assert "'numpy'" in err and "mlpbench" in err and "shadow-backends" in err
    assert not (tmp_path / "r").exists()  # nothing started
    assert main(["run", "--backend", "numpy", "--epochs", "1"]) == 2
    assert "shadow-backends" in capsys.readouterr().err
    from mlpbench.sweep import spawn

    # the listing's conflict column, without describing every framework in a process of its
    # own (a minute on 2 cores): numpy described as it is
    described = {"name": "numpy", "version": "0.1.0", "devices": ["cpu"], "dtypes": ["float32"]}
    monkeypatch.setattr(spawn, "describe_backends", lambda timeout: [described])
    assert main(["backends", "--timeout", "60"]) == 0
    out = capsys.readouterr().out
    assert "conflict: mlpbench, shadow-backends" in out
