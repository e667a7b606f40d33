"""Issue 38: a new key axis is one field of ``PointKey`` (its type is its config check, its
default the value older folders are read with). The test adds one to a copy of mlpbench and
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
import mlpbench
from mlpbench.analysis.tables import Analysis, ResultSet
from mlpbench.config.sweepfile import ConfigError, parse_config, parse_toml
from mlpbench.render import report, text
from mlpbench.sweep.loop import run_sweep
from tests.conftest import sweep_text

assert Path(mlpbench.__file__).parent == Path(sys.argv[1]), mlpbench.__file__  # the copy
grid = 'backend = ["numpy-plain"]\nbatch_size = [100]\nthreads = [1]\nseed = [1, 2]\n'
doc = sweep_text("axis", grid, samples=200, epochs=2, layers="[20, 8, 4]")
try:
    parse_config(parse_toml(doc.replace("seed = [1, 2]", 'seed = ["one"]')))
    raise SystemExit("a seed that is not an integer was taken")
except ConfigError as e:
    assert "[grid] seed" in str(e) and "integer" in str(e), e
out = run_sweep(parse_config(parse_toml(doc)), root=Path(sys.argv[2]), quiet=True)
results = ResultSet.load(out)
assert sorted(results.runs["seed"]) == [1, 2], results.runs["seed"]
a = Analysis.of(out)
assert "seed" in a.axes.varying, a.axes.varying
lines = "\n".join(text.summary_lines(a))
assert "seed" in lines, lines
html = report.write_report(a, []).read_text()
assert "seed" in html
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
    field = '    seed: int = axis("the seed the point\'s data is drawn with", 0)\n\n'
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
