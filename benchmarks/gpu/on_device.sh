#!/usr/bin/env bash
# Run on a lent GPU machine (the device tool), from the repository root, with gpu-bundle/
# carried (benchmarks/gpu/bundle.sh builds it): installs the bundle's wheels without
# dependencies (the machine's torch, jax, cupy, pandas and scipy stay as they are), runs the
# shipped `gpu` sweep (SWEEP=... for another), and leaves under $OUT the result set as one
# archive and what the machine is (nvidia-smi, lscpu, pip freeze). Back here:
#   tar xzf .../gpu-results.tgz -C results/ && mlpbench report results/<dir> --markdown docs/results
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
BUNDLE=${BUNDLE:-gpu-bundle}
PY=${PY:-python3}
{
    nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    lscpu | grep -E "Model name|^CPU\(s\)"; "$PY" --version
} > "$OUT/machine.txt" 2>&1
"$PY" -m pip install -q --no-deps --no-index --find-links "$BUNDLE" \
    mlpbench mlpbench-torch keras namex optree threadpoolctl tqdm packaging psutil \
    typing_extensions absl-py rich markdown-it-py mdurl pygments \
    >> "$OUT/machine.txt" 2>&1 || { echo "install failed"; tail -20 "$OUT/machine.txt"; exit 1; }
"$PY" -m pip freeze > "$OUT/pip-freeze.txt" 2>&1
export MLPBENCH_MNIST="$PWD/$BUNDLE/mnist.npz"
[ -f "$BUNDLE/COMMIT" ] && export MLPBENCH_COMMIT="$(cat "$BUNDLE/COMMIT")"  # the pages' commit
RESULTS=$(mktemp -d)
"$PY" -m mlpbench backends 2>&1 | tee "$OUT/backends.txt"
"$PY" -m mlpbench sweep "${SWEEP:-gpu}" --results "$RESULTS" 2>&1 | tee "$OUT/sweep.log" | tail -40
rc=${PIPESTATUS[0]}
tar czf "$OUT/gpu-results.tgz" -C "$RESULTS" .
echo "sweep exit $rc; result set: $OUT/gpu-results.tgz"
exit "$rc"
