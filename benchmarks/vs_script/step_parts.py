"""Where the tool's step stands against the careful script's at small batches, in one process
on real MNIST (issue 51): the tuned backend's ``MLP.step`` against plain_mlp.py's step, each
timed over the same batches in turn (the tool's loss taken from its outputs once a pass, as an
epoch does), and the tool's step again with its L2 penalty switched off (what the script does
not compute). Same-moment ratios, not absolute
figures: a step's cost drifts as training goes on.

    python benchmarks/vs_script/step_parts.py THREADS BATCH PLAN   (e.g. 2 100 spin-pad)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from mlpbench import data as datasets
from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.backends.numpy.model import PhaseClock
from mlpbench.backends.numpy.trainer import NumpyTrainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_mlp import L2, LR, MOMENTUM, SIZES, script_step  # noqa: E402  (the script's own)


def main(threads: int, batch: int, plan: str) -> None:
    d = datasets.load(datasets.DataSpec(dataset="mnist"), "float32")
    x, y = d.x[:12000], d.y[:12000]
    onehot = np.eye(10, dtype=np.float32)[y]
    spec = ModelSpec(layers=tuple(SIZES), loss="binary_crossentropy", l2=L2)
    train = TrainSpec(batch_size=batch, optimizer="sgd", momentum=MOMENTUM, learning_rate=LR)
    tool = NumpyTrainer(spec, train, options={"threads": threads, "plan": plan}).model
    tool.ensure_batch(batch)
    tool.step_source = None
    clock = PhaseClock(enabled=False)
    rng = np.random.default_rng(0)
    script = script_step(x, onehot, np.float32, rng)

    order = rng.permutation(len(x))

    def per_step_us(step) -> float:
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for s in range(0, len(x), batch):
                step(order[s : s + batch])
            best = min(best, time.perf_counter() - t0)
        return 1e6 * best / -(-len(x) // batch)

    def tool_step(idx: np.ndarray) -> None:
        tool.step(x, y, idx, LR, clock)
        if idx[-1] == order[-1]:  # the pass's end: its loss, as an epoch's end takes it
            tool.outputs.take()

    penalty = tool.penalty
    with np.errstate(over="ignore"), threadpool_limits(threads):
        for label, with_penalty in (("with its loss", True), ("penalty off", False)):
            tool.penalty = penalty if with_penalty else (lambda: 0.0)
            for _ in range(3):
                t, s = per_step_us(tool_step), per_step_us(script)
                print(f"threads {threads} batch {batch} {plan}, tool {label}: {t:.0f} us a "
                      f"step, script {s:.0f} us, tool/script {t / s:.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
