"""Before a sweep starts: can every backend of its grid load, take its options, and find its data?

Run as ``python -m bench.preflight`` in a fresh process, like a worker (same ``sys.path``, so a
plugin shadowed by a folder in the working directory is found exactly as the workers find it),
so that the sweep's own process imports no framework. Reads a JSON request on stdin, prints a
JSON list of problems, one sentence each.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def check(request: dict[str, Any]) -> list[str]:
    from bench import data as datasets
    from bench import registry
    from bench.errors import UserError

    problems = []
    for backend, option_sets in request["backends"].items():
        try:
            cls = registry.load(backend).cls
        except UserError as e:
            problems.append(str(e))
            continue
        check_options = getattr(cls, "check_options", None)
        for options in option_sets if callable(check_options) else []:
            try:
                check_options(options)
            except UserError as e:
                problems.append(f"[options.{backend}]: {e}")
            except Exception as e:  # a plugin's own check that fails in its own way
                problems.append(f"[options.{backend}]: {type(e).__name__}: {e}")
    for spec in request["data"]:
        try:
            datasets.load_raw(datasets.DataSpec(**spec))
        except UserError as e:
            problems.append(f"[data]: {e}")
    return problems


def main() -> int:
    from bench.worker import drop_working_directory

    drop_working_directory()
    print(json.dumps(check(json.loads(sys.stdin.read()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
