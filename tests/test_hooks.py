"""Issue 48: every backend hook the harness asks is declared on ``FrameworkBackend`` with its
default, and asked through one helper (a plugin that does not subclass it gets the defaults)."""

from __future__ import annotations

import re
from pathlib import Path

from mlpbench.api.framework import FrameworkBackend, hook

PACKAGE = Path(__file__).resolve().parents[1] / "mlpbench"


def asked() -> set[str]:
    names = set()
    for path in PACKAGE.rglob("*.py"):
        names |= set(re.findall(r'\bhook\([^,]+, "(\w+)"', path.read_text()))
    return names


def test_every_hook_the_harness_asks_is_declared_with_a_default():
    names = asked()
    assert {"thread_plans", "plans_that_differ", "default_plan", "gemm_peak", "engines",
            "thread_env", "quiet_env", "packages"} <= names  # fmt: skip
    for name in names:
        assert callable(getattr(FrameworkBackend, name, None)), name


def test_no_hook_is_looked_up_by_name_outside_the_helper():
    hooks = "|".join(asked())
    pattern = re.compile(rf'getattr\([^)]*"({hooks})"')
    found = [
        f"{p.relative_to(PACKAGE)}:{n}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "framework.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, found


class Bare:
    """A plugin that satisfies the protocol and declares no hook at all."""


class OwnPlans:
    @classmethod
    def thread_plans(cls):
        return {"one": {"env": {}, "options": {}}, "two": {"env": {}, "options": {}}}


def test_a_plugin_without_hooks_gets_the_declared_defaults():
    assert hook(Bare, "thread_plans") == {}
    assert hook(Bare, "plans_that_differ", threads=2, batch_size=100, widths=(4,)) == []
    assert hook(Bare, "default_plan", 2, 100) == ""
    assert hook(Bare, "gemm_peak", "bfloat16", "cpu", 64, 1) is None
    assert hook(Bare, "engines") == {} and hook(Bare, "thread_env", 2) == {}


def test_the_plan_defaults_read_the_plugins_own_plans():
    assert hook(OwnPlans, "plans_that_differ", threads=1, batch_size=10, widths=()) == [
        "one", "two"]  # fmt: skip
    assert hook(OwnPlans, "default_plan", 1, 10) == "one"
