"""Library versions as a sweep axis (issue 28): [environments], the env axis, stacks built
with uv into the cache and verified, a stack that cannot be built costs only its points.

CI builds one extra small stack here (NumPy 1.26 and the worker's packages, from the package
index); everything else is NumPy-only too.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from mlpbench.analysis.tables import Analysis
from mlpbench.cli.app import main
from mlpbench.config import expand
from mlpbench.config.sweepfile import ConfigError, parse_config
from mlpbench.results.store import read_runs
from mlpbench.stacks import build as stacks
from tests.conftest import sweep_text

HERE = Path(__file__).resolve().parent
V4 = HERE / "data" / "results-v4"  # written by main at c79be96 (schema v4), a tiny sweep
OLD_NUMPY = "numpy==1.26.4"

SWEEP = sweep_text(
    "stacks",
    'backend = ["numpy", "numpy-plain"]\nbatch_size = [100]\nthreads = [1]\nenv = {envs}\n',
    tables='[environments.np126]\nrequirements = ["{old}"]\n[environments.nosuch]\n'
    'requirements = ["mlpbench-no-such-package-anywhere==1.0"]\n',
)  # fmt: skip


def doc(envs: str = '["current", "np126"]', **top) -> dict:
    import tomllib

    return {**tomllib.loads(SWEEP.format(old=OLD_NUMPY, envs=envs)), **top}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_sweep_across_stacks_runs_each_in_its_own_numpy(tmp_path, capsys):
    path = tmp_path / "stacks.toml"
    path.write_text(SWEEP.format(old=OLD_NUMPY, envs='["current", "np126", "nosuch"]'))
    assert main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert err.count("stack 'nosuch'") == 1 and "its points are skipped" in err
    (out,) = (tmp_path / "r").glob("*-stacks")
    by = {(r["backend"], r["env"]): r for r in rows(out / "runs.csv")}
    assert {k: r["status"] for k, r in by.items()} == {
        ("numpy", "current"): "ok",
        ("numpy-plain", "current"): "ok",
        ("numpy", "np126"): "ok",
        ("numpy-plain", "np126"): "ok",
        ("numpy", "nosuch"): "skipped",
        ("numpy-plain", "nosuch"): "skipped",
    }
    assert "mlpbench-no-such-package-anywhere" in by[("numpy", "nosuch")]["reason"]
    env = json.loads((out / "environment.json").read_text())
    assert env["stacks"]["np126"]["versions"]["numpy"] == "1.26.4"
    assert "error" in env["stacks"]["nosuch"]
    assert {p.get("env", "current") for p in env["peaks"]} == {"current", "np126"}
    # The worker really ran inside the stack: its run names NumPy 1.26's BLAS build.
    assert by[("numpy", "np126")]["blas"] and float(by[("numpy", "np126")]["efficiency"]) > 0
    a = Analysis.of(out)
    assert "numpy@np126" in "\n".join(main_lines(a))
    # The version axis: a table, a finding per backend and stack, a plot.
    from mlpbench.analysis.findings import findings
    from mlpbench.render.plots import plot_all

    v = a.versions
    assert set(v["env"]) == {"current", "np126"} and set(v["backend"]) == {"numpy", "numpy-plain"}
    assert (v[v["env"] == "current"]["ratio"] == 1.0).all()
    said = [f for f in findings(a) if " in np126 (numpy 1.26.4) takes " in f]
    assert len(said) == 2 and all("x the time of current" in f for f in said), said
    assert "versions" in {p.stem for p in plot_all(a)}
    # The stack is cached: a second sweep builds nothing.
    assert main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r2")]) == 0
    assert "building stack 'np126'" not in capsys.readouterr().err
    assert main(["envs"]) == 0
    listing = capsys.readouterr().out
    assert "np126 (" in listing and "ready" in listing and "numpy 1.26.4" in listing
    assert "nosuch" not in listing  # a failed build leaves nothing behind


def main_lines(a: Analysis) -> list[str]:
    from mlpbench.render.text import summary_lines

    return summary_lines(a)


def test_the_env_axis_names_stacks_of_the_file():
    cfg = parse_config(doc())
    keys = expand.keys(cfg)
    assert [k.env for k in keys] == ["current", "np126", "current", "np126"]  # interleaved
    point = expand.point(cfg, keys[1], 0)
    assert point.stack == stacks.StackSpec("np126", (OLD_NUMPY,))
    assert expand.point(cfg, keys[0], 0).stack is None
    assert parse_config(doc(envs='"current"')).grid["env"] == ("current",)
    assert "np126" not in {k.env for k in expand.keys(parse_config({**doc(), "grid": {
        "backend": ["numpy"]}}))}  # fmt: skip


@pytest.mark.parametrize(
    "change, needles",
    [
        ({"envs": '["current", "np2"]'}, ["[grid] env", "'np2'", "current, np126, nosuch"]),
        ({"environments": {"current": {"requirements": []}}}, ["[environments.current]"]),
        ({"environments": {"x": {"requirements": "numpy"}}}, ["requirements", "'numpy==1.26.*'"]),
        ({"environments": {"x": {"requirements": [], "pip": 1}}}, ["[environments.x]", "pip"]),
        ({"environments": {"x": {"python": 3.11}}}, ["python", "'3.11'"]),
    ],
)
def test_bad_environments_are_one_line_naming_the_key(change, needles):
    envs = change.pop("envs", '["current"]')
    with pytest.raises(ConfigError) as caught:
        parse_config({**doc(envs), **change})
    message = str(caught.value)
    assert all(n in message for n in needles), message
    assert "\n" not in message


def test_a_stack_key_depends_on_python_and_requirements_only():
    a = stacks.StackSpec("a", ("numpy==1.26.4",))
    assert a.key() == stacks.StackSpec("a", ("numpy==1.26.4",)).key()
    assert a.key() != stacks.StackSpec("a", ("numpy==1.26.3",)).key()
    assert a.key() != stacks.StackSpec("a", ("numpy==1.26.4",), "3.12").key()
    assert a.folder.name == a.key()  # two names for one software share a build


def test_a_python_that_is_not_there_is_one_line():
    with pytest.raises(stacks.StackError, match="no Python 3.99 found"):
        stacks.find_python("3.99")
    with pytest.raises(stacks.StackError, match="a version such as"):
        stacks.find_python("latest")


def test_a_folder_of_schema_v4_reads_as_the_running_stack(tmp_path, capsys):
    folder = tmp_path / "v4"
    shutil.copytree(V4, folder)
    assert json.loads((folder / "environment.json").read_text())["schema_version"] == 4
    runs = read_runs(folder)
    assert len(runs) == 4 and {r["env"] for r in runs} == {"current"}
    for command in (["summary"], ["report"], ["compare", str(folder)]):
        assert main([*command[:1], str(folder), *command[1:]]) == 0, capsys.readouterr().err
    assert "@" not in capsys.readouterr().out.split("steady-state")[1].split("\n\n")[0]


@pytest.mark.slow
def test_the_conformance_kit_and_parity_hold_on_an_older_numpy():
    """The NumPy backends on NumPy 1.26, inside its stack: every kit check, parity with the
    built-in NumPy backend included."""
    import subprocess

    stack = stacks.ensure(stacks.StackSpec("np126", (OLD_NUMPY,)))
    code = (
        "import json, numpy\n"
        "from mlpbench.api.conformance import run_all\n"
        "print(json.dumps({'numpy': numpy.__version__, 'plain': run_all('numpy-plain'),"
        " 'numpy_kit': run_all('numpy')}))\n"
    )
    out = subprocess.run(
        [stack.python, "-c", code], capture_output=True, text=True, timeout=600, cwd="/"
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["numpy"] == "1.26.4"
    for kit in ("plain", "numpy_kit"):
        assert set(answer[kit].values()) == {"ok"}, answer[kit]


@pytest.mark.slow
def test_a_stack_mlpbench_cannot_run_in_runs_its_points_as_standalone_scripts(
    tmp_path, monkeypatch, capsys
):
    """A stack whose Python is older than mlpbench needs gets no mlpbench; its numpy-plain
    points run as the standalone script and train the same numbers as the backend does in the
    sweep's own environment; a backend with no script is skipped with the reason. The stack
    here is this interpreter posing as one mlpbench cannot run in (so CI needs no old Python
    and builds nothing more), and the build's choice of runner is checked on its own."""
    import sys

    old = stacks.StackSpec("old", (OLD_NUMPY,))
    import numpy

    posing = stacks.Stack(
        old, sys.executable, versions={"numpy": numpy.__version__}, python_version=sys.version,
        runner="script", names=["old"],
    )  # fmt: skip
    monkeypatch.setattr(stacks, "ensure", lambda spec, say=None: posing)
    path = tmp_path / "old.toml"
    text = SWEEP.format(old=OLD_NUMPY, envs='["current", "old"]')
    path.write_text(text.replace("[environments.np126]", "[environments.old]"))
    assert main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r")]) == 0
    (out,) = (tmp_path / "r").glob("*-stacks")
    by = {(r["backend"], r["env"]): r for r in rows(out / "runs.csv")}
    script = by[("numpy-plain", "old")]
    assert script["status"] == "ok" and "runner=standalone script" in script["backend_info"]
    assert f"numpy={numpy.__version__}" in script["backend_info"]
    assert float(script["final_loss"]) == pytest.approx(
        float(by[("numpy-plain", "current")]["final_loss"]), rel=1e-4
    )  # the same maths
    assert float(script["steady_epoch_s"]) > 0 and int(script["epochs"]) == 3
    assert by[("numpy", "old")]["status"] == "skipped"
    assert "standalone scripts" in by[("numpy", "old")]["reason"]
    env = json.loads((out / "environment.json").read_text())
    assert env["stacks"]["old"]["runner"] == "script"


