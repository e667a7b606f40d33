"""One misbehaving backend cannot poison a results folder (issue 30).

Every record a backend hands back is checked where it is written (the worker, and again the
sweep): a bad one is that run's failed row with a sentence naming the field and the value, and
nothing invalid reaches a file. Readers leave a bad row's run out with a warning (``--strict``
refuses). Each test here failed on 9e91f54, where such records were written as ``ok`` rows and
every reader then refused the whole folder.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from mlpbench.api import records
from mlpbench.api.conformance import KitFailure, check_epoch_records
from mlpbench.api.protocol import EpochRecord
from mlpbench.cli.app import main
from mlpbench.config.sweepfile import ConfigError, parse_config
from mlpbench.errors import ResultsError
from mlpbench.results.point import PointResult
from mlpbench.results.schema import RUN_COLUMNS
from mlpbench.results.store import append_rows, read_runs
from tests.conftest import BAD_RECORDS, HELD, sweep_text

SWEEP = sweep_text(
    "faults", "backend = {backends}\nbatch_size = [50]\nthreads = [1]\n",
    top="timeout_s = 60\nmemory_limit_mb = 400\n", model="l2 = 0.001\n", epochs=2,
    train="learning_rate = 0.01\n",
)  # fmt: skip


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def sweep(tmp_path: Path, backends: list[str], *extra: str) -> tuple[int, Path]:
    path = tmp_path / "faults.toml"
    path.write_text(SWEEP.format(backends=json.dumps(backends)))
    code = main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r"), *extra])
    (out,) = (tmp_path / "r").glob("*-faults")
    return code, out


@pytest.mark.slow
def test_bad_records_are_failed_rows_and_the_folder_stays_readable(tmp_path, fake_plugins, capsys):
    code, out = sweep(tmp_path, ["numpy", *BAD_RECORDS, *HELD], "--report")
    assert code == 1  # failed rows
    by = {r["backend"]: r for r in rows(out / "runs.csv")}
    assert by["numpy"]["status"] == "ok"
    for backend, needle in BAD_RECORDS.items():
        assert by[backend]["status"] == "failed", backend
        assert needle in by[backend]["reason"], (backend, by[backend]["reason"])
    for backend, (status, needle) in HELD.items():
        assert by[backend]["status"] == status, (backend, by[backend]["reason"])
        assert needle in by[backend]["reason"], (backend, by[backend]["reason"])
    info = by["hugeinfo"]["backend_info"]
    assert len(info) <= records.MAX_INFO_CHARS and "truncated" in info
    assert "<script>alert('info')" not in (out / "report.html").read_text()
    # Nothing invalid was written: even the strict readers take the whole folder.
    capsys.readouterr()
    for command in (
        ["summary", str(out), "--strict"],
        ["report", str(out), "--strict"],  # draws every plot too (as `plot` would)
        ["compare", str(out), str(out), "--strict"],
    ):
        assert main(command) == 0, command
    assert "warning" not in capsys.readouterr().err


@pytest.mark.slow
def test_a_hand_corrupted_row_is_left_out_with_a_warning_and_refused_with_strict(tmp_path, capsys):
    path = tmp_path / "faults.toml"
    path.write_text(SWEEP.format(backends='["numpy"]').replace("[50]", "[50, 100]"))
    assert main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r")]) == 0
    (out,) = (tmp_path / "r").glob("*-faults")
    epochs = (out / "epochs.csv").read_text().splitlines()
    header = epochs[0].split(",")
    cells = epochs[2].split(",")  # line 3: the first run's second epoch
    cells[header.index("loss")] = "low"
    epochs[2] = ",".join(cells)
    (out / "epochs.csv").write_text("\n".join(epochs) + "\n")
    capsys.readouterr()
    for command in (["summary", str(out)], ["report", str(out)], ["plot", str(out)]):
        assert main(command) == 0, command
        err = capsys.readouterr().err
        assert "epochs.csv:3" in err and "'low'" in err and "left out" in err
    assert main(["compare", str(out), str(out)]) == 0
    for command in (["summary", str(out), "--strict"], ["compare", str(out), str(out), "--strict"]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "epochs.csv:3" in err and "'low'" in err


def test_the_reader_takes_any_field_the_writer_writes(tmp_path):
    """A reason or an info string over the csv module's default 128 KiB field limit."""
    row = {c: "" for c in RUN_COLUMNS}
    row.update(run_id="r0000", backend="numpy", batch_size=50, dtype="float32", device="cpu")
    row.update(threads=1, layers="20-8-4", variant="default", options="", repeat=0)
    row.update(status="failed", reason="x" * 300_000)
    append_rows(tmp_path / "runs.csv", RUN_COLUMNS, [row])
    (got,) = read_runs(tmp_path)
    assert len(got["reason"]) == 300_000


