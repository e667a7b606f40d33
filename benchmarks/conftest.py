"""Micro-benchmarks of the NumPy backend's step (pytest-benchmark); not part of `make test`."""
