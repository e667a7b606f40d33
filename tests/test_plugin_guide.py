"""Issue 52: docs/plugins.md works when followed literally, in a fresh virtual environment.
The guide's own code blocks (the pyproject.toml, the plugin module, the kit's pytest file) are
written into a fresh project with the src/ layout; a fresh venv gets `pip install '.[keras]'`
of this checkout and the plugin's `pip install -e .`, as the guide says; then the venv's
`mlpbench backends` lists it, the guide's pytest file passes the kit, and the guide's
no-pytest route (check_all) passes too. A copy with Keras's clip changed to 1e-3 fails the
kit, in one sentence.

No network in a test: the venv sees the wheels `make install` already installed (a .pth to
that site-packages, after its own) in place of an index, and pip runs with --no-index and
--no-build-isolation; mlpbench and the plugin are installed into the venv itself.
"""

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


def fresh_venv(root: Path) -> Path:
    """A new venv with this checkout installed as the README says (`pip install '.[keras]'`);
    its Python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    own = subprocess.run([str(python), "-c", PURELIB], capture_output=True, text=True).stdout
    downloaded = subprocess.run([sys.executable, "-c", PURELIB], capture_output=True, text=True)
    (Path(own.strip()) / "downloaded_wheels.pth").write_text(downloaded.stdout)
    pip(python, f"{ROOT}[keras]")
    where = subprocess.run([str(python), "-c", "import mlpbench; print(mlpbench.__file__)"],
                           capture_output=True, text=True, cwd=root)  # fmt: skip
    assert where.stdout.startswith(str(root)), where  # the venv's own copy, not the checkout
    return python


PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


def pip(python: Path, *args: str, cwd: Path | None = None) -> None:
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation",
         *args],
        capture_output=True, text=True, timeout=600, cwd=cwd,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


def project(root: Path, python: Path, clip: str = "") -> None:
    """The guide's project in ``root``, installed into ``python``'s venv as the guide says
    (`pip install -e .`)."""
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
    pip(python, "-e", ".", cwd=root)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh venv for this module's tests (each installs its own plugin project)."""
    return fresh_venv(tmp_path_factory.mktemp("fresh") / "venv")


@pytest.mark.slow
def test_the_guide_followed_literally_gives_a_plugin_that_passes_the_kit(tmp_path, venv):
    python = venv
    project(tmp_path / "mine", python)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    listed = subprocess.run([str(python.parent / "mlpbench"), "backends"], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert listed.returncode == 0 and re.search(r"^\s*mine\b", listed.stdout, re.M), listed.stdout
    kit = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path / "mine", env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert kit.returncode == 0, kit.stdout[-3000:]
    assert "failed" not in kit.stdout and "passed" in kit.stdout
    plain = subprocess.run(
        [str(python), "-c", "from mlpbench.api.conformance import check_all; check_all('mine')"],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr[-2000:]


@pytest.mark.slow
def test_the_guides_plugin_with_another_clip_fails_the_kit(tmp_path, venv):
    python = venv
    project(tmp_path / "mine", python, clip="1e-3")
    kit = "from mlpbench.api.conformance import check_loss_clipping; check_loss_clipping('mine')"
    plain = subprocess.run([str(python), "-c", kit], capture_output=True, text=True,
                           timeout=600, cwd=tmp_path)  # fmt: skip
    assert plain.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert last.startswith("mlpbench.api.conformance.KitFailure: ") and "clip" in last, last
