"""One bad backend costs only its own points, from the first check to the last row (issue 42):
the 10 faults a trial of misbehaving plugins found, each a plugin here, run beside numpy.

- an import that hangs, and a check_options that hangs: the pre-run check sat 600 s, then
  nothing ran; `mlpbench backends` hung;
- capabilities() and the thread-plan hook raising: every sweep refused to start;
- a print at exit: read as the check's answer;
- a lone surrogate in a failure reason and in info(): every write, and every --resume, failed;
- formulas in framework_threads, plan, info() and a reason: runs.csv ran them in a spreadsheet;
- a grandchild holding the worker's stdout: the sweep waited past its timeout; a daemon
  grandchild outlived the sweep.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlpbench.cli.app import main
from mlpbench.results.store import _number, load_runs
from tests.conftest import on_path, write_plugin

MARK = "4242.25"  # the grandchildren sleep this long: found by it, whatever their parent

MODULE = f'''
"""Misbehaving backends (issue 42), registered through a real entry point."""
import atexit, os, subprocess, sys, time
from mlpbench.backends.numpy.trainer import NumpyTrainer


class RaisesCapabilities(NumpyTrainer):
    @classmethod
    def capabilities(cls):
        raise RuntimeError("capabilities exploded")


class RaisesPlans(NumpyTrainer):
    @classmethod
    def thread_plans(cls):
        raise RuntimeError("plans exploded")


class HangsCheck(NumpyTrainer):
    @classmethod
    def check_options(cls, options):
        time.sleep(600)


class PrintsAtExit(NumpyTrainer):
    pass


atexit.register(lambda: print('{{"problems": ["not the check"]}}'))


class SurrogateReason(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        raise RuntimeError("caf\\udce9 exploded")


class SurrogateInfo(NumpyTrainer):
    def info(self):
        return {{**super().info(), "note": "caf\\udce9"}}


class Formulas(NumpyTrainer):
    def info(self):
        return {{**super().info(), "framework_threads": '=HYPERLINK("http://127.0.0.1/x","click")',
                "plan": "+cmd|' /C calc'!A0", "extra": "=SUM(1+1)=@x"}}


class FormulaReason(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        raise RuntimeError('=HYPERLINK("http://127.0.0.1/x"): boom')


class HoldsPipe(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        subprocess.Popen(["sleep", "{MARK}"])  # inherits the worker's stdout
        return super().fit(data, on_epoch_end)


class DaemonHoldsPipe(NumpyTrainer):
    """A daemon grandchild that keeps the worker's stdout open, then a fit that hangs."""
    def fit(self, data, on_epoch_end=None):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "{MARK}"])
            os._exit(0)
        time.sleep(600)


class Daemon(NumpyTrainer):
    def fit(self, data, on_epoch_end=None):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.execvp("sleep", ["sleep", "{MARK}"])
            os._exit(0)
        return super().fit(data, on_epoch_end)
