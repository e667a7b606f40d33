"""When a number cannot be trusted, the output says so: the machine check, pinned cores, drift
of the GEMM peak, runs disturbed by other processes, unstable points, and compare's corrected
statistics (issue 16)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlpbench.analysis.compare import compare
from mlpbench.analysis.tables import Analysis, warnings
from mlpbench.cli.app import main
from mlpbench.machine.threads import usable_cpus
from mlpbench.sweep.loop import run_sweep
from tests.fixture_results import make_results

CHECKS = (
    "CPU governor",
    "turbo/boost",
    "SMT",
    "isolated CPUs",
    "BLAS/OpenMP variables",
    "BLAS kernels",
    "BLAS threads on a small product",
    "free memory",
    "other sweeps",
    "steal time",
    "other processes",
    "load average",
)


def test_doctor_prints_one_line_per_check(capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert main(["doctor", "--sample", "0.2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    checks = [line for line in lines if line.startswith(("OK   ", "WARN "))]
    assert [c[5:].split(":")[0] for c in checks] == list(CHECKS)
    (blas,) = [line for line in lines if "BLAS/OpenMP variables" in line]
    assert blas.startswith("WARN") and "OMP_NUM_THREADS=5" in blas and "-> unset them" in blas
    assert any("warning(s)" in line or "all checks OK" in line for line in lines)
    assert main(["doctor", "--sample", "-1"]) == 2


def test_doctor_names_kernels_forced_against_the_cpu(monkeypatch):
    """This session's AMD EPYC image set OPENBLAS_CORETYPE=Haswell, which halved the GEMM peak
    against the SkylakeX kernels OpenBLAS picks there by itself: the doctor says which."""
    from mlpbench.machine import doctor as machine

    def probe(env: dict[str, str]) -> str:
        return env.get("OPENBLAS_CORETYPE", "SkylakeX")

    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    assert machine.blas_kernels(probe).ok
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    check = machine.blas_kernels(probe)
    assert not check.ok and "kernels Haswell" in check.detail and "picks SkylakeX" in check.detail
    assert "unset OPENBLAS_CORETYPE" in check.line()
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SkylakeX")
    assert machine.blas_kernels(probe).ok  # forced to what it would pick anyway


def test_the_kernel_probe_reads_openblas_in_a_fresh_process():
    import platform

    from mlpbench.machine import doctor as machine

    forced = "Sandybridge" if platform.machine() == "x86_64" else "ARMV8"
    env = {k: v for k, v in os.environ.items() if k not in machine.KERNEL_VARS}
    assert machine.blas_architecture({**env, "OPENBLAS_CORETYPE": forced}) == forced
    assert machine.blas_architecture(env) not in ("", "?")


def sweep_file(tmp_path: Path, repeats: int, threads: str = '"all"') -> Path:
    path = tmp_path / "load.toml"
    path.write_text(
        f'name = "load"\nrepeats = {repeats}\n[data]\ndataset = "synthetic"\n'
        "synthetic_samples = 5000\nsynthetic_features = 100\nsynthetic_classes = 4\n"
        "[model]\nlayers = [100, 1000, 4]\n[train]\nepochs = 4\n"
        f'[grid]\nbackend = ["numpy"]\nbatch_size = [50]\nthreads = [{threads}]\n'
    )
    return path


def rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as f:
        return [r for r in csv.DictReader(f)]


@pytest.mark.slow
def test_a_loaded_machine_is_flagged_in_summary_and_report(tmp_path):
    """A CPU-bound process shares the cores: running for every other run, stopped otherwise."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    results = tmp_path / "results"
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlpbench",
            "sweep",
            str(sweep_file(tmp_path, 4)),
            "--quiet",
            "--results",
            str(results),
            "--report",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    hog_cpu = psutil.Process(hog.pid)
    marks: list[tuple[float, float]] = []  # (wall, the hog's CPU seconds) as each row lands
    try:
        deadline = time.time() + 400
        while sweep.poll() is None and time.time() < deadline:
            done = sum(len(rows(p)) for p in results.glob("*-load/runs.csv"))
            if len(marks) <= done:
                used = hog_cpu.cpu_times()
                marks.append((time.monotonic(), used.user + used.system))
            hog.send_signal(signal.SIGCONT if done % 2 == 0 else signal.SIGSTOP)
            time.sleep(0.05)
        out, err = sweep.communicate(timeout=60)
    finally:
        hog.kill()
        hog.communicate()
        if sweep.poll() is None:
            sweep.kill()
            sweep.communicate()
    assert sweep.returncode == 0, err
    (folder,) = results.glob("*-load")
    runs = rows(folder / "runs.csv")
    loads = [float(r["other_load_pct"]) for r in runs]
    # Run k (in the order rows were written) ran with the hog going when k is even. The test
    # measured the hog's own share of the machine over each run's window; the probe must
    # count at least most of it as other processes' load, whatever else loads the machine.
    n_cpu = os.cpu_count() or 1
    shares = [100 * (c1 - c0) / ((w1 - w0) * n_cpu) for (w0, c0), (w1, c1) in zip(marks, marks[1:])]
    loaded = [(loads[k], shares[k]) for k in range(0, min(len(loads), len(shares)), 2)]
    assert loaded and max(s for _, s in loaded) > 10, (loads, shares)  # the hog did run
    for seen, share in loaded:
        assert seen >= 0.7 * share - 2, (loads, shares)
    env = json.loads((folder / "environment.json").read_text())
    by_name = {c["name"]: c for c in env["doctor"]}
    assert not by_name["other processes"]["ok"]  # the hog was running at the start
    summary = subprocess.run(
        [sys.executable, "-m", "mlpbench", "summary", str(folder)],
        capture_output=True,
        text=True,
    ).stdout
    assert "machine check at the start: WARN other processes" in summary
    assert "load: " in summary and "unstable" in summary
    page = (folder / "report.html").read_text()
    assert "Warnings: numbers that may not be trusted" in page and "unstable" in page


