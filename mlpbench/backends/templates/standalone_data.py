"""The data loading both standalone scripts share: MNIST from mnist.npz (or $MLPBENCH_MNIST),
or the seeded synthetic problem mlpbench draws. Everything below the marker line is inlined
into each script by ``mlpbench.worker.standalone``; what is above only lets this file stand
alone for the linter."""

import os
from pathlib import Path

import numpy as np

HERE = Path.cwd()


# --- inlined below this line ---
def load_data(data, dtype):
    """The point's data: MNIST from mnist.npz beside this script (or $MLPBENCH_MNIST), or
    the same seeded synthetic problem mlpbench draws."""
    if data["dataset"] == "synthetic":
        rng = np.random.default_rng(data["seed"])
        k, d = data["synthetic_classes"], data["synthetic_features"]
        centres = rng.uniform(40, 215, size=(k, d))
        n_test = max(data["synthetic_samples"] // 5, k)

        def draw(n):
            y = rng.integers(0, k, size=n).astype(np.uint8)
            x = centres[y] + rng.normal(0, 60, size=(n, d))
            return np.clip(x, 0, 255).astype(np.uint8), y

        x, y = draw(data["synthetic_samples"])
        xt, yt = draw(n_test)
    else:
        path = os.environ.get("MLPBENCH_MNIST") or str(HERE / "mnist.npz")
        with np.load(path) as f:
            x, y, xt, yt = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        x, xt = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    if data["subset"]:
        x, y = x[: data["subset"]], y[: data["subset"]]
    if data["test_subset"]:
        xt, yt = xt[: data["test_subset"]], yt[: data["test_subset"]]
    dt = np.dtype(dtype)
    if data["scaling"] == "divide255":
        xf, xtf = x.astype(dt) / dt.type(255), xt.astype(dt) / dt.type(255)
    else:
        mean, std = x.mean(axis=0, dtype=np.float64), x.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0
        xf, xtf = ((x - mean) / std).astype(dt), ((xt - mean) / std).astype(dt)
    return np.ascontiguousarray(xf), y.astype(np.int64), np.ascontiguousarray(xtf), yt
