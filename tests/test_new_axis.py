"""Issue 38: a new key axis is one field of ``PointKey`` (its type is its config check, its
default the value older folders are read with, ``reaches`` the field of the worker's run it
sets). The test adds one to a copy of mlpbench and
checks that the sweep file, the schema (an older folder migrated), the tables and the report
all pick it up, with nothing else changed but the schema's version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
V4 = ROOT / "tests" / "data" / "results-v4"

CHECK = r"""
import sys
from pathlib import Path
import pandas as pd
import mlpbench
from mlpbench.analysis.tables import Analysis, ResultSet
from mlpbench.config.sweepfile import ConfigError, parse_config, parse_toml
from mlpbench.render import markdown, report, text
from mlpbench.sweep.loop import run_sweep
from tests.conftest import sweep_text

assert Path(mlpbench.__file__).parent == Path(sys.argv[1]), mlpbench.__file__  # the copy
grid = ('backend = ["numpy-plain", "numpy"]\nbatch_size = [100]\nthreads = [1]\n'
        'dtype = ["float32", "float64"]\nseed = [1, 2]\n')
doc = sweep_text("axis", grid, samples=200, epochs=2, layers="[20, 8, 4]")
try:
    parse_config(parse_toml(doc.replace("seed = [1, 2]", 'seed = ["one"]')))
    raise SystemExit("a seed that is not an integer was taken")
except ConfigError as e:
    assert "[grid] seed" in str(e) and "integer" in str(e), e
out = run_sweep(parse_config(parse_toml(doc)), root=Path(sys.argv[2]), quiet=True)
results = ResultSet.load(out)
runs = results.runs
assert sorted(set(runs["seed"])) == [1, 2], runs["seed"]
# the worker got it: the seed sets the initial weights, so the same point's loss differs
for (backend, dtype), rows in runs.groupby(["backend", "dtype"]):
    losses = rows.groupby("seed")["final_loss"].first()
    assert losses[1] != losses[2], (backend, dtype, losses)
a = Analysis.of(out)
assert "seed" in a.axes.varying, a.axes.varying
# no table merges the seeds: each keeps both values apart, and no cell holds a group
tables = {"summary": (a.summary, 8), "ratios": (a.ratios, 4), "dtype_gain": (a.dtype_gain, 4)}
for name, (table, rows) in tables.items():
    assert "seed" in table, (name, list(table))
    assert sorted(set(table["seed"])) == [1, 2], (name, table)
    assert len(table) == rows, (name, table)
    for column in table:
        bad = [v for v in table[column] if isinstance(v, (pd.Series, pd.DataFrame))]
        assert not bad, (name, column, bad)
# every renderer keeps them apart
pages = {
    "terminal": "\n".join(text.summary_lines(a)),
    "markdown": markdown.page(a, plots_dir="plots"),
    "report": report.write_report(a, []).read_text(),
}
for name, page in pages.items():
    assert "seed 1" in page and "seed 2" in page, (name, page[-3000:])
old = ResultSet.load(sys.argv[3])  # schema v4: no seed column; read with the default
assert set(old.runs["seed"]) == {0}, set(old.runs["seed"])
print("NEW AXIS OK")
"""


def test_a_new_axis_is_one_field_of_the_point_key(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT / "mlpbench", copy / "mlpbench", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__", "data")
    )
    points = copy / "mlpbench" / "config" / "points.py"
    source = points.read_text()
    anchor = "    @property\n    def series(self) -> str:"
    assert anchor in source
    field = '    seed: int = axis("initial weights and batch order", 0, reaches="train.seed")\n\n'
    points.write_text(source.replace(anchor, field + anchor, 1))
    schema = copy / "mlpbench" / "results" / "schema.py"  # a new column: the version moves
    version = schema.read_text()
    assert "SCHEMA_VERSION = 6" in version
    schema.write_text(version.replace("SCHEMA_VERSION = 6", "SCHEMA_VERSION = 7", 1))
    env = {**os.environ, "PYTHONPATH": str(copy), "MLPBENCH_GEMM_N": "256"}
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(copy / "mlpbench"), str(tmp_path / "results"), str(V4)],
        capture_output=True, text=True, env=env, cwd=copy, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0 and "NEW AXIS OK" in out.stdout, out.stderr[-3000:]
