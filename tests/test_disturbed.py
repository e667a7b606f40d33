"""Issue 47: a number measured on a disturbed machine is never trusted silently. Each test is
a case the issue found on a75d8a3 (a 3-repeat verdict decided whatever its spread, an
efficiency of 144%, warnings missing from the Markdown page); each failed there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlpbench.analysis.findings import decide, findings, pairs_needed, verdict_rows
from mlpbench.analysis.tables import Analysis, warnings
from mlpbench.render import markdown
from mlpbench.render.report import write_report
from mlpbench.render.text import summary_lines
from mlpbench.results.environment import PlanEntry
from mlpbench.results.schema import RUN_COLUMNS
from mlpbench.results.store import append_rows, read_runs
from tests.fixture_results import make_results


def with_ratios(folder: Path, batch: int, ratios: list[float]) -> Path:
    """keras at ``batch`` (float32, 2 threads) set to numpy's time times ``ratios[repeat]``."""
    runs = read_runs(folder)
    numpy = {
        r["repeat"]: r["steady_epoch_s"]
        for r in runs
        if r["backend"] == "numpy" and r["batch_size"] == batch and r["dtype"] == "float32"
        and r["threads"] == 2 and r["status"] == "ok"
    }  # fmt: skip
    for r in runs:
        if (r["backend"], r["batch_size"], r["dtype"], r["threads"]) == (
            "keras", batch, "float32", 2
        ):  # fmt: skip
            r["steady_epoch_s"] = numpy[r["repeat"]] * ratios[r["repeat"]]
    (folder / "runs.csv").unlink()
    append_rows(folder / "runs.csv", RUN_COLUMNS, runs)
    return folder


def verdict_at(a: Analysis, batch: int):
    (v,) = [v for v in verdict_rows(a) if v.batch == batch and v.other == "keras"]
    return v


def test_three_wild_pairs_are_not_decided_and_get_no_bare_magnitude(tmp_path):
    """The default sweep's "7.64x (1.04-13.90)" with a 112% spread was called decided."""
    folder = with_ratios(make_results(tmp_path / "r", repeats=3), 500, [1.04, 7.6, 13.9])
    a = Analysis.of(folder)
    v = verdict_at(a, 500)
    assert not v.decision.decided and "not decided" in v.words
    assert "undecided" in v.magnitude
    assert v.decision.needed is not None and v.decision.needed >= 6
    said = " ".join(findings(a))
    assert "7.6" not in said or "not decided" in said
    assert not re.search(r"numpy is [\d.]+x faster than keras per epoch[^.]*\(batch 500", said)
    page = markdown.page(a)
    row = next(line for line in page.splitlines() if line.startswith("| 500 | keras"))
    assert "not decided" in row and "faster" not in row
    assert "unstable" in row  # the row says what qualifies it


def test_ten_tight_pairs_are_decided_with_their_interval(tmp_path):
    ratios = [1.20, 1.21, 1.19, 1.22, 1.20, 1.21, 1.20, 1.19, 1.22, 1.21]
    folder = with_ratios(make_results(tmp_path / "r", repeats=10), 500, ratios)
    v = verdict_at(Analysis.of(folder), 500)
    assert v.decision.decided and v.words == "numpy faster"
    assert 1.19 <= v.decision.low <= v.decision.ratio <= v.decision.high <= 1.22


def test_the_decision_rule_on_its_own():
    assert not decide([1.04, 7.6, 13.9]).decided
    assert decide([1.1] * 6).decided
    assert not decide([0.9, 1.1] * 10).decided
    assert pairs_needed([0.9, 1.1] * 10) is None  # a tie: no number of repeats decides it
    assert pairs_needed([1.2, 1.3, 1.25]) == 6
    assert pairs_needed([1.2, 1.3, 1.25, 0.95, 1.2, 1.1]) > 6


def recalibrated(folder: Path, factor: float) -> Path:
    """The first calibration measured low: a recalibration later found ``factor`` times it,
    and the runs' efficiency was written against the low one."""
    env_path = folder / "environment.json"
    env = json.loads(env_path.read_text())
    low = [dict(p, gflops=p["gflops"] / factor) for p in env["peaks"]]
    env["recalibrations"] = [{"after_runs": 10, "peaks": env["peaks"]}]
    env["peaks"] = low
    env_path.write_text(json.dumps(env))
    runs = read_runs(folder)
    for r in runs:
        if r["status"] == "ok":
            r["peak_gflops"] = r["peak_gflops"] / factor
            r["efficiency"] = r["gflops"] / r["peak_gflops"]
    (folder / "runs.csv").unlink()
    append_rows(folder / "runs.csv", RUN_COLUMNS, runs)
    return folder


