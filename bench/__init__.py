"""The harness: configs, sweeps, workers, results, statistics, plots. It imports no framework."""

import os as _os

from bench.threads import BLAS_IDLE_ENV as _BLAS_IDLE_ENV

# Before anything imports NumPy (OpenBLAS reads these once); a user's own value wins.
for _key, _value in _BLAS_IDLE_ENV.items():
    _os.environ.setdefault(_key, _value)
