"""The plain NumPy MLP's maths, once: the ``numpy-plain`` backend runs it in the harness,
``numpy-script`` and ``mlpbench repro`` inline it (everything below the marker line) into the
standalone script, which then runs without mlpbench. Written as a careful person writes a
plain script (issue 51): ``A @ W`` then ``+= b`` and the sigmoid in place, the momentum and
RMSprop state and the weights updated in place, no thread tricks, no preallocated buffers
across steps; the maths every backend computes (Keras's loss definitions, clipping and update
rules). Python 3.7 syntax, no annotations: the script runs in the article's old stacks."""

import numpy as np

# --- inlined below this line ---
EPS = 1e-7


def activate(z, name):
    """The activation of ``z``, a fresh array: the sigmoid in place (four ufuncs, no
    temporaries)."""
    if name == "sigmoid":
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1
        return np.reciprocal(z, out=z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    e = np.exp(z - z.max(axis=1, keepdims=True))  # softmax
    return e / e.sum(axis=1, keepdims=True)


def derivative(a, name):
    """d activation / dz, from the activation's output."""
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    return (a > 0).astype(a.dtype)  # relu


class PlainMLP:
    """Weights ``W``, biases ``b`` and their optimizer state; ``model`` and ``train`` are
    mappings of the settings the maths reads (activation, output_activation, loss, l1, l2,
    regularize_output; optimizer, rho, epsilon, momentum)."""

    def __init__(self, W, b, model, train):
        self.W, self.b, self.model, self.train = list(W), list(b), model, train
        self.vW = [np.zeros_like(w) for w in self.W]
        self.vb = [np.zeros_like(c) for c in self.b]
        self.last = len(self.W) - 1

    def regularized(self, l):
        return l < self.last or self.model["regularize_output"]

    def forward(self, x):
        acts = [x]
        for l, (w, c) in enumerate(zip(self.W, self.b)):
            name = self.model["output_activation"] if l == self.last else self.model["activation"]
            z = acts[-1] @ w
            z += c
            acts.append(activate(z, name))
        return acts

    def data_loss(self, a, labels):
        rows = np.arange(len(labels))
        if self.model["loss"] == "categorical_crossentropy":
            p = a[rows, labels] / a.sum(axis=1)
            return float(-np.log(np.clip(p, EPS, 1 - EPS)).mean())
        t = np.clip(a, EPS, 1 - EPS)
        onehot = np.zeros_like(a)
        onehot[rows, labels] = 1
        return float(-(onehot * np.log(t) + (1 - onehot) * np.log(1 - t)).mean())

    def penalty(self):
        m = self.model
        return sum(
            m["l2"] * float((w * w).sum()) + m["l1"] * float(np.abs(w).sum())
            for l, w in enumerate(self.W)
            if self.regularized(l)
        )

    def loss(self, a, labels):
        return self.data_loss(a, labels) + self.penalty()

    def update(self, p, g, v, lr):
        """``p`` and its optimizer state ``v`` updated in place (the same rounding as the
        textbook expressions: each operation in their order)."""
        t = self.train
        if t["optimizer"] == "rmsprop":
            v *= t["rho"]
            g2 = (1 - t["rho"]) * g
            g2 *= g
            v += g2
            step = v + t["epsilon"]
            np.sqrt(step, out=step)
            np.divide(lr * g, step, out=step)
            p -= step
        elif t["momentum"]:
            v *= t["momentum"]
            v -= lr * g
            p += v
        else:
            p -= lr * g

    def step(self, x, y, lr):
        """One mini-batch: forward, loss, backward, update; returns the loss before it."""
        m, model = len(y), self.model
        acts = self.forward(x)
        a, rows = acts[-1], np.arange(m)
        loss = self.loss(a, y)
        onehot = np.zeros_like(a)
        onehot[rows, y] = 1
        if model["loss"] == "categorical_crossentropy":
            delta = a / a.sum(axis=1, keepdims=True) - onehot
            if model["output_activation"] == "sigmoid":
                delta = delta * (1 - a)
            delta = delta / m
        else:
            delta = (a - onehot) / (m * a.shape[1])
        W, b, vW, vb = self.W, self.b, self.vW, self.vb
        for l in range(self.last, -1, -1):
            gw, gb = acts[l].T @ delta, delta.sum(axis=0)
            if self.regularized(l):
                gw += 2 * model["l2"] * W[l]
                if model["l1"]:
                    gw += model["l1"] * np.sign(W[l])
            if l > 0:
                delta = (delta @ W[l].T) * derivative(acts[l], model["activation"])
            self.update(W[l], gw, vW[l], lr)
            self.update(b[l], gb, vb[l], lr)
        return loss
