"""The harness: configs, sweeps, workers, results, statistics, plots. It imports no framework,
and importing it changes nothing in the process (variables a point needs before NumPy loads,
such as a thread plan's, are set by the sweep for that point's worker only)."""


def __getattr__(name: str) -> str:
    """``mlpbench.__version__``, looked up on first use (a worker's start stays lean)."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlpbench")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"
