"""The scripts that run the `gpu` sweep on a lent GPU machine (benchmarks/gpu/): they are run
rarely and far away, so what can be checked here is checked here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu"


@pytest.mark.parametrize("script", ["bundle.sh", "on_device.sh"])
def test_the_scripts_parse(script):
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the GPU kit"
    subprocess.run([bash, "-n", str(KIT / script)], check=True)


def _names(text: str, start: str) -> set[str]:
    """The package names of the command that begins with ``start`` (its continued lines)."""
    block = text[text.index(start) :].split("\n\n")[0]
    words = re.sub(r"\\\n", " ", block).split("\n")[0].split()
    command = []
    for w in words:
        if w.startswith((">", "|", "2>")):  # a redirection or a pipe ends the command
            break
        command.append(w)
    return {w for w in command if re.fullmatch(r"[A-Za-z][\w.-]*", w)}


def test_the_device_installs_only_what_the_bundle_holds():
    """on_device.sh installs with --no-index from the bundle: a name it asks for that bundle.sh
    never puts there fails on the device, after minutes of its time were spent starting it."""
    bundle, device = (KIT / "bundle.sh").read_text(), (KIT / "on_device.sh").read_text()
    wanted = _names(device, '"$PY" -m pip install') - {"PY", "m", "pip", "install"}
    built = {"mlpbench", "mlpbench-torch", "optree"}  # the built wheels and the per-Python one
    downloaded = _names(bundle, '"$PY" -m pip download --no-deps -q -d "$OUT" keras')
    assert {"keras", "namex", "typing_extensions"} <= wanted
    assert wanted <= built | downloaded, wanted - built - downloaded
    assert "MLPBENCH_MNIST" in device and "mnist.npz" in bundle
