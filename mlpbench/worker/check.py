"""Before a sweep starts: can every backend of its grid load, take its options, and find its data?

Run as ``python -m mlpbench.worker check`` in a fresh process, like a worker (same ``sys.path``, so
a plugin shadowed by a folder in the working directory is found exactly as the workers find it),
so that the sweep's own process imports no framework. Reads a JSON request on stdin, prints a
JSON object: ``problems`` (one sentence each; any stops the sweep) and ``skips`` (the
(backend, device, dtype) combinations this machine cannot run, with the reason) and ``plans``
(each backend's thread plans, mlpbench.sweep.tuning).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def check(request: dict[str, Any]) -> dict[str, list[Any]]:
    from mlpbench import data as datasets
    from mlpbench.api import registry
    from mlpbench.errors import UserError

    problems: list[str] = []
    skips: list[list[str]] = []
    plans: dict[str, Any] = {}
    differ: dict[str, dict[str, list[str]]] = {}
    entries = {}
    for backend, option_sets in request["backends"].items():
        try:
            entry = entries[backend] = registry.load(backend)
        except UserError as e:
            problems.append(str(e))
            continue
        cls = entry.cls
        if callable(getattr(cls, "thread_plans", None)):
            plans[backend] = cls.thread_plans()
            hook = getattr(cls, "plans_that_differ", None)
            if callable(hook):  # which plans can run each point differently: the backend says
                differ[backend] = {
                    shape: list(hook(threads=t, batch_size=b, widths=tuple(w)))
                    for shape, (t, b, w) in request.get("shapes", {}).get(backend, {}).items()
                }
        check_options = getattr(cls, "check_options", None)
        for options in option_sets if callable(check_options) else []:
            try:
                check_options(options)
            except UserError as e:
                problems.append(f"[options.{backend}]: {e}")
            except Exception as e:  # a plugin's own check that fails in its own way
                problems.append(f"[options.{backend}]: {type(e).__name__}: {e}")
    for backend, device, dtype in request.get("combinations", []):
        if backend in entries:
            why = entries[backend].capabilities.why_not(device, dtype)
            if why:
                skips.append([backend, device, dtype, why])
    for spec in request["data"]:
        try:
            datasets.load_raw(datasets.DataSpec(**spec))
        except UserError as e:
            problems.append(f"[data]: {e}")
    return {"problems": problems, "skips": skips, "plans": plans, "differ": differ}


def main() -> int:
    from mlpbench.worker.child import drop_working_directory

    drop_working_directory()
    print(json.dumps(check(json.loads(sys.stdin.read()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
