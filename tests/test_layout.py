"""The architecture holds: no import cycle in the harness, the harness imports no backend or
framework, and docs/architecture.md names every module of bench/."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
FORBIDDEN = ("mlp_numpy", "mlp_keras", "mlpbench_torch", "keras", "tensorflow", "torch", "jax")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BENCH.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module this file imports, at the top or inside a function (lazy imports count:
    they are cycles too), except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
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


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {
        name: {m for m in imports(path, name, known) if m in known and m != name}
        for name, path in mods.items()
    }


def test_the_harness_has_no_import_cycle():
    g = graph()
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
        for imported in imports(path, name, set(mods)):
            top = imported.split(".")[0]
            assert top not in FORBIDDEN, f"{name} imports {imported}"


def test_a_cycle_is_caught(tmp_path, monkeypatch):
    """The check itself can fail: two modules importing each other lazily form a cycle."""
    a, b = tmp_path / "bench" / "a.py", tmp_path / "bench" / "b.py"
    a.parent.mkdir()
    a.write_text("def f():\n    from bench import b\n")
    b.write_text("from bench.a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "BENCH", tmp_path / "bench")
    import pytest

    with pytest.raises(AssertionError, match="import cycle"):
        test_the_harness_has_no_import_cycle()


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