def test_a_peak_measured_low_never_gives_an_efficiency_above_100_percent(tmp_path):
    """The default sweep's findings said "numpy reaches at best 144% of the calibrated GEMM
    peak" after its peak moved from 93.4 to 137.8 GFLOP/s (+48%)."""
    folder = make_results(tmp_path / "r", repeats=3)
    runs = read_runs(folder)  # make the fastest run beat the low peak, not the best one
    fastest = max(x["gflops"] for x in runs if x["status"] == "ok")
    for r in runs:
        if r["status"] == "ok":
            r["gflops"] = r["gflops"] * 80 / fastest
    (folder / "runs.csv").unlink()
    append_rows(folder / "runs.csv", RUN_COLUMNS, runs)
    a = Analysis.of(recalibrated(folder, 1.48))
    assert (a.results.ok["efficiency"].dropna() <= 1.0).all()
    assert a.results.ok["efficiency"].max() == pytest.approx(0.8, rel=1e-6)
    shown = [*summary_lines(a), *findings(a), markdown.page(a), write_report(a, []).read_text()]
    for text in shown:
        for pct in re.findall(
            r"(\d+(?:\.\d+)?)% of (?:the|its) (?:calibrated )?(?:GEMM )?peak", text
        ):
            assert float(pct) <= 100, text
    assert any("drift" in w for w in warnings(a))


def test_a_run_above_every_peak_is_flagged_not_shown(tmp_path):
    folder = make_results(tmp_path / "r", repeats=3)
    runs = read_runs(folder)
    runs[0]["gflops"] = 1000.0  # ten times every peak
    (folder / "runs.csv").unlink()
    append_rows(folder / "runs.csv", RUN_COLUMNS, runs)
    a = Analysis.of(folder)
    assert (a.results.ok["efficiency"].dropna() <= 1.0).all()
    assert any(w.startswith("peak measured low") for w in warnings(a))


def test_every_page_shows_the_same_warnings(tmp_path):
    """`report --markdown` wrote no warning at all where report.html had 5."""
    folder = with_ratios(make_results(tmp_path / "r", repeats=3), 500, [1.04, 7.6, 13.9])
    folder = recalibrated(folder, 1.48)
    a = Analysis.of(folder)
    cautions = warnings(a)
    assert any(w.startswith("drift") for w in cautions)
    assert any(w.startswith("unstable") for w in cautions)
    page = markdown.page(a)
    html = write_report(a, []).read_text()
    terminal = "\n".join(summary_lines(a))
    from markupsafe import escape  # the template's escaping

    for w in cautions:
        assert f"- {w}" in page
        assert str(escape(w)) in html
        assert f"! {w}" in terminal
    # first: before the verdict they qualify (in the report a line on the first screen)
    assert page.index("Warnings (") < page.index("Measured:")
    assert html.index("Warnings: numbers that may not be trusted") < html.index("Measured:")
    assert terminal.index("warnings:") < terminal.index("Measured:")


# Tuning knows its conditions (issue 47, build 1).


class Trial:
    """What PointRunner.run returns to tuning: the seconds, and the run's probe."""

    def __init__(self, seconds: float, load_pct: float) -> None:
        from types import SimpleNamespace

        self.seconds = seconds
        self.summary = SimpleNamespace(other_load_pct=load_pct, steal_pct=0.0)


def grid(batches=(100,)):
    from mlpbench.config import expand
    from mlpbench.config.sweepfile import parse_config

    cfg = parse_config(
        {"grid": {"backend": ["numpy"], "batch_size": list(batches), "threads": [2]}}
    )
    return expand.points(cfg)


def test_plans_tuned_under_load_are_not_cached_and_quiet_ones_are(tmp_path, monkeypatch, capsys):
    """A table tuned under load (load average 2.5-7) was cached and reused on a quiet
    machine, where its plan took 2.19-2.81x the plain script's epoch."""
    from mlpbench.backends.numpy.trainer import THREAD_PLANS
    from mlpbench.sweep import tuning

    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    env = {"cpu_model": "Fixture", "cores_usable": 2}
    loaded, quiet = grid((100, 500))
    speeds = {name: 0.1 + 0.01 * i for i, name in enumerate(sorted(THREAD_PLANS))}

    def run(point, plan_env):
        busy = 60.0 if point.key.batch_size == 100 else 1.0
        return Trial(speeds[point.run.options["plan"]], busy)

    chosen = tuning.choose(
        [loaded, quiet], {"numpy": THREAD_PLANS}, env, run=run, mode="lines"
    )  # fmt: skip
    assert chosen[tuning.slot(loaded.key)].provisional is True  # this run uses it
    cache = tuning.read_cache(env)
    assert tuning.slot(loaded.key) not in cache  # ... and the cache never keeps it
    assert tuning.slot(quiet.key) in cache and cache[tuning.slot(quiet.key)].load_pct == 1.0
    assert "tuned under load" in capsys.readouterr().err


