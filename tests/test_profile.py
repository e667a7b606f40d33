"""Issue 50: where a step's CPU time goes, sampled. The parser and the one category table on
captured ``perf script`` samples (tests/data/perf), the record's checks, the py-spy fallback
and the skip with fake profilers, and a real profile of a tiny point where perf can sample
(under CI=true it must: .ci/run installs linux-perf)."""

from __future__ import annotations

import ast
import math
import os
import stat
from pathlib import Path

import pytest

from mlpbench.api.records import RecordError
from mlpbench.results.profile import CATEGORIES, Profile
from mlpbench.worker.categories import Categories, Frame, folded, parse_folded, parse_perf_script
from mlpbench.worker.profiler import Profiler, perf_problem

ROOT = Path(__file__).resolve().parent.parent
PERF = ROOT / "tests" / "data" / "perf"
TF = {r"libtensorflow|_pywrap_tensorflow|_pywrap_tf|libtf": "framework runtime"}
JAX = {r"xla_extension|jaxlib|libjax": "framework runtime"}


def hook_of(path: Path, cls: str) -> dict[str, str]:
    """A backend class's PROFILE_CATEGORIES, read from its source (its framework may be
    missing here: the torch example imports torch)."""
    tree = ast.parse(path.read_text())
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    for node in body:
        name = getattr(node.targets[0], "id", "") if isinstance(node, ast.Assign) else ""
        if name == "PROFILE_CATEGORIES":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{cls} has no PROFILE_CATEGORIES")


def shares(name: str, own: dict[str, str]) -> dict[str, float]:
    samples = list(parse_perf_script((PERF / name).read_text()))
    counts = Categories(own).count(samples)
    assert sum(counts.values()) == len(samples) > 0
    return {c: n / len(samples) for c, n in counts.items()}


def test_numpy_samples_are_mostly_gemm_and_its_waiting_threads():
    got = shares("numpy.txt", {})
    assert max(got, key=got.get) == "GEMM kernels" and got["GEMM kernels"] > 0.4
    assert got["threads waiting or spinning"] > 0.1  # OpenBLAS's blas_thread_server
    assert got.get("other", 0) < 0.05, got


def test_tensorflow_and_jax_samples_show_their_runtime_and_jit_code():
    tf = shares("keras-tensorflow.txt", TF)
    jax = shares("jax.txt", JAX)
    for got in (tf, jax):
        assert got["framework runtime"] > 0.05 and got["compiled code without symbols"] > 0.05
        assert got.get("other", 0) < 0.1, got
    assert tf["Python interpreter"] > 0.1  # Keras's fit loop
    assert jax["GEMM kernels"] > 0.1  # XLA's dot kernels in jaxlib


def test_the_torch_plugins_hook_names_its_runtime():
    hook = hook_of(ROOT / "examples/torch_backend/mlpbench_torch/__init__.py", "TorchTrainer")
    got = shares("torch.txt", hook)
    assert got["framework runtime"] == pytest.approx(3 / 8)  # dispatcher, autograd, bindings
    assert got["GEMM kernels"] == got["element-wise math"] == pytest.approx(1 / 8)
    without = shares("torch.txt", {})
    assert "framework runtime" not in without and without["other"] == pytest.approx(3 / 8)


def test_a_gpu_runs_host_side_waits_for_the_device():
    got = shares("gpu-host.txt", {})
    assert got["waiting for a device"] == pytest.approx(4 / 5)
    assert got["Python interpreter"] == pytest.approx(1 / 5)


def test_the_rules_on_single_frames():
    c = Categories(TF)
    assert c.of(Frame("[unknown]", "/tmp/perf-123.map")) == "compiled code without symbols"
    assert c.of(Frame("copy_user_generic", "[kernel.kallsyms]")) == "OS kernel"
    assert c.of(Frame("__memmove_avx_unaligned_erms", "/lib/libc.so.6")) == "data movement"
    assert c.of(Frame("Eigen::internal::gebp_kernel", "libtensorflow_cc.so.2")) == "GEMM kernels"
    assert c.of(Frame("tensorflow::ExecutorState::Process", "libtensorflow_framework.so.2")) == (
        "framework runtime"
    )
    assert c.of(Frame("_PyEval_EvalFrameDefault", "/usr/lib/libpython3.11.so")) == (
        "Python interpreter"
    )
    assert c.of(None) == "other"
    with pytest.raises(ValueError, match="not one of"):
        Categories({"libx": "my own category"})


