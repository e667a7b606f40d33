"""What machine and software a result came from (environment.json); imports no framework."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpbench.errors import UserError
from mlpbench.machine.threads import blas_environment, blas_info, cpu_count

if TYPE_CHECKING:
    from mlpbench.results.environment import Environment

CORE = ("mlpbench", "numpy", "pandas", "matplotlib", "threadpoolctl")
"""What the harness itself runs on; what the backends run on, they name (``backend_packages``)."""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx", "fma", "amx")))
    except OSError:
        pass
    return []


def gpu_name() -> str:
    if not shutil.which("nvidia-smi"):
        return ""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip().replace("\n", "; ")
    except (OSError, subprocess.SubprocessError):
        return ""


SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""The folder above the package: a checkout's root for an editable install or a clone."""


def git_commit() -> str:
    """The commit this mlpbench came from: its checkout's (``-dirty`` with changes), else, for
    a ``pip install .`` or ``pip install git+...``, the one its install record names
    (PEP 610 direct_url.json: the VCS commit, or the source folder's checkout), else what
    ``MLPBENCH_COMMIT`` says (a wheel's: the GPU bundle); "" if none."""
    here = _checkout_commit(SOURCE_ROOT) or _installed_commit()
    if here:
        return here
    said = os.environ.get(COMMIT_ENV, "").strip()  # a wheel's, said by what built it
    return said if COMMIT_PATTERN.fullmatch(said) else ""


def _installed_commit() -> str:
    """The commit mlpbench's install record names (PEP 610), "" if none."""
    try:
        text = distribution("mlpbench").read_text("direct_url.json")
        record = json.loads(text) if text else {}
    except (PackageNotFoundError, ValueError, OSError):
        return ""
    commit = str(record.get("vcs_info", {}).get("commit_id", ""))[:7]
    if commit:
        return commit
    url = str(record.get("url", ""))
    if url.startswith("file://"):
        return _checkout_commit(Path(url.removeprefix("file://")))
    return ""


COMMIT_ENV = "MLPBENCH_COMMIT"
"""A built wheel knows no commit: where mlpbench runs from one (the GPU bundle), the script
that built it says which (benchmarks/gpu/on_device.sh sets it from the bundle's COMMIT)."""
COMMIT_PATTERN = re.compile(r"[0-9a-f]{7,40}(-dirty)?")


def _checkout_commit(root: Path) -> str:
    if not ((root / ".git").exists() and (root / "pyproject.toml").exists()):
        return ""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def backend_packages() -> list[str]:
    """The distributions the installed backends run on, as they name them: a built-in
    backend's ``packages`` hook (its module imports no framework), a plugin's own distribution
    and what it requires (read from its metadata: loading it could import a framework).
    ``packaging`` is imported here, not at the top: a worker in a version stack imports this
    module (the plan table's fingerprint) and has only ``stacks.WORKER_NEEDS``."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    from mlpbench.api import registry
    from mlpbench.api.framework import hook

    names: list[str] = []
    for name, ep in sorted(registry.installed().items()):
        dist = getattr(ep, "dist", None)
        if dist is None or canonicalize_name(dist.metadata["Name"]) != "mlpbench":
            if dist is not None:
                names.append(dist.metadata["Name"])
                for text in dist.requires or []:
                    try:
                        req = Requirement(text)
                    except InvalidRequirement:
                        continue
                    if req.marker is None or "extra" not in str(req.marker):
                        names.append(req.name)
            continue
        try:
            names += list(hook(registry.load(name).cls, "packages"))
        except UserError:  # a broken backend names nothing; `mlpbench backends` says why
            continue
    return list(dict.fromkeys(names))


def versions() -> dict[str, str]:
    """Python's version and each installed distribution's of what the harness and the
    backends run on."""
    out = {"python": platform.python_version()}
    for name in dict.fromkeys([*CORE, *backend_packages()]):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def machine() -> dict[str, Any]:
    """What a thread plan's speed depends on (the plan table's fingerprint): cheap to compute."""
    return {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores_usable": cpu_count(),
        "blas": blas_info(),
        "versions": {"numpy": version("numpy")},
        "blas_env": blas_environment(),
    }


def describe() -> dict[str, Any]:
    import psutil

    return {
        "blas_env": blas_environment(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_usable": cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "python_executable": sys.executable,
        "blas": blas_info(),
        "versions": versions(),
        "gpu": gpu_name(),
        "git_commit": git_commit(),
    }


def caption(env: Environment) -> str:
    """One line naming the machine, for plot captions and report headers."""
    v = env.versions
    harness = {"python", "mlpbench", "pandas", "matplotlib", "threadpoolctl"}
    named = ", ".join(f"{k} {x}" for k, x in v.items() if k not in harness)
    gpu = f", GPU {env.gpu}" if env.gpu else ""
    return (
        f"{env.cpu_model or '?'} ({env.cores_usable or '?'} cores{gpu}); "
        f"{env.blas_name}; {named or 'no versions recorded'}"
    )
