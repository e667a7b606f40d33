"""Import the harness before anything loads NumPy: it sets OpenBLAS's idle-thread timeout
(bench.threads.BLAS_IDLE_ENV), which OpenBLAS reads only once."""

import bench  # noqa: F401
