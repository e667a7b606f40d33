"""One sweep point in a fresh process: ``python -m bench.worker SPEC.json RESULT.json``.

The parent has already set the thread variables in this process's environment, so the BLAS
and the framework start with the right pools. Whatever happens, the worker writes a result
(ok, skipped or failed with the reason); only a hard crash leaves none, and the parent
reports that as failed.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from bench.protocol import EpochRecord
from bench.runner import RunSpec, Skip, run

PROGRESS = "@@mlpbench "  # prefix of the progress lines the parent reads


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    spec = RunSpec.from_json(json.loads(spec_path.read_text()))
    started = time.time()
    epochs: list[EpochRecord] = []

    def progress(e: EpochRecord) -> None:
        epochs.append(e)
        print(
            PROGRESS
            + json.dumps({"epoch": e.epoch + 1, "of": spec.train.epochs, "wall_s": e.wall_s}),
            flush=True,
        )

    result: dict = {"started_at": started}
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=spec.threads):
            summary, epochs = run(spec, progress)
        result.update(status="ok", reason="", summary=summary)
    except Skip as e:
        result.update(status="skipped", reason=str(e))
    except MemoryError:
        result.update(status="failed", reason="out of memory (MemoryError)")
    except Exception as e:
        last = traceback.extract_tb(e.__traceback__)[-1]
        where = f" at {Path(last.filename).name}:{last.lineno}" if last else ""
        result.update(status="failed", reason=f"{type(e).__name__}: {e}{where}")
    result["epochs"] = [asdict(e) for e in epochs]
    result["worker_s"] = time.time() - started
    result_path.write_text(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
