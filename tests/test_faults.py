"""Faults that must not lose or corrupt a result (issue 11, cases 1-7), each as it was reproduced.

Every test here failed on f45c878; the sweep's guarantees are stated in README ("What a sweep
guarantees").
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlpbench.cli.app import main
from mlpbench.config.sweepfile import ConfigError, parse_config
from mlpbench.errors import BusyError, UserError
from mlpbench.results.folder import ResultsFolder
from mlpbench.results.schema import RUN_COLUMNS
from mlpbench.sweep.loop import run_sweep
from tests.conftest import sweep_text

SMALL = sweep_text(
    "{name}", 'backend = ["numpy"]\nbatch_size = {batches}\nthreads = [1]\n',
    top="repeats = {repeats}\ntimeout_s = 120\n", samples="{samples}", layers="[20, {width}, 4]",
    model="l2 = 0.001\n", epochs="{epochs}", train="learning_rate = 0.01\n",
)  # fmt: skip


def sweep_file(
    tmp_path: Path, name="t", batches=(50, 100, 200), epochs=2, slow=False, repeats=1
) -> Path:
    """A sweep of tiny points, or with ``slow`` points that take seconds each."""
    path = tmp_path / f"{name}.toml"
    path.write_text(
        SMALL.format(
            name=name,
            repeats=repeats,
            batches=list(batches),
            epochs=200 if slow else epochs,
            samples=20000 if slow else 400,
            width=512 if slow else 8,
        )
    )
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlpbench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def wait_for_worker(proc: subprocess.Popen, timeout: float = 60) -> psutil.Process:
    """The sweep's running worker process, once it has started a point."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "mlpbench.worker train" in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.1)
    raise AssertionError("the sweep started no worker in time")


def gone(process: psutil.Process, within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


# 1. A torn last line in runs.csv, then --resume.


@pytest.mark.slow
@pytest.mark.parametrize("cut", ["inside_keys", "after_keys", "before_newline"])
def test_torn_last_row_is_cut_and_its_point_reruns(tmp_path, cut, capsys):
    out = run_sweep(sweep_file(tmp_path), root=tmp_path / "results", quiet=True)
    runs_csv = out / "runs.csv"
    data = runs_csv.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1  # start of the last row
    at = {
        "inside_keys": last + 8,  # within run_id/backend
        "after_keys": last + len(b"r0002,numpy,200,float32,cpu,1,default,0,ok,") + 5,
        "before_newline": len(data) - 1,
    }[cut]
    runs_csv.write_bytes(data[:at])  # a crash mid-write: the row's tail never landed

    run_sweep(None, resume=out, quiet=False)
    assert "partial last line" in capsys.readouterr().err
    runs = rows(runs_csv)
    assert len(runs) == 3 and list(runs[0]) == RUN_COLUMNS
    assert len({(r["batch_size"], r["repeat"]) for r in runs}) == 3
    assert len({r["run_id"] for r in runs}) == 3
    epochs = rows(out / "epochs.csv")
    assert len(epochs) == 3 * 2  # the rerun point's epochs once, no orphans
    assert {e["run_id"] for e in epochs} == {r["run_id"] for r in runs}
    assert main(["summary", str(out)]) == 0


@pytest.mark.slow
def test_orphan_and_duplicate_epoch_rows_are_pruned_on_resume(tmp_path):
    out = run_sweep(sweep_file(tmp_path), root=tmp_path / "results", quiet=True)
    epochs_csv = out / "epochs.csv"
    lines = epochs_csv.read_text().splitlines(keepends=True)
    epochs_csv.write_text("".join(lines) + lines[1] + lines[2].replace("r0000", "r0099"))
    run_sweep(None, resume=out, quiet=True)
    assert len(rows(epochs_csv)) == 3 * 2


# 2. Names that leave results/, and a file called latest.


@pytest.mark.parametrize("name", ["../../x", "a/b", "/tmp/x", "..", ".hidden", "x" * 65, ""])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ConfigError, match="name"):
        parse_config({"name": name, "grid": {"backend": ["numpy"]}})


