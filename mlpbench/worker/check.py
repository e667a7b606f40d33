"""Before a sweep starts: can a backend of its grid load, take its options, and is the data there?

Run as ``python -m mlpbench.worker check FD`` in a fresh process, like a worker (same
``sys.path``, so a plugin shadowed by a folder in the working directory is found exactly as the
workers find it), one process per backend, so that the sweep's own process imports no framework
and one backend that hangs or breaks costs only its own points. Reads a JSON request on stdin
and writes one JSON answer on pipe ``FD`` (on stdout without one): never where a plugin's own
prints (at import, at exit, from a thread) could be taken for it.

Requests:
- ``{"backend": NAME, "options": [...], "combinations": [...], "shapes": {...}}``: ``missing``
  (not installed: the sweep cannot start), ``broken`` (its import, capabilities(), option
  check or plan hooks failed: its points are skipped, with this sentence), ``problems`` (the
  sweep file's options it refuses: the sweep cannot start), ``skips`` (the (device, dtype)
  combinations this machine cannot run, with the reason) and ``plans`` / ``differ`` (its
  thread plans, mlpbench.sweep.tuning).
- ``{"data": [DataSpec, ...]}``: ``problems`` with the data (alone, or beside a backend's
  request: then ``data_problems`` in its answer).
- ``{"describe": NAME}``: what ``mlpbench backends`` lists of it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def check_backend(request: dict[str, Any]) -> dict[str, Any]:
    from mlpbench.api import framework, registry
    from mlpbench.errors import UserError

    name = request["backend"]
    out: dict[str, Any] = {"backend": name, "missing": "", "broken": "", "problems": [],
                           "skips": [], "plans": {}, "differ": {}}  # fmt: skip
    if name not in registry.available():
        try:
            registry.load(name)
        except UserError as e:
            out["missing"] = str(e)
        return out
    entry = registry.describe(name)
    if entry.error:
        out["broken"] = f"backend {name!r} is broken: {entry.error}"
        return out
    cls = entry.cls
    step = "thread_plans()"
    try:
        out["script"] = bool(framework.hook(cls, "always_script"))
        out["plans"] = dict(framework.hook(cls, "thread_plans"))
        if out["plans"]:  # which plans can run each point differently: the backend says
            step = "plans_that_differ()"
            out["differ"] = {
                shape: list(framework.hook(cls, "plans_that_differ", threads=t, batch_size=b,
                                           widths=tuple(w)))
                for shape, (t, b, w) in request.get("shapes", {}).items()
            }
        json.dumps(out["plans"])
    except Exception as e:
        out["broken"] = f"backend {name!r} is broken: {step} failed: {type(e).__name__}: {e}"
        return out
    check_options = getattr(cls, "check_options", None)
    for options in request.get("options", []) if callable(check_options) else []:
        try:
            check_options(options)
        except UserError as e:  # the sweep file's mistake: one line, nothing started
            out["problems"].append(f"[options.{name}]: {e}")
        except Exception as e:  # the plugin's own check failing in its own way
            out["broken"] = (
                f"backend {name!r} is broken: check_options() failed: {type(e).__name__}: {e}"
            )
            return out
    for device, dtype in request.get("combinations", []):
        why = entry.capabilities.why_not(device, dtype)
        if why:
            out["skips"].append([name, device, dtype, why])
    return out


def check_data(specs: list[dict[str, Any]]) -> dict[str, Any]:
    from mlpbench import data as datasets
    from mlpbench.errors import UserError

    problems = []
    for spec in specs:
        try:
            datasets.load_raw(datasets.DataSpec(**spec))
        except UserError as e:
            problems.append(f"[data]: {e}")
    return {"problems": problems}


def describe(name: str) -> dict[str, Any]:
    from mlpbench.api import framework, registry

    e = registry.describe(name)
    out: dict[str, Any] = {"name": e.name, "version": e.version, "error": e.error}
    if not e.error:
        caps = e.capabilities
        out.update(devices=list(caps.devices), dtypes=list(caps.dtypes), phases=caps.phases,
                   unavailable=dict(caps.unavailable))  # fmt: skip
        try:
            out["engines"] = dict(framework.hook(e.cls, "engines"))
        except Exception as err:
            out["engines"] = {"?": f"engines() failed: {type(err).__name__}: {err}"}
    return out


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """A backend's check, with the data's (``data``) in the same process when asked for: one
    process fewer per sweep."""
    if "describe" in request:
        return describe(request["describe"])
    if "backend" not in request:
        return check_data(request.get("data", []))
    out = check_backend(request)
    if request.get("data"):
        out["data_problems"] = check_data(request["data"])["problems"]
    return out


def main(argv: list[str] | None = None) -> int:
    from mlpbench.worker.child import drop_working_directory

    argv = sys.argv[2:] if argv is None else argv
    drop_working_directory()
    request = json.loads(sys.stdin.read())
    text = json.dumps(answer(request), default=str)
    if argv:
        with os.fdopen(int(argv[0]), "w", encoding="utf-8", errors="replace") as out:
            out.write(text)
    else:
        print(text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