def test_a_cached_plan_measured_at_twice_its_prediction_is_tuned_again(tmp_path, monkeypatch):
    from mlpbench.backends.numpy.trainer import THREAD_PLANS
    from mlpbench.sweep import tuning

    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    env = {"cpu_model": "Fixture", "cores_usable": 2}
    (point,) = grid()
    key = tuning.slot(point.key)
    tuning.write_cache(env, {key: PlanEntry(
        "spin", {"spin": 0.10, "sleep": 0.12}, tuple(sorted(THREAD_PLANS)), trial_samples=10_000,
        load_pct=0.5,
    )})  # fmt: skip
    predicted = 0.10 * 60_000 / 10_000
    assert tuning.check_against_run(env, point.key, "spin", 1.1 * predicted, 60_000) == ""
    line = tuning.check_against_run(env, point.key, "spin", 2.0 * predicted, 60_000)
    assert "2.00x what its tuning predicted" in line and "tuned again" in line
    assert tuning.read_cache(env)[key].stale
    tuned = []

    def run(p, plan_env):
        tuned.append(p.run.options["plan"])
        return Trial(0.1, 0.0)

    tuning.choose([point], {"numpy": THREAD_PLANS}, env, run=run, mode="none")
    assert tuned, "the stale entry was not tuned again"
    assert not tuning.read_cache(env)[key].stale


@pytest.mark.slow
def test_tuning_beside_a_busy_process_caches_nothing(tmp_path, monkeypatch, capsys):
    """The real thing: trials in fresh processes while two busy loops hold both cores."""
    import subprocess
    import sys

    from mlpbench.config import expand
    from mlpbench.config.sweepfile import parse_config
    from mlpbench.sweep import tuning
    from mlpbench.sweep.preflight import preflight
    from mlpbench.sweep.runner import PointRunner

    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    cfg = parse_config({
        "data": {"dataset": "synthetic", "synthetic_samples": 4000, "synthetic_features": 64,
                 "synthetic_classes": 4},
        "model": {"layers": [64, 32, 4]},
        "grid": {"backend": ["numpy"], "batch_size": [50], "threads": [2]},
    })  # fmt: skip
    points = expand.points(cfg)
    checked = preflight(cfg)
    from mlpbench.machine import describe

    env = describe.describe()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        chosen = tuning.choose(
            points, checked.plans, env, differing=checked.differing,
            run=PointRunner(timeout=120, pin=False).run, mode="lines",
        )  # fmt: skip
    finally:
        for b in busy:
            b.kill()
            b.wait()
    key = tuning.slot(points[0].key)
    assert chosen[key].provisional, chosen[key]
    assert chosen[key].load_pct > tuning.LOADED_PCT
    assert key not in tuning.read_cache(env)
    assert "tuned under load" in capsys.readouterr().err


def test_compare_names_the_points_one_side_lacks_and_strict_fails_on_them(tmp_path, capsys):
    """Issue 47: compare of two sweeps that share 1 of 6 points compared that one and exited
    0 without naming the others."""
    from mlpbench.cli.app import main

    a = make_results(tmp_path / "a", repeats=3, backends=("numpy", "keras"))
    b = make_results(tmp_path / "b", repeats=3, backends=("numpy",), seed=1)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "not compared: 12 point(s) ran on A only: keras" in out
    assert main(["compare", str(a), str(b), "--strict"]) == 1
    assert main(["compare", str(b), str(b), "--strict"]) == 0  # the one-sided points, alone


