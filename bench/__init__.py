"""The harness: configs, sweeps, workers, results, statistics, plots. It imports no framework."""

# First, before anything imports NumPy: OpenBLAS's idle-thread setting (see bench.threads).
import bench.threads  # noqa: F401