def test_a_result_that_reached_the_sweep_invalid_becomes_a_failed_row():
    """The sweep checks the worker's result too (a worker of another version, a garbled
    pipe): the epochs are not written, the row says why."""
    good = {"epoch": 0, "wall_s": 0.1, "cpu_s": 0.1, "loss": 1.0, "accuracy": 0.5, "phases": {}}
    bad = {**good, "epoch": 1, "wall_s": "fast"}
    result = PointResult.from_json({"status": "skipped", "reason": "x", "epochs": [good, bad]})
    assert result.status == "failed" and result.epochs == []
    assert "epoch 2: wall_s = 'fast' is not a number" in result.reason
    result = PointResult.from_json({"status": "ok", "summary": {"steady_epoch_s": 0.0}})
    assert result.status == "failed" and "steady_epoch_s" in result.reason
    assert PointResult.from_json(["not", "a", "result"]).status == "failed"
    good_back = PointResult.from_json({"status": "skipped", "reason": "x", "epochs": [good]})
    assert PointResult.from_json(good_back.to_json()) == good_back  # one shape, both ways


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"wall_s": -1.0}, "epoch 1: wall_s = -1 is below 0"),
        ({"epoch": 1}, "epoch record 1 has epoch = 1"),
        ({"epoch": True}, "epoch record 1 has epoch = True"),
        ({"loss": "low"}, "epoch 1: loss = 'low' is not a number"),
        ({"loss": math.nan}, "the training loss is nan at epoch 1"),
        ({"cpu_s": math.inf}, "epoch 1: cpu_s = inf is not finite"),
        ({"accuracy": 1.5}, "epoch 1: accuracy = 1.5 is not between 0 and 1"),
        ({"phases": {"forward": "fast"}}, "epoch 1: phase forward = 'fast' is not a number"),
        ({"phases": {"warp": 0.1}}, "epoch 1: unknown phase 'warp'; known phases: shuffle"),
        ({"phases": [1]}, "epoch 1: phases = [1] is not a dict"),
    ],
)
def test_each_rule_is_one_sentence_naming_the_field_and_value(change, needle):
    fields = {"epoch": 0, "wall_s": 0.1, "cpu_s": 0.1, "loss": 1.0, **change}
    with pytest.raises(records.RecordError) as caught:
        records.check_epoch(EpochRecord(**fields), 0, 2)
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_records_that_keep_the_rules_pass_and_info_is_bounded():
    import numpy as np

    ok = EpochRecord(np.int64(0), np.float32(0.1), math.nan, np.float64(0.5), math.nan)
    assert records.check_epochs([ok], 1) == [ok]
    with pytest.raises(records.RecordError, match="reported 1 epochs for a run of 2"):
        records.check_epochs([ok], 2)
    text = records.info_text({"blob": "y" * 10_000, "a": 1})
    assert len(text) == records.MAX_INFO_CHARS and text.endswith("characters]")
    with pytest.raises(records.RecordError, match="keys must be strings"):
        records.check_info({1: "x"})


@pytest.mark.parametrize("backend", ["negativewall", "stringloss", "stringphase", "unknownphase"])
def test_the_kit_says_the_same_sentence_as_the_worker(backend, fake_plugins):
    with pytest.raises(KitFailure) as caught:
        check_epoch_records(backend)
    assert BAD_RECORDS[backend] in str(caught.value)


def test_a_plugin_whose_capabilities_raise_costs_only_its_own_points(
    tmp_path, fake_plugins, capsys
):
    """It used to refuse the whole sweep (exit 2, nothing ran); issue 42: its points are
    skipped with a sentence naming it and the hook, and numpy runs."""
    import csv

    path = tmp_path / "faults.toml"
    path.write_text(SWEEP.format(backends='["numpy", "badcapabilities"]'))
    assert main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r")]) == 0
    (folder,) = (tmp_path / "r").glob("*-faults")
    with (folder / "runs.csv").open() as f:
        by = {r["backend"]: r for r in csv.DictReader(f)}
    assert by["numpy"]["status"] == "ok" and by["badcapabilities"]["status"] == "skipped"
    reason = by["badcapabilities"]["reason"]
    assert "backend 'badcapabilities'" in reason and "capabilities() failed" in reason
    assert "capabilities exploded" in reason


def test_memory_limit_is_checked():
    import tomllib

    doc = tomllib.loads(SWEEP.format(backends='["numpy"]'))
    assert parse_config(doc).memory_limit_mb == 400
    with pytest.raises(ConfigError, match="memory_limit_mb"):
        parse_config({**doc, "memory_limit_mb": 10})


