"""The execution environment of a standalone script: the thread and BLAS variables the run had,
set before NumPy or a framework loads, and the BLAS the script then got beside the run's.

(In mlpbench this file is inlined into the templates below its marker line by
``mlpbench.worker.standalone``; it is not imported. It keeps to Python 3.7, as the templates do.)
"""

import os
import sys

SETTINGS = {"environment": {}, "threads": 1, "blas": {}}  # the script's own, in run.py

# --- inlined below this line ---
import os  # noqa: E402, F811  (the inlined part stands alone in a script)
import re  # noqa: E402
import sys  # noqa: E402, F811

RUN_VARIABLES = re.compile(r"(?:OMP|OPENBLAS|GOTO|MKL|BLIS|VECLIB|NUMEXPR)_\w+|\w+_NUM_\w+_THREADS")
MACHINE_DEFAULTS = "--machine-defaults"


def prepare_environment(thread_variables):
    """The run's thread and BLAS variables (its BLAS kernel, pool sizes and idle behaviour),
    replacing any of this shell's: the same kernel as the run, whatever the machine's image
    sets. With --machine-defaults, this machine's own settings and only the point's thread
    count (``thread_variables``, where not set already)."""
    recorded = SETTINGS["environment"]
    if MACHINE_DEFAULTS in sys.argv[1:] or not recorded:
        for variable in thread_variables:
            os.environ.setdefault(variable, str(SETTINGS["threads"]))
        return
    for name in [k for k in os.environ if RUN_VARIABLES.fullmatch(k) and k not in recorded]:
        del os.environ[name]
    os.environ.update(recorded)


def blas_now():
    """The BLAS NumPy loaded (threadpoolctl): library, kernel and threads; {} without it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    pools.sort(key=lambda p: "numpy" not in str(p.get("filepath", "")).lower())
    if not pools:
        return {}
    return {k: pools[0].get(k) for k in ("internal_api", "architecture", "num_threads")}


def describe_blas(blas):
    if not blas:
        return "unknown"
    return "{} kernel {} with {} thread(s)".format(
        blas.get("internal_api") or "?", blas.get("architecture") or "?",
        blas.get("num_threads") if blas.get("num_threads") is not None else "?",
    )


def report_blas():
    """One line: the BLAS this process got and the run's; one more when they differ."""
    got, run = blas_now(), SETTINGS["blas"]
    mode = "this machine's defaults" if MACHINE_DEFAULTS in sys.argv[1:] else "the run's variables"
    if not got:
        print("BLAS: unknown here (pip install threadpoolctl to see the kernel); the sweep's "
              "run: " + describe_blas(run), flush=True)
        return
    print("BLAS: " + describe_blas(got) + " (" + mode + "); the sweep's run: "
          + describe_blas(run), flush=True)
    keys = [k for k in ("internal_api", "architecture", "num_threads") if run.get(k) not in
            (None, "")]
    differ = [k for k in keys if str(got.get(k)) != str(run.get(k))]
    if differ:
        print("BLAS differs from the sweep's run (" + ", ".join(
            f"{k} {got.get(k)} here, {run.get(k)} there" for k in differ
        ) + "): times are not comparable with the sweep's", flush=True)