'''
HANGS_AT_IMPORT = "import time\ntime.sleep(600)\nThing = None\n"
ENTRY_POINTS = """[mlpbench.backends]
hangsimport = badhang:Thing
hangscheck = badbackends:HangsCheck
raisescapabilities = badbackends:RaisesCapabilities
raisesplans = badbackends:RaisesPlans
printsatexit = badbackends:PrintsAtExit
surrogatereason = badbackends:SurrogateReason
surrogateinfo = badbackends:SurrogateInfo
formulas = badbackends:Formulas
formulareason = badbackends:FormulaReason
holdspipe = badbackends:HoldsPipe
daemon = badbackends:Daemon
daemonholdspipe = badbackends:DaemonHoldsPipe
"""
INTERRUPTED_ONLY = {"daemonholdspipe"}  # hangs until interrupted: not in the big sweep
BROKEN = {  # backend -> what its skipped rows' reason says, beside its name
    "hangsimport": "did not answer within",
    "hangscheck": "did not answer within",
    "raisescapabilities": "capabilities() failed",
    "raisesplans": "thread_plans() failed",
}
TIMEOUT_S = 6


@pytest.fixture
def bad_plugins(tmp_path, monkeypatch):
    modules = {"badbackends": MODULE, "badhang": HANGS_AT_IMPORT}
    root = write_plugin(tmp_path / "plugins", modules, ENTRY_POINTS, "bad-mlpbench-backends")
    return on_path(root, monkeypatch)


def sleepers(plugins: Path | None = None) -> list[psutil.Process]:
    """The grandchildren the bad backends leave; with ``plugins``, only those started from
    that folder's plugins (a test's own: a daemon another test left behind, a little late,
    must not be taken for this test's)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if MARK not in (p.info.get("cmdline") or []):
            continue
        try:
            if plugins is None or str(plugins) in p.environ().get("PYTHONPATH", ""):
                found.append(p)
        except psutil.Error:
            continue
    return found


def sweep_file(tmp_path: Path, backends: list[str]) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(
        f'name = "bad"\ntimeout_s = {TIMEOUT_S}\n[data]\ndataset = "synthetic"\n'
        "synthetic_samples = 400\nsynthetic_features = 20\nsynthetic_classes = 4\n"
        "[model]\nlayers = [20, 8, 4]\n[train]\nepochs = 2\n"
        f"[grid]\nbackend = {json.dumps(backends)}\nbatch_size = [50]\nthreads = [1]\n"
    )
    return path


@pytest.mark.slow
def test_every_bad_backend_costs_only_its_own_points(bad_plugins, tmp_path):
    names = ["numpy", *[line.split(" =")[0] for line in ENTRY_POINTS.splitlines()[1:] if line]]
    names = [n for n in names if n not in INTERRUPTED_ONLY]
    path = sweep_file(tmp_path, names)
    t0 = time.monotonic()
    sweep = subprocess.run(
        [sys.executable, "-m", "mlpbench", "sweep", str(path), "--quiet", "--results",
         str(tmp_path / "r")],
        capture_output=True, text=True, timeout=len(names) * TIMEOUT_S + 120,
    )  # fmt: skip
    took = time.monotonic() - t0
    assert sweep.returncode == 1, sweep.stderr[-2000:]  # 1: some runs failed (their rows say)
    assert "2 run(s) failed" in sweep.stderr and "Traceback" not in sweep.stdout + sweep.stderr
    (folder,) = (tmp_path / "r").glob("*-bad")
    raw = (folder / "runs.csv").read_bytes()
    raw.decode("utf-8")  # valid UTF-8, surrogates and all
    with (folder / "runs.csv").open(newline="", encoding="utf-8") as f:
        cells = [c for row in csv.reader(f) for c in row]
    formulas = [c for c in cells if c[:1] in ("=", "+", "@", "\t") and len(c) > 1]
    assert not formulas, formulas  # nothing a spreadsheet would evaluate
    assert not [c for c in cells if c[:1] == "-" and len(c) > 1 and not _number(c)]
    runs = {r["backend"]: r for r in load_runs(folder).to_dict("records")}
    assert set(runs) == set(names)
    assert runs["numpy"]["status"] == "ok"
    for name, why in BROKEN.items():
        assert runs[name]["status"] == "skipped", runs[name]
        assert f"backend {name!r}" in runs[name]["reason"] and why in runs[name]["reason"]
    for name in ("printsatexit", "surrogateinfo", "formulas", "holdspipe", "daemon"):
        assert runs[name]["status"] == "ok", (name, runs[name]["reason"])
    assert runs["surrogatereason"]["status"] == "failed"
    assert "caf? exploded" in runs["surrogatereason"]["reason"]
    assert "note=caf?" in runs["surrogateinfo"]["backend_info"]
    formula = runs["formulas"]  # read back as given: the reader removes the quote
    assert formula["framework_threads"].startswith('=HYPERLINK("http://127.0.0.1/x"')
    assert formula["plan"] == "+cmd|' /C calc'!A0"
    assert runs["formulareason"]["reason"].count("=HYPERLINK") == 1
    # every point within its timeout (the checks run at once, each within it)
    assert took < len(names) * TIMEOUT_S, took
    time.sleep(0.5)
    assert not sleepers(), "a grandchild outlived its point"
    # every point has its row, the surrogate and formula ones included: the writes that once
    # failed for good (and so every --resume) succeed (the cell rules: the last test here)
    assert len(load_runs(folder)) == len(names)


@pytest.mark.slow
def test_backends_lists_a_hanging_plugin_as_broken_within_its_timeout(bad_plugins):
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "mlpbench", "backends", "--timeout", "6"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - t0 < 40
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "did not answer within 6 s" in lines["hangsimport"]
    assert "broken: capabilities() failed" in lines["raisescapabilities"]
    assert lines["numpy"].split()[-1] != "broken" and "broken" not in lines["numpy"]
    assert "not the check" not in out.stdout  # the plugin's print at exit is not the answer


def test_a_plugin_printing_at_exit_is_not_read_as_the_check(bad_plugins, tmp_path, capsys):
    """With only numpy and a plugin that prints at exit (JSON!) in the grid, the check's
    answer comes on its own pipe: the sweep starts (here: its dry run)."""
    path = sweep_file(tmp_path, ["numpy", "printsatexit"])
    assert main(["sweep", str(path), "--dry-run"]) == 0, capsys.readouterr().err


def test_a_text_cell_is_written_safe_and_read_back_as_given(tmp_path):
    from mlpbench.results.store import _cell, _uncell

    for text in ("=1+1", "+cmd", "-cmd", "@x", "\tx", "'=x", "caf\udce9"):
        written = _cell(text)
        assert written.encode("utf-8") and written[:1] not in ("=", "+", "-", "@", "\t")
        assert _uncell(written) == text.encode("utf-8", "replace").decode("utf-8")
    assert _cell("-") == "-" and _cell("-1.5") == "-1.5"  # not formulas: as they are


@pytest.mark.slow
def test_ctrl_c_acts_at_once_though_a_daemon_holds_the_workers_pipe(bad_plugins, tmp_path):
    """Fault 6: Ctrl-C took 112 s to act while a grandchild that left the worker's process
    group held its stdout; and that grandchild outlived the sweep."""
    import signal

    path = sweep_file(tmp_path, ["daemonholdspipe"]).read_text().replace(
        f"timeout_s = {TIMEOUT_S}", "timeout_s = 120"
    )
    (tmp_path / "bad.toml").write_text(path)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "mlpbench", "sweep", str(tmp_path / "bad.toml"), "--quiet",
         "--results", str(tmp_path / "r")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as at a terminal: a test run started in the background of a shell (`make
        # test &`) hands its children SIGINT ignored, and Python then never raises it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not sleepers(bad_plugins) and time.monotonic() < deadline:  # the worker's fit
            time.sleep(0.2)
        assert sleepers(bad_plugins), "the daemon never started"
        time.sleep(0.5)
        t0 = time.monotonic()
        sweep.send_signal(signal.SIGINT)
        sweep.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.communicate()
        for p in sleepers():
            p.kill()
    assert sweep.returncode == 130 and took < 5, (sweep.returncode, took)
    time.sleep(0.5)
    assert not sleepers(bad_plugins), "the daemon outlived the sweep"