@pytest.mark.slow
def test_sweep_stays_inside_results_and_keeps_a_file_called_latest(tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    (root / "latest").write_text("mine")
    out = run_sweep(sweep_file(tmp_path, batches=[50]), root=root, quiet=True)
    assert out.parent == root.resolve()
    assert (root / "latest").read_text() == "mine" and not (root / "latest").is_symlink()
    (root / "latest").unlink()
    out2 = run_sweep(sweep_file(tmp_path, batches=[50]), root=root, quiet=True)
    assert (root / "latest").resolve() == out2 and out2 != out


def test_two_sweeps_of_one_name_in_one_second_get_two_folders(tmp_path, monkeypatch):
    import mlpbench.sweep.loop as sweep_module

    class Frozen:
        @staticmethod
        def now():
            import datetime

            return datetime.datetime(2026, 1, 1, 12, 0, 0)

        fromtimestamp = staticmethod(__import__("datetime").datetime.fromtimestamp)

    monkeypatch.setattr(sweep_module, "datetime", Frozen)
    cfg = parse_config({"name": "same", "grid": {"backend": ["numpy"]}})
    a, b = (ResultsFolder.new(tmp_path, cfg.name).path for _ in range(2))
    assert a != b and a.is_dir() and b.is_dir() and b.name == a.name + "-2"


# 3. SIGKILL and SIGTERM of the sweep.


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_sweep_leaves_no_worker_and_no_temp_folder(tmp_path, sig):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    path = sweep_file(tmp_path, batches=[50, 100], slow=True)
    proc = cli("sweep", str(path), "--quiet", "--results", str(tmp_path / "results"), env=env)
    worker = wait_for_worker(proc)
    proc.send_signal(sig)  # the sweep alone, as a user's kill or a scheduler would
    _, err = proc.communicate(timeout=30)
    code = proc.returncode
    assert gone(worker, within=2.0), "the worker outlived its sweep"
    assert list(tmp.iterdir()) == []
    if sig == signal.SIGTERM:
        assert code == 143
        assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    else:
        assert code == -signal.SIGKILL


@pytest.mark.slow
def test_sigterm_then_resume_completes(tmp_path):
    path = sweep_file(tmp_path, batches=[50, 100], epochs=2, repeats=2)
    proc = cli("sweep", str(path), "--quiet", "--results", str(tmp_path / "results"))
    wait_for_worker(proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    (out,) = (tmp_path / "results").glob("*-t")
    run_sweep(None, resume=out, quiet=True)
    runs = rows(out / "runs.csv")
    assert len(runs) == 4 and len({(r["batch_size"], r["repeat"]) for r in runs}) == 4


# 4. Two sweeps on one folder at once.


def test_second_sweep_on_a_busy_folder_is_refused_naming_the_holder(tmp_path):
    path = sweep_file(tmp_path, batches=[50, 100], slow=True)
    proc = cli("sweep", str(path), "--quiet", "--results", str(tmp_path / "results"))
    try:
        wait_for_worker(proc)
        (out,) = (tmp_path / "results").glob("*-t")
        with pytest.raises(BusyError, match=f"PID {proc.pid}"):
            run_sweep(None, resume=out, quiet=True)
        second = cli("sweep", "--resume", str(out))
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"PID {proc.pid}" in err and "Traceback" not in err
    finally:
        proc.kill()
        proc.communicate()


# 5. --resume after the sweep file was edited.


@pytest.mark.slow
def test_resume_refuses_an_edited_config_and_force_only_adds_points(tmp_path):
    out = run_sweep(sweep_file(tmp_path, batches=[50]), root=tmp_path / "results", quiet=True)
    config = out / "config.toml"
    original = config.read_text()
    config.write_text(original.replace("batch_size = [50]", "batch_size = [50, 100]"))
    with pytest.raises(UserError, match=r"changed: grid\.batch_size"):
        run_sweep(None, resume=out, quiet=True)
    assert main(["sweep", "--resume", str(out), "--quiet"]) == 2

    config.write_text(original.replace("epochs = 2", "epochs = 3"))  # would mix configurations
    with pytest.raises(UserError, match=r"train\.epochs.*already ran"):
        run_sweep(None, resume=out, quiet=True, force=True)

    config.write_text(original.replace("batch_size = [50]", "batch_size = [50, 100]"))
    run_sweep(None, resume=out, quiet=True, force=True)
    runs = rows(out / "runs.csv")
    assert sorted(r["batch_size"] for r in runs) == ["100", "50"]
    assert len({r["run_id"] for r in runs}) == 2
    run_sweep(None, resume=out, quiet=True)  # the accepted config is now the sweep's own
    assert len(rows(out / "runs.csv")) == 2


# 6. No successful run.


@pytest.mark.slow
def test_report_and_plot_when_nothing_succeeded(tmp_path, fake_plugins, capsys):
    path = sweep_file(tmp_path, batches=[50])
    path.write_text(path.read_text().replace('["numpy"]', '["crash", "gpuonly"]'))
    assert main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r"), "--report"]) == 1
    (out,) = (tmp_path / "r").glob("*-t")
    page = (out / "report.html").read_text()
    assert "No run succeeded" in page and "SIGABRT" in page and "skipped" in page
    assert main(["plot", str(out)]) == 0

    runs_csv = out / "runs.csv"
    runs_csv.write_text(runs_csv.read_text().splitlines()[0] + "\n")  # header only
    assert main(["report", str(out)]) == 0
    assert "No run succeeded" in (out / "report.html").read_text()
    runs_csv.write_bytes(b"")  # 0 bytes
    assert main(["summary", str(out)]) == 0
    assert "0 runs" in capsys.readouterr().out


# 7. A garbage row, and a compare of nothing.


@pytest.mark.slow
def test_a_garbage_row_is_named_left_out_and_refused_with_strict(tmp_path, capsys):
    out = run_sweep(sweep_file(tmp_path, batches=[50]), root=tmp_path / "results", quiet=True)
    good = str(out)
    other = run_sweep(sweep_file(tmp_path, batches=[50]), root=tmp_path / "results", quiet=True)
    with (other / "runs.csv").open("a") as f:
        f.write(
            "r0009,numpy,fifty,float32,cpu,1,default,0,ok" + "," * (len(RUN_COLUMNS) - 9) + "\n"
        )
    capsys.readouterr()
    for command in (["summary", str(other)], ["compare", good, str(other)], ["report", str(other)]):
        assert main(command) == 0
        err = capsys.readouterr().err
        assert "runs.csv:3" in err and "batch_size" in err and "'fifty'" in err
        assert main([*command, "--strict"]) == 2
        err = capsys.readouterr().err
        assert "runs.csv:3" in err and "batch_size" in err and "'fifty'" in err


@pytest.mark.slow
def test_compare_of_nothing_and_bad_threshold_exit_2(tmp_path, capsys):
    a = run_sweep(sweep_file(tmp_path, batches=[50]), root=tmp_path / "results", quiet=True)
    b = run_sweep(sweep_file(tmp_path, batches=[100]), root=tmp_path / "results", quiet=True)
    assert main(["compare", str(a), str(b)]) == 2
    assert "no point could be compared" in capsys.readouterr().err
    for bad in ("nan", "0", "-0.1", "inf"):
        assert main(["compare", str(a), str(a), "--threshold", bad]) == 2
        assert "--threshold" in capsys.readouterr().err
    assert main(["compare", str(a), str(a)]) == 0


@pytest.mark.slow
def test_results_of_a_newer_schema_are_refused(tmp_path, capsys):
    out = run_sweep(sweep_file(tmp_path, batches=[50]), root=tmp_path / "results", quiet=True)
    env = out / "environment.json"
    from mlpbench.results.schema import SCHEMA_VERSION

    text = env.read_text()
    assert f'"schema_version": {SCHEMA_VERSION}' in text
    newer = f'"schema_version": {SCHEMA_VERSION + 1}'
    env.write_text(text.replace(f'"schema_version": {SCHEMA_VERSION}', newer))
    assert main(["summary", str(out)]) == 2
    assert "newer than this mlpbench reads" in capsys.readouterr().err
