"""The harness: configs, sweeps, workers, results, statistics, plots. It imports no framework,
and importing it changes nothing in the process (variables a point needs before NumPy loads,
such as a thread plan's, are set by the sweep for that point's worker only)."""