def test_folded_stacks_read_back_and_are_bounded():
    samples = list(parse_perf_script((PERF / "numpy.txt").read_text()))
    text = folded(samples)
    again = list(parse_folded(text))
    assert len(again) == len(samples)
    assert Categories().count(again) == Categories().count(samples)
    assert len(folded(samples, limit=500)) <= 500


def test_the_record_is_checked_on_arrival():
    good = Profile(tool="perf 6.1", hz=499, window_s=2.0, steps=100, cpu_s=3.0,
                   samples={"GEMM kernels": 998, "Python interpreter": 499})  # fmt: skip
    again = Profile.from_json(good.to_json())
    assert again == good
    assert again.per_step("GEMM kernels") == pytest.approx(0.02)  # 2 CPU-s over 100 steps
    assert again.coverage == pytest.approx(1.0) and again.cores_busy == pytest.approx(1.5)
    for bad in ({**good.to_json(), "samples": {"my category": 3}},
                {**good.to_json(), "samples": {"GEMM kernels": -1}},
                {**good.to_json(), "hz": "fast"}, "not an object"):  # fmt: skip
        with pytest.raises(RecordError):
            Profile.from_json(bad)


def fake_tools(folder: Path, perf: bool, spy: bool) -> str:
    """A PATH with only the fake tools asked for (and python)."""
    folder.mkdir()
    if perf:  # a perf that cannot run (Debian's wrapper without a perf for this kernel)
        tool = folder / "perf"
        tool.write_text("#!/bin/sh\necho 'WARNING: perf not found for kernel 9.9' >&2\nexit 2\n")
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    if spy:  # writes its raw (folded) output when interrupted, as py-spy does
        tool = folder / "py-spy"
        tool.write_text(
            "#!/usr/bin/env python3\nimport signal, sys, time\n"
            "if '--version' in sys.argv:\n    print('py-spy 0.0.0-fake'); sys.exit(0)\n"
            "out = sys.argv[sys.argv.index('-o') + 1]\n"
            "def stop(*_):\n"
            "    open(out, 'w').write('main (x.py);sgemm_kernel (libopenblas.so) 30\\n'\n"
            "                         'main (x.py);run (x.py) 10\\n'); sys.exit(0)\n"
            "signal.signal(signal.SIGINT, stop)\n"
            "while True:\n    time.sleep(0.05)\n"
        )
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return f"{folder}{os.pathsep}{Path(os.__file__).parent.parent.parent / 'bin'}"


def profiled(monkeypatch, path: str) -> Profile:
    import time

    monkeypatch.setenv("PATH", path)
    p = Profiler("auto")
    p.steps_per_epoch = 10
    p.start()
    p.fit_started()
    for epoch in range(3):
        time.sleep(0.05)
        p.epoch_ended(epoch, 3)
    return p.finish()


def test_without_perf_it_falls_back_to_py_spy_and_says_what_that_misses(tmp_path, monkeypatch):
    got = profiled(monkeypatch, fake_tools(tmp_path / "bin", perf=True, spy=True))
    assert not got.skipped and got.tool == "py-spy 0.0.0-fake"
    assert got.samples == {"GEMM kernels": 30, "other": 10} and got.steps == 20
    assert "only the Python threads" in got.sees