@pytest.mark.slow
@pytest.mark.skipif(len(usable_cpus()) < 2, reason="pinning apart needs 2 usable cores")
def test_points_are_pinned_apart_from_the_sweep_and_recorded(tmp_path):
    path = sweep_file(tmp_path, 1, threads="1")
    out = run_sweep(path, root=tmp_path / "pinned", quiet=True)
    (run,) = rows(out / "runs.csv")
    assert run["cpus"] == str(usable_cpus()[-1])
    assert json.loads((out / "environment.json").read_text())["pinned"] is True
    assert os.sched_getaffinity(0) == set(usable_cpus())  # the sweep's own pin is undone
    free = run_sweep(path, root=tmp_path / "free", quiet=True, pin=False)
    (run,) = rows(free / "runs.csv")
    assert run["cpus"] == f"{usable_cpus()[0]}-{usable_cpus()[-1]}"


def test_drift_of_the_gemm_peak_is_a_warning(tmp_path, capsys):
    res = make_results(tmp_path / "drift")
    env_path = res / "environment.json"
    env = json.loads(env_path.read_text())
    again = [
        dict(p, gflops=p["gflops"] * (0.85 if p["threads"] == 2 else 1.01)) for p in env["peaks"]
    ]
    env["recalibrations"] = [{"after_runs": 100, "peaks": again}]
    env_path.write_text(json.dumps(env))
    found = warnings(Analysis.of(res))
    drifts = [w for w in found if w.startswith("drift:")]
    assert len(drifts) == 2 and all("-15%" in w for w in drifts)  # float32 and float64, 2 thr
    assert main(["summary", str(res)]) == 0
    assert "drift: the GEMM peak (float32, 2 thr, cpu) went from 100.0 to 85.0" in (
        capsys.readouterr().out
    )


def test_two_stacks_gemm_peaks_are_not_drift(tmp_path):
    """A versions sweep measures the GEMM peak once per stack: NumPy 1.26's BLAS and 2.4's
    differ at the start as at the end. Pooled under (dtype, threads, device), the last
    stack's start was held against every stack's end and called the machine's drift."""
    res = make_results(tmp_path / "stacks")
    env_path = res / "environment.json"
    env = json.loads(env_path.read_text())
    old = [dict(p, env="np126", gflops=p["gflops"] * 0.7) for p in env["peaks"]]
    env["peaks"] = env["peaks"] + old
    env["recalibrations"] = [{"after_runs": 100, "peaks": env["peaks"]}]
    env_path.write_text(json.dumps(env))
    assert not [w for w in warnings(Analysis.of(res)) if w.startswith("drift:")]
    env["recalibrations"][0]["peaks"] = env["peaks"][: len(old)] + [
        dict(p, gflops=p["gflops"] * 0.85) for p in old
    ]
    env_path.write_text(json.dumps(env))
    drifts = [w for w in warnings(Analysis.of(res)) if w.startswith("drift:")]
    assert len(drifts) == len(old) and all("stack np126" in w and "-15%" in w for w in drifts)


@pytest.mark.slow
def test_sweep_recalibrates_at_its_end(tmp_path):
    out = run_sweep(sweep_file(tmp_path, 1, threads="1"), root=tmp_path, quiet=True)
    env = json.loads((out / "environment.json").read_text())
    (again,) = env["recalibrations"]
    assert again["after_runs"] == 1 and again["peaks"][0]["gflops"] > 0


def test_compare_a_a_flags_nothing_and_finds_a_planted_slowdown(tmp_path):
    key = ("numpy", 500, "float32", "cpu", 2, "baseline")
    a = make_results(tmp_path / "a", repeats=10, seed=1)
    same = make_results(tmp_path / "same", repeats=10, seed=2)
    rows_aa = compare(a, same)
    assert len(rows_aa) == 24 and all(r.verdict == "same" for r in rows_aa)
    slow = make_results(tmp_path / "slow", repeats=10, seed=3, slow={key: 1.5})
    found = {r.key.values()[:6]: r for r in compare(a, slow)}
    planted = found.pop(key)
    assert planted.verdict == "slower" and planted.p_holm < 0.05
    assert planted.ci_low > 1.4 and planted.ci_high < 1.6
    assert all(r.verdict == "same" for r in found.values())


def test_compare_says_untested_when_the_repeats_cannot_decide(tmp_path, capsys):
    key = ("numpy", 500, "float32", "cpu", 2, "baseline")
    a = make_results(tmp_path / "a", repeats=5, seed=1)
    b = make_results(tmp_path / "b", repeats=3, seed=2, slow={key: 0.6})
    planted = {r.key.values()[:6]: r for r in compare(a, b)}[key]
    # 5 vs 3 repeats reach p >= 0.036; over 24 points no correction can pass 0.05
    assert planted.min_p == pytest.approx(2 / 56)
    assert planted.verdict.startswith("faster (untested")
    assert main(["compare", str(a), str(b)]) == 0  # faster is not a failure
    out = capsys.readouterr().out
    assert "Holm p" in out and "min p" in out and "faster (untested" in out
