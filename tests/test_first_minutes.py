"""The first ten minutes (issue 41): nothing a newcomer meets on the way contradicts itself.
Each defect the walk-through found is a test here."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from mlpbench.cli.app import main
from mlpbench.machine import describe
from mlpbench.render import format as fmt
from tests.fixture_results import make_results

ROOT = Path(__file__).resolve().parent.parent


def headings(path: Path) -> set[str]:
    return {
        line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")
    }


def test_every_pointer_a_command_prints_is_a_real_heading():
    """`summary`, `sweep` and `doctor` said `see README, 'When a number cannot be trusted'`:
    the README had no such section any more."""
    assert fmt.POINTERS
    for doc, heading in fmt.POINTERS:
        assert (ROOT / doc).exists(), doc
        assert heading in headings(ROOT / doc), (doc, heading)
    sources = "\n".join(p.read_text() for p in (ROOT / "mlpbench").rglob("*.py"))
    assert not re.search(r"see README, '", sources)  # every pointer goes through fmt.pointer


def test_summary_points_to_the_trust_page(tmp_path, capsys):
    res = make_results(tmp_path / "r", repeats=3)
    env = json.loads((res / "environment.json").read_text())
    env["recalibrations"] = [{"after_runs": 1, "peaks": [
        dict(p, gflops=p["gflops"] * 0.5) for p in env["peaks"]]}]  # fmt: skip
    (res / "environment.json").write_text(json.dumps(env))
    assert main(["summary", str(res)]) == 0
    out = capsys.readouterr().out
    assert "see docs/trust.md, 'When a number cannot be trusted'" in out


def test_compare_help_gives_the_exit_codes(capsys):
    try:
        main(["compare", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "exit status:" in out and re.search(r"^\s+0 ", out, re.M)
    assert re.search(r"^\s+1 ", out, re.M) and re.search(r"^\s+2 ", out, re.M)


def test_compare_closing_line_names_the_slowdowns_it_cannot_decide(tmp_path, capsys):
    """`compare A B` ended `ok: no point slower by more than 10%` while its rows showed B/A up
    to 1.79x, "slower (untested: 1 vs 1 repeats)"."""
    point = ("keras", 500, "float32", "cpu", 2, "baseline")
    a = make_results(tmp_path / "a", repeats=1)
    b = make_results(tmp_path / "b", repeats=1, slow={point: 1.8}, seed=1)
    assert main(["compare", str(a), str(b)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("ok (exit 0)") and "look slower" in last and "cannot decide" in last
    assert "1.8" in last


def test_a_finished_sweep_leaves_no_lock(tmp_path):
    from mlpbench.config.sweepfile import parse_config
    from mlpbench.sweep.loop import run_sweep
    from tests.test_sweep import config

    out = run_sweep(parse_config(config()), root=tmp_path, quiet=True)
    assert (out / "runs.csv").exists() and not (out / ".lock").exists()


def test_the_commit_comes_from_the_install_record_without_a_checkout(tmp_path, monkeypatch):
    """`git commit` was empty for a clone installed with `pip install .`."""
    repo = tmp_path / "clone"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "pyproject.toml"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip

    class Installed:
        def __init__(self, record: dict) -> None:
            self.record = record

        def read_text(self, name: str) -> str:
            return json.dumps(self.record)

    monkeypatch.setattr(describe, "SOURCE_ROOT", tmp_path / "site-packages")  # no checkout
    monkeypatch.setattr(describe, "distribution", lambda _: Installed(
        {"url": f"file://{repo}", "dir_info": {}}))  # fmt: skip
    assert describe.git_commit() == head
    monkeypatch.setattr(describe, "distribution", lambda _: Installed(
        {"url": "https://x/y.git", "vcs_info": {"vcs": "git", "commit_id": "abcdef0123"}}))
    assert describe.git_commit() == "abcdef0"
