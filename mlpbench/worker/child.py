"""One sweep point in a fresh process: ``python -m mlpbench.worker train FD PARENT_PID [CPUS]``.

The spec arrives as JSON on stdin; progress and the result go back as JSON lines on the pipe
``FD``, apart from whatever the backend prints. Nothing is written to disk, so nothing can be
left behind. The parent has already set the thread variables in this process's environment, so
the BLAS and the framework start with the right pools. The worker dies with its parent (Linux:
``PR_SET_PDEATHSIG``; elsewhere a thread watches the parent), so a killed sweep never leaves a
point running that would slow the next one. Whatever happens in the run, the worker sends a
result (ok, skipped or failed with the reason; everything the backend returned checked by
``mlpbench.api.records``) and exits at once; only a hard crash sends none, and the parent
reports that as failed.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` ends, whatever signal ended it."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def drop_working_directory() -> None:
    """A folder of the same name as a plugin in the working directory must not shadow the
    installed plugin: the worker imports what ``mlpbench backends`` sees."""
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]


def send(out: IO[str], **message: Any) -> None:
    out.write(json.dumps(message, default=float) + "\n")
    out.flush()


def main(argv: list[str]) -> int:
    fd, parent = int(argv[0]), int(argv[1])
    die_with_parent(parent)
    drop_working_directory()
    if len(argv) > 2 and argv[2]:  # pinned before NumPy or a framework starts its threads
        from mlpbench.machine.threads import parse_cpu_list

        os.sched_setaffinity(0, parse_cpu_list(argv[2]))
    out = os.fdopen(fd, "w")

    from mlpbench.api.protocol import EpochRecord
    from mlpbench.api.spec import RunSpec
    from mlpbench.results.point import PointResult
    from mlpbench.results.profile import PROFILE_ENV
    from mlpbench.worker.train import Skip, run

    started = time.time()
    epochs: list[EpochRecord] = []
    result = PointResult("failed", "the worker ended without a result", started_at=started)
    try:
        spec = RunSpec.from_json(json.loads(sys.stdin.read()))

        def progress(e: EpochRecord) -> None:  # only records that passed the checks
            if e.epoch == 0:  # a run timed again with more epochs starts over
                epochs.clear()
            epochs.append(e)
            send(out, progress={"epoch": e.epoch + 1, "of": spec.train.epochs})

        from threadpoolctl import threadpool_limits

        profiler = None
        if os.environ.get(PROFILE_ENV):  # a profiled run (mlpbench.worker.profiler)
            from mlpbench.worker.profiler import Profiler

            profiler = Profiler(os.environ[PROFILE_ENV], spec.device)
        with threadpool_limits(limits=spec.threads):
            result.summary, epochs = run(spec, progress, profiler)
        result.profile = profiler.result if profiler is not None else None
        result.status, result.reason = "ok", ""
    except Skip as e:
        result.status, result.reason = "skipped", str(e)
    except MemoryError:
        result.reason = "out of memory (MemoryError)"
    except Exception as e:
        last = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        where = f" at {Path(last.filename).name}:{last.lineno}" if last else ""
        result.reason = f"{type(e).__name__}: {e}{where}"
    result.epochs = list(epochs)
    result.worker_s = time.time() - started
    send(out, result=result.to_json())
    # Done: a thread or an exit handler the backend left behind must not hang or crash the
    # worker after its result is out.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