def test_a_python_older_than_mlpbench_needs_makes_a_script_stack(tmp_path, monkeypatch):
    """The build picks the runner from the interpreter's version: below 3.10 no mlpbench
    and no worker packages are installed."""
    installed: list[list[str]] = []
    monkeypatch.setattr(stacks, "find_python", lambda wanted: "/usr/bin/python-old")
    monkeypatch.setattr(stacks, "uv_binary", lambda: "uv")
    monkeypatch.setattr(
        stacks, "_run", lambda cmd, what, env=None: "3 8" if cmd[1:2] == ["-c"] else ""
    )
    monkeypatch.setattr(
        stacks, "_install", lambda python, packages, what, no_deps=False: installed.append(
            list(packages)
        )
    )  # fmt: skip
    spec = stacks.StackSpec("py38", ("numpy==1.18.*",), "3.8")
    assert stacks._create(spec) == "script"
    assert installed == [["numpy==1.18.*", "numpy"]]
    monkeypatch.setattr(stacks, "_run", lambda cmd, what, env=None: "3 11" if "-c" in cmd else "")
    installed.clear()
    assert stacks._create(stacks.StackSpec("py311", ("numpy==2.4.*",), "3.11")) == "worker"
    assert installed == [["numpy==2.4.*", *stacks.WORKER_NEEDS]]