def test_a_left_out_row_does_not_shift_the_lines_later_warnings_name(tmp_path, capsys):
    """Found in review: read_runs numbered its status checks over the rows read_table kept, so
    after one left-out row every later warning named the line above the bad one."""
    base = {c: "" for c in RUN_COLUMNS}
    base.update(backend="numpy", batch_size=50, dtype="float32", device="cpu", threads=1)
    base.update(layers="20-8-4", variant="default", options="-", env="current", repeat=0)
    rows = [
        {**base, "run_id": "r0000", "status": "skipped"},
        {**base, "run_id": "r0001", "status": "skipped", "batch_size": "fifty"},  # line 3
        {**base, "run_id": "r0002", "status": "ok"},  # line 4: ok without a time
        {**base, "run_id": "r0003", "status": "failed", "repeat": 1},  # not a doubled row
    ]
    append_rows(tmp_path / "runs.csv", RUN_COLUMNS, rows)
    got = read_runs(tmp_path, strict=False)
    assert [r["run_id"] for r in got] == ["r0000", "r0003"]
    err = capsys.readouterr().err
    assert "runs.csv:3: column 'batch_size'" in err
    assert "runs.csv:4: an ok run without a steady_epoch_s > 0" in err
    with pytest.raises(ResultsError, match=r"runs.csv:4: an ok run"):
        read_runs(_only(tmp_path, rows[2]))  # strict: the same line, an error


def _only(tmp_path, row):
    folder = tmp_path / "one"
    folder.mkdir()
    append_rows(folder / "runs.csv", RUN_COLUMNS, [{**row, "status": "skipped"}] * 2 + [row])
    return folder


def test_peaks_recalibrations_and_hosts_are_records_that_round_trip():
    """environment.json's measured parts are typed values (one identity, one GFLOP/s figure
    per peak); the file reads back to the same document, keys the record does not use kept."""
    import math

    from mlpbench.results.environment import Environment, Host, Peak, Recalibration

    peak = {"dtype": "float32", "threads": 2, "device": "cpu", "n": 2048, "gflops": 80.5,
            "median_gflops": 79.0, "cpus": "0-1"}  # fmt: skip
    doc = {
        "schema_version": 6,
        "pinned": True,
        "peaks": [peak, {**peak, "env": "np126", "gflops": 60.0}, "not a peak"],
        "recalibrations": [{"after_runs": 12, "peaks": [{**peak, "gflops": 70.0}]}],
        "hosts": {"h1": {"host": "h1", "hostname": "a", "environment": {}, "doctor": [],
                         "peaks": [peak]}},  # fmt: skip
    }
    env = Environment.from_json(doc)
    assert env.peaks[0] == Peak("float32", 2, "cpu", "current", 2048, 80.5)
    assert env.peaks[1].key == ("cpu", "float32", 2, "np126", 2048)
    assert len(env.peaks) == 2  # the entry that is not an object is dropped
    assert env.recalibrations == [Recalibration(12, (Peak("float32", 2, n=2048, gflops=70.0),))]
    assert isinstance(env.hosts["h1"], Host) and env.hosts["h1"].peaks[0].gflops == 80.5
    again = env.to_json()
    assert again["peaks"][0] == peak and again["recalibrations"][0]["peaks"][0]["gflops"] == 70
    assert Environment.from_json(again) == env
    failed = Peak.from_json({"dtype": "float64", "threads": 1, "gflops": "NaN", "error": "x"})
    assert math.isnan(failed.gflops) and not failed.measured and failed.error == "x"
    assert not hasattr(env, "get") and not hasattr(env, "__getitem__")  # no dict back door


def test_a_tuned_plan_is_a_record_in_the_file_and_the_cache(tmp_path, monkeypatch):
    """Issue 48: the plan table's entries were dicts read by key in sweep/tuning; they are
    PlanEntry records wherever they are read (environment.json and the machine's cache)."""
    from mlpbench.api import plancache
    from mlpbench.results.environment import Environment, PlanEntry

    entry = {"choice": "spin", "seconds": {"spin": 0.1, "sleep": 0.12}, "candidates": ["sleep",
             "spin"], "trial_samples": 10_000, "load_pct": 3.5, "future_key": 1}  # fmt: skip
    env = Environment.from_json({"plans": {"numpy|a": entry, "bad": "not an entry"}})
    (read,) = env.plans.values()
    assert isinstance(read, PlanEntry) and read.choice == "spin" and read.load_pct == 3.5
    assert read.predicted_s(60_000) == pytest.approx(0.6)  # the trial epoch, scaled
    assert env.to_json()["plans"]["numpy|a"] == entry  # unknown keys kept
    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    machine = {"cpu_model": "Fixture", "cores_usable": 2}
    plancache.write(machine, env.plans)
    assert plancache.read(machine) == env.plans


def test_compare_reads_a_peaks_one_figure():
    """Issue 48: compare's machine speed read `median_gflops` where the drift warning and the
    report read the best repeat's `gflops`: a peak has one figure, and compare reads it."""
    from mlpbench.analysis.compare import machine_speed
    from mlpbench.results.environment import Environment

    peak = {"dtype": "float32", "threads": 2, "device": "cpu", "n": 2048, "gflops": 100.0,
            "median_gflops": 50.0}  # fmt: skip
    speed = machine_speed(Environment.from_json({"peaks": [peak]}))
    assert list(speed.values()) == [pytest.approx(100.0)]  # not the median repeat's 50
