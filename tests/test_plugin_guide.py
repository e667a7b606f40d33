"""Issue 52: docs/plugins.md works when followed literally. The guide's own code blocks (the
pyproject.toml, the plugin module, the kit's pytest file) are written into a fresh project with
the src/ layout, installed with pip (no index: its one dependency, mlpbench, is this
checkout), and then `mlpbench backends` lists it, the guide's pytest file passes the kit, and
the guide's no-pytest route (check_all) passes too. A copy with Keras's clip changed to 1e-3
fails the kit, in one sentence."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def project(root: Path, clip: str = "") -> dict[str, str]:
    """The guide's project in ``root``, installed into ``root/site``; the environment that
    sees it (PYTHONPATH), as an installed distribution is seen."""
    toml = next(b for b in blocks("toml") if "[project.entry-points" in b)
    module = next(b for b in blocks("python") if "class MyTrainer" in b and "def step" in b)
    kit = next(b for b in blocks("python") if "from mlpbench.api.conformance import CHECKS" in b)
    if clip:
        assert "EPS = 1e-7" in module
        module = module.replace("EPS = 1e-7", f"EPS = {clip}")
    (root / "src" / "mlpbench_mine").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(toml)
    (root / "src" / "mlpbench_mine" / "__init__.py").write_text(module)
    (root / "tests" / "test_conformance.py").write_text(kit)
    site = root / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(root)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return {**os.environ, "PYTHONPATH": str(site)}


@pytest.mark.slow
def test_the_guide_followed_literally_gives_a_plugin_that_passes_the_kit(tmp_path):
    env = project(tmp_path / "mine")
    listed = subprocess.run([sys.executable, "-m", "mlpbench", "backends"], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert listed.returncode == 0 and re.search(r"^\s*mine\b", listed.stdout, re.M), listed.stdout
    kit = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path / "mine", env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert kit.returncode == 0, kit.stdout[-3000:]
    assert "failed" not in kit.stdout and "passed" in kit.stdout
    plain = subprocess.run(
        [sys.executable, "-c", "from mlpbench.api.conformance import check_all; check_all('mine')"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr[-2000:]


@pytest.mark.slow
def test_the_guides_plugin_with_another_clip_fails_the_kit(tmp_path):
    env = project(tmp_path / "mine", clip="1e-3")
    kit = "from mlpbench.api.conformance import check_loss_clipping; check_loss_clipping('mine')"
    plain = subprocess.run([sys.executable, "-c", kit], env=env, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    assert plain.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert last.startswith("mlpbench.api.conformance.KitFailure: ") and "clip" in last, last
