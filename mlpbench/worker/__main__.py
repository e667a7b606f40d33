"""``python -m mlpbench.worker train|check|gemm ARGS``: the child side of every process a sweep
spawns (pyperf's ``_worker`` beside its ``_manager``; the parent side is ``mlpbench.sweep``).

- ``train FD PARENT_PID [CPUS]``: one point, spec on stdin, result on pipe ``FD`` (``child``).
- ``check [FD]``: can one backend load and take its options, is the data there (``check``).
- ``gemm --dtype ... --threads ...``: the GEMM peak of one combination (``gemm``).
- ``describe [MODULE ...]``: this interpreter's versions, BLAS and backends (``inventory``).

This package imports only the standard library, NumPy, psutil, ``mlpbench.api`` and the leaf
modules it names (data, machine.threads, machine.probe, results.schema), and the backend it
runs: never pandas, matplotlib, scipy or dask (``tests/test_layout.py`` checks the closure).
"""

from __future__ import annotations

import os
import sys

USAGE = "usage: python -m mlpbench.worker {train,check,gemm,describe} ..."


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("train", "check", "gemm", "describe"):
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    parent = os.environ.pop("MLPBENCH_PARENT", "")  # set by mlpbench.sweep.spawn.spawn
    if parent.isdigit():  # first: a hanging import must still die with the sweep
        from mlpbench.worker.child import die_with_parent

        die_with_parent(int(parent))
    if command == "train":
        from mlpbench.worker import child

        return child.main(rest)
    if command == "check":
        from mlpbench.worker import check

        return check.main(rest)
    if command == "describe":
        from mlpbench.worker import inventory

        return inventory.main(rest)
    from mlpbench.worker import gemm

    return gemm.main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