def sweep_of(ratios: list[float], max_repeats: int = 12):
    """A stand-in for a finished sweep of numpy against numpy-plain at one point, 6 repeats,
    numpy-plain's time = numpy's x ``ratios[repeat]``."""
    from types import SimpleNamespace

    from mlpbench.config import expand
    from mlpbench.config.points import KEY_COLUMNS
    from mlpbench.config.sweepfile import parse_config

    cfg = parse_config({
        "repeats": 6, "max_repeats": max_repeats, "target_interval": 0.99,
        "grid": {"backend": ["numpy", "numpy-plain"], "batch_size": [100], "threads": [1]},
    })  # fmt: skip
    rows = []
    for key in expand.keys(cfg):
        for repeat, ratio in enumerate(ratios):
            t = 0.5 * (ratio if key.backend == "numpy-plain" else 1.0)
            row = dict(zip(KEY_COLUMNS, (*key.values(), repeat)))
            rows.append({**row, "status": "ok", "steady_epoch_s": t})
    said: list[str] = []
    return SimpleNamespace(
        cfg=cfg, folder=SimpleNamespace(runs=lambda: rows), points=[], used=set(),
        progress=SimpleNamespace(say=said.append), said=said,
    )  # fmt: skip


def test_a_sweep_adds_repeats_where_a_comparison_is_undecided_and_can_be_decided():
    """Issue 47: sweeps extend an undecided comparison with extra repeats up to max_repeats
    (the gate's until-decided policy); a decided one or a tie gets none."""
    from mlpbench.sweep.loop import extra_repeats

    undecided = sweep_of([1.2, 1.3, 1.25, 0.95, 1.2, 1.1])
    added = extra_repeats(undecided)
    assert sorted(p.key.backend for _, p in added) == ["numpy", "numpy-plain"]
    assert {p.repeat for _, p in added} == {6}
    assert "not yet decided at 95%" in undecided.said[0]
    assert extra_repeats(sweep_of([1.2] * 6)) == []  # decided
    assert extra_repeats(sweep_of([0.9, 1.1] * 3)) == []  # a tie: more repeats would not help
    assert extra_repeats(sweep_of([1.2, 1.3, 1.25, 0.95, 1.2, 1.1], max_repeats=8)) == []


def test_tune_refresh_measures_again_every_cached_point_of_the_backend(
    tmp_path, monkeypatch, capsys
):
    """Issue 47: `mlpbench tune --refresh` tunes the cached entries again (those tuned under
    load or found stale included), whatever the other flags name."""
    from mlpbench.cli.app import main
    from mlpbench.machine import describe
    from mlpbench.sweep import tuning

    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    assert main(["tune", "--refresh", "--dataset", "synthetic"]) == 2
    assert "no tuned point of numpy" in capsys.readouterr().err
    env = describe.describe()
    mine = ["numpy|20-8-4|float32|cpu|1|50", "numpy|20-8-4|float32|cpu|1|100"]
    other = "keras|20-8-4|float32|cpu|1|50"
    entry = PlanEntry("spin", candidates=("spin",), stale="slow")
    tuning.write_cache(env, {k: entry for k in [*mine, other]})
    asked: list[str] = []

    def choose(points, plans_of, env, **kw):
        cached = tuning.read_cache(env)
        asked.extend(tuning.slot(p.key) for p in points)
        assert not set(asked) & set(cached)  # dropped before they are measured again
        return {}

    monkeypatch.setattr(tuning, "choose", choose)
    assert main(["tune", "--refresh", "--dataset", "synthetic", "--batch-size", "7"]) == 0
    assert sorted(asked) == sorted(mine)
    assert other in tuning.read_cache(env)  # another backend's entry is left as it is


def test_a_finding_names_a_winner_only_on_a_decided_comparison(tmp_path):
    """Issue 48: a finding said "numpy is 1.03x faster" under a verdict "not settled". A
    finding that names a winner carries its decision, and cannot be built on one that is not
    decided; every such finding of a result set agrees with its verdict."""
    from mlpbench.analysis.findings import Finding, found

    undecided = decide([0.9, 1.1, 1.05, 0.95, 1.2, 0.98])
    assert not undecided.decided
    with pytest.raises(ValueError, match="undecided"):
        Finding("the verdict in words", "numpy is 1.03x faster", undecided, "numpy")
    for repeats in (3, 6):
        a = Analysis.of(make_results(tmp_path / f"r{repeats}", repeats=repeats))
        rows = {(v.other, v.batch): v for v in verdict_rows(a)}
        verdicts = [f for f in found(a) if f.kind == "the verdict in words"]
        assert verdicts and all(f.decision is not None for f in verdicts if "At batch" in f.text)
        for f in verdicts:
            if f.winner:
                assert f.decision.decided and "faster" in f.text
            elif "500" in f.text and "faster than" in f.text and "may be" not in f.text:
                raise AssertionError(f"names a winner without a decision: {f.text}")
        assert rows  # the verdict rows the findings rest on exist
