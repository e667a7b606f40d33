"""The results schema cannot drift: the columns are pinned per version, environment.json
stores them, and folders of every older version are read (migrated), a newer one refused."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from mlpbench.analysis.tables import Analysis
from mlpbench.cli.app import main
from mlpbench.errors import ResultsError
from mlpbench.results import schema
from mlpbench.results.store import read_environment, read_runs

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "schema.json"
V3 = HERE / "data" / "results-v3"  # written by main at 2b3155e (schema v3), a tiny sweep


def test_the_columns_are_those_pinned_for_this_version():
    """Adding, removing or reordering a column without a version bump fails here: bump
    SCHEMA_VERSION, teach results/migrations.py the step, and pin the new lists below."""
    pinned = json.loads(GOLDEN.read_text())
    assert str(schema.SCHEMA_VERSION) in pinned, (
        f"schema v{schema.SCHEMA_VERSION} has no pinned columns in {GOLDEN}"
    )
    assert pinned[str(schema.SCHEMA_VERSION)] == schema.columns_record(), (
        f"the columns changed but SCHEMA_VERSION is still {schema.SCHEMA_VERSION}"
    )


def _copy(tmp_path: Path, name: str = "v3") -> Path:
    folder = tmp_path / name
    shutil.copytree(V3, folder)
    return folder


def test_a_folder_written_by_the_previous_main_is_read(tmp_path, capsys):
    folder = _copy(tmp_path)
    assert json.loads((folder / "environment.json").read_text())["schema_version"] == 3
    runs = read_runs(folder)
    assert len(runs) == 8 and all(r["status"] == "ok" for r in runs)
    # keras ran on two engines: each keeps its own options label; the others have none
    options = {(r["backend"], r["options"]) for r in runs}
    assert options == {
        ("numpy", "-"),
        ("numpy-plain", "-"),
        ("keras", "keras_backend=tensorflow"),
        ("keras", "keras_backend=jax"),
    }
    a = Analysis.of(folder)
    assert {"keras/tensorflow", "keras/jax", "numpy-plain"} <= set(a.ratios["backend"])
    for command in (["summary"], ["report"], ["compare", str(folder)]):
        assert main([*command[:1], str(folder), *command[1:]]) == 0, capsys.readouterr().err
    assert "keras/jax" in capsys.readouterr().out


def _drop_columns(path: Path, drop: set[str]) -> None:
    rows = list(csv.reader(path.read_text().splitlines()))
    keep = [i for i, c in enumerate(rows[0]) if c not in drop]
    path.write_text("".join(",".join(r[i] for i in keep) + "\n" for r in rows))


def test_a_v1_folder_without_the_later_columns_is_read_with_defaults(tmp_path):
    """v1/v2 had no layers, keras_backend, host, hostname, plan or probe columns, and v1 no
    schema_version at all."""
    folder = _copy(tmp_path, "v1")
    later = {"layers", "keras_backend", "host", "hostname", "plan", "cpus", "other_load_pct"}
    _drop_columns(folder / "runs.csv", later)
    _drop_columns(folder / "epochs.csv", later)
    env = json.loads((folder / "environment.json").read_text())
    del env["schema_version"]
    (folder / "environment.json").write_text(json.dumps(env))
    runs = read_runs(folder)
    assert {r["layers"] for r in runs} == {"784-70-30-10"}  # the only network then
    assert {r["options"] for r in runs} == {"-"} and {r["plan"] for r in runs} == {""}
    assert main(["summary", str(folder)]) == 0


def test_a_newer_or_unknown_schema_is_refused_naming_what_to_do(tmp_path, capsys):
    folder = _copy(tmp_path, "newer")
    env = json.loads((folder / "environment.json").read_text())
    env["schema_version"] = schema.SCHEMA_VERSION + 1
    (folder / "environment.json").write_text(json.dumps(env))
    with pytest.raises(ResultsError, match="newer than this mlpbench reads.*upgrade"):
        read_environment(folder)
    assert main(["summary", str(folder)]) == 2
    assert "upgrade mlpbench" in capsys.readouterr().err
    odd = _copy(tmp_path, "odd")
    header, *rows = (odd / "runs.csv").read_text().splitlines()
    (odd / "runs.csv").write_text(
        "\n".join([header.replace("run_id,", "run_id,colour,", 1)])
        + "".join(f"\n{r.replace(',', ',blue,', 1)}" for r in rows)
        + "\n"
    )
    with pytest.raises(ResultsError, match="colour.*not of results schema"):
        read_runs(odd)


def test_resume_refuses_an_older_folder_instead_of_mixing_schemas(tmp_path, capsys):
    folder = _copy(tmp_path, "old")
    assert main(["sweep", "--resume", str(folder)]) == 2
    assert "schema v3" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_stores_its_columns_beside_the_version(tmp_path):
    from mlpbench.sweep.loop import run_sweep

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'name = "s"\n[data]\ndataset = "synthetic"\nsynthetic_samples = 200\n'
        "synthetic_features = 8\nsynthetic_classes = 3\n[model]\nlayers = [8, 4, 3]\n"
        '[train]\nepochs = 2\n[grid]\nbackend = ["numpy-plain", "numpy"]\nbatch_size = [50]\n'
        "threads = [1]\n[grid.options.numpy]\nsplit_rows = [true, false]\n"
    )
    out = run_sweep(sweep, root=tmp_path / "results", quiet=True)
    env = read_environment(out)
    assert env["schema_version"] == schema.SCHEMA_VERSION
    assert env["columns"] == schema.columns_record()
    with (out / "runs.csv").open() as f:
        assert next(csv.reader(f)) == schema.RUN_COLUMNS
    # A backend's own option as an axis: no harness change, one options label per value
    runs = read_runs(out)
    assert sorted(r["options"] for r in runs) == ["-", "split_rows=false", "split_rows=true"]
    a = Analysis.of(out)
    assert set(a.main["backend"]) == {"numpy-plain", "numpy/true", "numpy/false"}
    assert set(a.ratios["backend"]) == {"numpy/true", "numpy/false"}
