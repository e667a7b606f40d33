"""A standalone reproducer of one mlpbench point in Keras: Keras and NumPy, no mlpbench.

(In mlpbench this file is the template `mlpbench repro` fills in; it is not imported. It is
also what a sweep runs in a version stack whose Python mlpbench cannot run in, such as the
article's 2020 stack on Python 3.8: it keeps to what Keras 2.3 and Keras 3 both offer.)

The network, initial weights, loss, L1/L2 penalty, optimizer and learning-rate decay are the
point's, built the Keras way (Sequential of Dense layers, one fit() call, Keras's own
shuffling, one step per call). Usage:

    python run.py            # prints one line per epoch, then the steady epoch
    python run.py --machine-defaults   # this machine's BLAS settings, not the run's
"""

import json
import math
import os
import sys
import time
from pathlib import Path

SETTINGS = json.loads(r"""__SETTINGS__""")
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
THREADS = str(SETTINGS["threads"])
from standalone_env import prepare_environment, report_blas  # noqa: E402  (inlined)

prepare_environment(("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np  # noqa: E402
from standalone_data import load_data  # noqa: E402  (inlined by mlpbench.worker.standalone)


def main():
    model_s, train, dtype = SETTINGS["model"], SETTINGS["train"], SETTINGS["dtype"]
    t0 = time.perf_counter()
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(THREADS))
        tf.config.threading.set_inter_op_parallelism_threads(int(THREADS))
    except (RuntimeError, AttributeError):
        pass
    import_s = time.perf_counter() - t0
    report_blas()
    x, y, xt, yt = load_data(SETTINGS["data"], dtype)
    classes = int(max(y.max(), yt.max())) + 1
    onehot = np.eye(classes, dtype=dtype)[y]
    keras.backend.set_floatx(dtype)
    layers = model_s["layers"]
    last = len(layers) - 2
    model = keras.models.Sequential()
    for l, n_out in enumerate(layers[1:]):
        reg = None
        if (l < last or model_s["regularize_output"]) and (model_s["l1"] or model_s["l2"]):
            reg = keras.regularizers.l1_l2(l1=model_s["l1"], l2=model_s["l2"])
        act = model_s["output_activation"] if l == last else model_s["activation"]
        kwargs = {"input_shape": (layers[0],)} if l == 0 else {}
        model.add(keras.layers.Dense(n_out, activation=act, kernel_regularizer=reg, **kwargs))
    rng = np.random.default_rng(train["seed"])  # the initial weights every backend starts from
    weights = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        if model_s["init"] == "glorot_uniform":
            r = math.sqrt(6.0 / (n_in + n_out))
        else:
            r = model_s["init_factor"] / math.sqrt(n_in)
        weights += [rng.uniform(-r, r, size=(n_in, n_out)).astype(dtype), np.zeros(n_out, dtype)]
    model.set_weights(weights)
    lr = train["learning_rate"]
    if train["optimizer"] == "rmsprop":
        opt = keras.optimizers.RMSprop(learning_rate=lr, rho=train["rho"], epsilon=train["epsilon"])
    else:
        opt = keras.optimizers.SGD(learning_rate=lr, momentum=train["momentum"])
    options = SETTINGS.get("options", {})
    if options.get("keras_logits_shortcut"):
        loss = model_s["loss"]
    else:  # as the sweep's run: the documented formula, never Keras's cached-logits shortcut
        formula = getattr(keras.losses, model_s["loss"])

        def loss(y_true, y_pred):
            return formula(y_true, y_pred * 1.0)  # a new tensor carries no cached logits

        loss.__name__ = model_s["loss"]
    model.compile(optimizer=opt, loss=loss)
    rates, rate = [], lr
    for e in range(train["epochs"]):
        rate = rate / (1.0 + train["decay"] * e)  # the article's compounding decay
        rates.append(rate)

    times, cpus = [], []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = time.perf_counter() - self.t[0], time.process_time() - self.t[1]
            times.append(wall)
            cpus.append(cpu)
            loss = float((logs or {}).get("loss", float("nan")))
            line = f"epoch {epoch + 1:3d}/{train['epochs']}  {wall:8.3f} s  (cpu {cpu:6.2f} s)"
            print(f"{line}  loss {loss:.4f}", flush=True)

    callbacks = [Timer()]
    if train["decay"]:
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda e, _=None: rates[e]))
    print(
        f"{SETTINGS['title']}: keras {keras.__version__}, tensorflow {tf.__version__}, "
        f"numpy {np.__version__}, {len(x)} samples",
        flush=True,
    )
    # Keras's shuffling draws from the global seeds, set from the run's seed right before
    # fit() as the sweep's run sets them: the same batches, so the same losses.
    seed = train["seed"]
    try:
        keras.utils.set_random_seed(seed)
    except AttributeError:  # Keras 2.3: each generator on its own
        import random

        random.seed(seed)
        np.random.seed(seed)
        tf.random.set_seed(seed)
    t1 = time.perf_counter()
    if train["shuffle"] == "harness":  # the harness's batches, in its order, every epoch
        n, b = len(x), train["batch_size"]

        def batches():
            for epoch in range(train["epochs"]):
                idx = np.random.default_rng([seed, epoch]).permutation(n)
                for start in range(0, n, b):
                    yield x[idx[start : start + b]], onehot[idx[start : start + b]]

        history = model.fit(
            batches(), steps_per_epoch=math.ceil(n / b), epochs=train["epochs"],
            shuffle=False, verbose=0, callbacks=callbacks,
        )  # fmt: skip
    else:
        history = model.fit(
            x,
            onehot,
            batch_size=train["batch_size"],
            epochs=train["epochs"],
            shuffle=train["shuffle"] != "none",
            verbose=0,
            callbacks=callbacks,
        )
    train_s = time.perf_counter() - t1
    probs = model.predict(xt.astype(dtype), batch_size=min(len(xt), 10000), verbose=0)
    test_onehot = np.eye(classes, dtype=dtype)[yt]
    test_loss = float(model.evaluate(xt.astype(dtype), test_onehot, verbose=0))
    accuracy = float((probs.argmax(axis=1) == yt).mean())
    steady = float(np.median(times[1:] or times))  # epoch 1 carries the tracing
    print(f"test accuracy {accuracy:.4f}")
    print(f"steady epoch {steady:.4f} s (median of epochs 2..{train['epochs']})")
    losses = [float(v) for v in history.history.get("loss", [])]
    print("RESULT " + json.dumps({
        "epochs": [[w, c, v] for w, c, v in zip(times, cpus, losses)],
        "import_s": import_s, "train_s": train_s, "n_train": len(x),
        "test_loss": test_loss, "test_accuracy": accuracy,
        "framework": keras.__version__,  # the version the run's row names
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__,
                     "numpy": np.__version__},
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
