"""A worker in a version stack has mlpbench's code and only ``stacks.WORKER_NEEDS`` installed
(plus the stack's requirements): whatever else the worker imports fails there, on every point
of a gate or a version sweep. The test runs real workers that can import nothing else (a
``sitecustomize`` refuses any module outside the standard library, mlpbench and the worker's
needs), with plan lookup on, as a worker in a stack runs (its plans are not tuned for it)."""

from __future__ import annotations

from mlpbench.config import expand
from mlpbench.config.sweepfile import parse_config, parse_toml
from mlpbench.stacks.build import WORKER_NEEDS
from mlpbench.sweep.runner import PointRunner
from tests.conftest import sweep_text

REFUSER = '''
import sys

ALLOWED = set(sys.stdlib_module_names) | {{"mlpbench", "_distutils_hack", *{needs!r}}}


class Refuse:
    """Refuses a top-level module a stack's worker would not have."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in ALLOWED and not top.startswith("_"):
            raise ModuleNotFoundError(f"No module named {{top!r}} (not in WORKER_NEEDS)")
        return None


sys.meta_path.insert(0, Refuse())
'''


def test_the_worker_imports_only_what_a_stack_installs(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REFUSER.format(needs=tuple(WORKER_NEEDS)))
    monkeypatch.setenv("PYTHONPATH", str(site))
    text = sweep_text("needs", 'backend = ["numpy", "numpy-plain"]\nbatch_size = [50]\n'
                      "threads = [1]\n", epochs=2)  # fmt: skip
    points = expand.points(parse_config(parse_toml(text), "needs.toml", text))
    runner = PointRunner(timeout=60, pin=False)
    results = [runner.run(p, variables={"MLPBENCH_TUNE": "1"}) for p in points]
    assert [r.status for r in results] == ["ok"] * len(points), [r.reason for r in results]
