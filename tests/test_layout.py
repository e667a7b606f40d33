"""The architecture holds: no import cycle, the harness imports no backend or framework, a
backend imports no other backend, the worker's import closure is small, no two modules share a
name, and docs/architecture.md names every module of mlpbench/."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "mlpbench"
FORBIDDEN = ("mlpbench_torch", "keras", "tensorflow", "torch", "jax")
BACKENDS = "mlpbench.backends"
# What the worker may not pull in, so that it can run inside another environment (a stack).
HEAVY = ("pandas", "matplotlib", "scipy", "dask", "distributed", "altair", "tqdm")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


TEMPLATES = BENCH / "backends" / "templates"  # scripts mlpbench writes out; never imported


def modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for p in sorted(BENCH.rglob("*.py"))
        if TEMPLATES not in p.parents or p.name == "__init__.py"
    }


def test_the_templates_are_never_imported():
    mods = modules()
    for name, path in mods.items():
        for imported in imports(path, name, set(mods)):
            assert not imported.startswith("mlpbench.backends.templates."), f"{name} imports it"


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, name: str, known: set[str], type_only: bool = False) -> set[str]:
    """Every module this file imports, at the top or inside a function (lazy imports count:
    they are cycles too); those under ``if TYPE_CHECKING`` only with ``type_only``."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not type_only and _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
    return found


def graph(type_only: bool = False) -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {
        name: {m for m in imports(path, name, known, type_only) if m in known and m != name}
        for name, path in mods.items()
    }


@pytest.mark.parametrize("type_only", [False, True], ids=["imports", "with-type-only-imports"])
def test_the_harness_has_no_import_cycle(type_only: bool):
    """Not even one that passes only through an ``if TYPE_CHECKING`` import (a type-only
    edge is a dependency too: it hides a circle that a refactor then closes for real)."""
    g = graph(type_only)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)


def test_the_harness_imports_no_backend_and_no_framework():
    mods = modules()
    for name, path in mods.items():
        if name.startswith(BACKENDS):
            continue
        for imported in imports(path, name, set(mods)):
            top = imported.split(".")[0]
            assert top not in FORBIDDEN, f"{name} imports {imported}"
            assert not imported.startswith(BACKENDS + "."), f"{name} imports {imported}"


def test_data_flows_one_way_analysis_never_imports_a_renderer():
    """Issue 48: the findings' sentences were composed in render/ and imported back; analysis
    makes them (findings as data) and the renderers only lay them out."""
    mods = modules()
    for name, path in mods.items():
        if name.startswith(("mlpbench.analysis", "mlpbench.results", "mlpbench.config")):
            for imported in imports(path, name, set(mods), True):
                assert not imported.startswith("mlpbench.render"), f"{name} imports {imported}"


def _backend_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if module.startswith(BACKENDS + ".") and len(parts) > 2 else None


def test_a_backend_imports_no_other_backend():
    mods = modules()
    for name, path in mods.items():
        own = _backend_of(name)
        if own is None:
            continue
        for imported in imports(path, name, set(mods)):
            other = _backend_of(imported)
            assert other in (None, own), f"{name} imports {imported}"
            if imported.startswith("mlpbench.") and other is None:
                assert imported.startswith(("mlpbench.api", "mlpbench.errors")), (
                    f"{name} imports {imported}: a backend imports only mlpbench.api"
                )


def test_the_worker_package_imports_nothing_heavy():
    """Statically (every import of every module the worker package reaches, lazy ones too)
    and for real (a point trained in a fresh process, then sys.modules)."""
    mods = modules()
    known = set(mods)
    todo = [m for m in mods if m.startswith("mlpbench.worker")]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in imports(mods[name], name, known):
            top = imported.split(".")[0]
            assert top not in HEAVY, f"{name} (reached from mlpbench.worker) imports {imported}"
            if imported in known and not imported.startswith(BACKENDS):
                todo.append(imported)
    assert {"mlpbench.worker.train", "mlpbench.worker.child"} <= seen
    code = (
        "import sys, json\n"
        "from mlpbench.worker import child, check, gemm, train\n"
        "from mlpbench.api.spec import RunSpec\n"
        "from mlpbench.api.protocol import ModelSpec, TrainSpec\n"
        "from mlpbench.data import DataSpec\n"
        "data = DataSpec(dataset='synthetic', synthetic_samples=200, synthetic_features=8,"
        " synthetic_classes=3)\n"
        "spec = RunSpec(model=ModelSpec(layers=(8, 4, 3)), train=TrainSpec(epochs=2,"
        " batch_size=50), data=data)\n"
        "train.run(spec)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_no_two_modules_share_a_name():
    seen: dict[str, Path] = {}
    for path in sorted(BENCH.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        assert path.name not in seen, f"{path.relative_to(ROOT)} and {seen[path.name]}"
        seen[path.name] = path.relative_to(ROOT)


def test_a_cycle_is_caught(tmp_path, monkeypatch):
    """The check itself can fail: two modules importing each other lazily form a cycle."""
    a, b = tmp_path / "mlpbench" / "a.py", tmp_path / "mlpbench" / "b.py"
    a.parent.mkdir()
    a.write_text("def f():\n    from mlpbench import b\n")
    b.write_text("from mlpbench.a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "BENCH", tmp_path / "mlpbench")
    with pytest.raises(AssertionError, match="import cycle"):
        test_the_harness_has_no_import_cycle(False)
    # a circle closed only by a type-only import: allowed by Python, refused here
    a.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mlpbench import b\n"
    )
    test_the_harness_has_no_import_cycle(False)
    with pytest.raises(AssertionError, match="import cycle"):
        test_the_harness_has_no_import_cycle(True)


def test_architecture_doc_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = [
        str(p.relative_to(ROOT))
        for p in sorted(BENCH.rglob("*.py"))
        if p.name != "__init__.py" or p.parent != BENCH
        if f"`{p.relative_to(ROOT)}`" not in text
        and not (p.name == "__init__.py" and f"`{p.parent.relative_to(ROOT)}/`" in text)
    ]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"