def test_without_any_profiler_it_skips_with_one_line_that_says_how(tmp_path, monkeypatch):
    got = profiled(monkeypatch, fake_tools(tmp_path / "bin", perf=True, spy=False))
    assert got.skipped and got.samples == {}
    assert "perf does not run" in got.skipped and "pip install py-spy" in got.skipped
    none = profiled(monkeypatch, fake_tools(tmp_path / "none", perf=False, spy=False))
    assert "apt install linux-perf" in none.skipped and "\n" not in none.skipped


def test_a_sweep_profiles_the_points_it_names_with_perf(tmp_path):
    """A real profile: the sweep's extra run of a tiny numpy-plain point, sampled by perf."""
    if perf_problem() and os.environ.get("CI") != "true":
        pytest.skip(f"perf cannot sample here: {perf_problem()}")
    from mlpbench.analysis.tables import Analysis
    from mlpbench.config.sweepfile import parse_config, parse_toml
    from mlpbench.render import markdown
    from mlpbench.results.folder import ResultsFolder
    from mlpbench.sweep.loop import run_sweep
    from tests.conftest import sweep_text

    grid = 'backend = ["numpy-plain"]\nbatch_size = [50, 100]\nthreads = [1]\n'
    doc = sweep_text("prof", grid, samples=2000, epochs=3, layers="[20, 64, 4]",
                     top='profile = ["batch_size=100"]\n')  # fmt: skip
    out = run_sweep(parse_config(parse_toml(doc), "prof.toml", doc), root=tmp_path, quiet=True)
    runs = ResultsFolder(out).profiles()
    assert [r.key.batch_size for r in runs] == [100]  # only the point it names
    p = runs[0].profile
    assert not p.skipped, p.skipped
    assert p.tool.startswith("perf") and set(p.samples) <= set(CATEGORIES)
    assert p.steps == 2 * math.ceil(2000 / 100)  # epochs 2 and 3
    assert p.coverage > 0.5 and p.window_s > 0
    assert (out / "profiles" / f"{runs[0].run_id}.folded").read_text().strip()
    assert len(Analysis.of(out).results.runs) == 2 * 1  # never a timed run
    page = markdown.page(Analysis.of(out))
    assert "Where a step's CPU time goes" in page and "numpy-plain" in page
    # explain: a point of the finished set profiled after the fact, added beside the first
    from mlpbench.cli.app import main

    assert main(["explain", str(out), "--point", "batch_size=50"]) == 0
    assert [r.key.batch_size for r in ResultsFolder(out).profiles()] == [100, 50]
    assert main(["explain", str(out), "--point", "batch_size=7"]) == 2  # no such point


def test_a_bad_profile_key_is_one_line_naming_it():
    from mlpbench.config.sweepfile import ConfigError, parse_config, parse_toml
    from tests.conftest import sweep_text

    grid = 'backend = ["numpy-plain"]\nbatch_size = [100]\nthreads = [1]\n'
    for value, words in (('["batch=5"]', "axis=value pairs"), ("3", "true, false or a list"),
                         ('["batch_size=many"]', "integer")):  # fmt: skip
        with pytest.raises(ConfigError) as e:
            parse_config(parse_toml(sweep_text("p", grid, top=f"profile = {value}\n")))
        assert "profile" in str(e.value) and words in str(e.value) and "\n" not in str(e.value)
    cfg = parse_config(parse_toml(sweep_text("p", grid, top='profile = ["batch_size=100"]\n')))
    assert cfg.profile == ({"batch_size": 100},)


def test_compare_names_the_category_that_moved_where_both_sides_profiled(tmp_path):
    from mlpbench.analysis.compare import compare
    from mlpbench.analysis.tables import ResultSet
    from mlpbench.render.text import compare_lines
    from mlpbench.results.folder import ResultsFolder
    from mlpbench.results.point import PointResult
    from tests.fixture_results import make_results

    a, b = make_results(tmp_path / "a", repeats=5), make_results(tmp_path / "b", repeats=5)
    key = ResultSet.load(a).runs.pipe(lambda r: r[r["backend"] == "keras"]).iloc[0]
    from mlpbench.config.points import PointKey

    point = PointKey.from_row(key.to_dict())
    base = {"tool": "perf", "hz": 100, "window_s": 1.0, "steps": 10, "cpu_s": 1.0}
    for folder, runtime in ((a, 20), (b, 60)):
        profile = Profile(**base, samples={"GEMM kernels": 50, "framework runtime": runtime})
        ResultsFolder(folder).add_profile(point, PointResult("ok", profile=profile))
    rows = compare(a, b)
    moved = [r for r in rows if r.key == point][0].moved
    assert moved.startswith("framework runtime +40.00 ms a step (20.00 -> 60.00"), moved
    assert all(not r.moved for r in rows if r.key != point)  # one side only: nothing said
    assert any("profiled: framework runtime" in line for line in compare_lines(rows, "A", "B"))


def test_with_three_batch_sizes_each_category_splits_into_fixed_and_per_sample(tmp_path):
    """The cost model's terms, split by category: a category whose time per step is
    0.2 ms + 1 us a sample at batches 100, 500 and 2000 reads back as those terms."""
    from mlpbench.analysis.profiles import category_costs
    from mlpbench.analysis.tables import Analysis
    from mlpbench.config.points import PointKey
    from mlpbench.render import markdown
    from mlpbench.results.folder import ResultsFolder
    from mlpbench.results.point import PointResult
    from tests.fixture_results import make_results

    out = make_results(tmp_path / "r", repeats=2)
    row = Analysis.of(out).results.runs.iloc[0].to_dict()
    for batch in (100, 500, 2000):
        key = PointKey.from_row({**row, "batch_size": batch})
        ms = 0.2 + 1e-3 * batch  # the GEMM category's CPU ms per step
        samples = {"GEMM kernels": round(ms * 10), "Python interpreter": 5}  # hz 1000, 10 steps
        profile = Profile(tool="perf", hz=1000, window_s=1.0, steps=10, cpu_s=1.0, samples=samples)
        ResultsFolder(out).add_profile(key, PointResult("ok", profile=profile))
    split = category_costs(Analysis.of(out)).set_index("category")
    assert split.loc["GEMM kernels", "fixed_ms"] == pytest.approx(0.2, abs=0.02)
    assert split.loc["GEMM kernels", "per_sample_us"] == pytest.approx(1.0, abs=0.02)
    assert split.loc["Python interpreter", "per_sample_us"] == pytest.approx(0.0, abs=1e-9)
    assert "| GEMM kernels | 0.2" in markdown.page(Analysis.of(out))


def test_perf_scripts_own_demangling_and_ours_give_the_same_text(tmp_path, monkeypatch):
    """Issue 51 (make bench's budget): perf demangled every symbol of every library a sample
    touched, 10 s of a keras profile; ``perf_script`` has perf skip it and demangles the
    distinct names once with ``c++filt -p``. The text the categories read is the same."""
    import shutil
    import subprocess
    import sys

    from mlpbench.worker.profiler import perf_script

    if (perf_problem() or not shutil.which("c++filt")) and os.environ.get("CI") != "true":
        pytest.skip(f"perf or c++filt cannot run here: {perf_problem() or 'no c++filt'}")
    data = tmp_path / "perf.data"
    work = "import numpy as np; a = np.random.random(3_000_000); [np.sort(a) for _ in range(6)]"
    subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-o", str(data),
         sys.executable, "-c", work],
        check=True, capture_output=True,
    )  # fmt: skip
    theirs = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "comm,tid,time,ip,sym,dso"],
        check=True, capture_output=True, text=True, errors="replace",
    ).stdout  # fmt: skip
    ours, failed = perf_script(data)
    assert not failed
    assert "::" in theirs  # NumPy's C++ sorts were sampled, demangled
    assert ours == theirs
    # a c++filt that fails leaves the demangling to perf: the same text, not mangled names
    from mlpbench.worker import profiler

    which = shutil.which
    monkeypatch.setattr(
        profiler.shutil, "which", lambda name: which("false") if name == "c++filt" else which(name)
    )
    assert perf_script(data) == (theirs, "")
