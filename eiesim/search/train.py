"""A small seeded numpy trainer for the MLP classifiers EIE runs, with pruning masks held fixed.

A model here is what EIE executes layer after layer (docs/hardware.md §1): fully connected
layers ``y = W x + b`` with weights (out, in), ReLU between layers, and the class the argmax of
the last layer's output before ReLU. Training is softmax cross-entropy with mini-batch Adam
(Kingma and Ba, 2015); every random choice (initial weights, batch order) takes a seed.

Fine-tuning a pruned network (Han et al., "Learning both Weights and Connections", 2015)
retrains the kept weights only: with ``masks`` given, each gradient is masked and every weight
whose mask is False is set back to exactly 0.0 after each Adam step, so a pruned weight never
returns, whatever Adam's moment estimates hold.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.random((64, 4)); y = (x[:, 0] > x[:, 1]).astype(np.int64)
>>> model = init_mlp([4, 8, 2], seed=0)
>>> trained = train(model, x, y, epochs=20, lr=1e-2, seed=0)
>>> bool(loss(trained, x, y) < loss(model, x, y))
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from eiesim.errors import EiesimError
from eiesim.search.train_kernels import adam_step, flat_views

__all__ = ["MLP", "TrainError", "accuracy", "fine_tune", "forward", "init_mlp", "loss",
           "loss_and_gradients", "train"]


class TrainError(EiesimError):
    """A bad argument to the trainer (shapes, labels, hyper-parameters)."""


@dataclass(eq=False)
class MLP:
    """A ReLU multi-layer perceptron: ``weights[k]`` (out, in), ``biases[k]`` (out,) or None."""

    weights: list[np.ndarray]
    biases: list[np.ndarray | None]

    def __post_init__(self) -> None:
        if not self.weights:
            raise TrainError("a model needs at least one layer; give weights=[W0, ...] with "
                             "each W of shape (out, in)")
        if len(self.biases) != len(self.weights):
            raise TrainError(f"{len(self.weights)} weight matrices but {len(self.biases)} "
                             f"biases; give one bias (or None) per layer")
        self.weights = [np.array(w, dtype=np.float64) for w in self.weights]
        self.biases = [None if b is None else np.array(b, dtype=np.float64)
                       for b in self.biases]
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or 0 in w.shape:
                raise TrainError(f"layer {k}'s weights have shape {w.shape}; each layer needs a "
                                 f"non-empty (out, in) matrix")
            if not np.all(np.isfinite(w)):
                raise TrainError(f"layer {k}'s weights hold NaN or infinite values; give "
                                 f"finite weights")
            if b is not None and (b.shape != (w.shape[0],) or not np.all(np.isfinite(b))):
                raise TrainError(f"layer {k}'s bias has shape {b.shape}; it must be finite "
                                 f"with shape ({w.shape[0]},), one value per output")
            if k and w.shape[1] != self.weights[k - 1].shape[0]:
                raise TrainError(f"layer {k - 1} has {self.weights[k - 1].shape[0]} outputs but "
                                 f"layer {k} has {w.shape[1]} inputs; the shapes must chain")

    @property
    def num_layers(self) -> int:
        return len(self.weights)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [tuple(w.shape) for w in self.weights]  # type: ignore[misc]

    @property
    def in_features(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.weights[-1].shape[0])

    def copy(self) -> MLP:
        return MLP([w.copy() for w in self.weights],
                   [None if b is None else b.copy() for b in self.biases])

    def masked(self, masks: Sequence[np.ndarray]) -> MLP:
        """A copy with every weight outside its layer's mask set to 0."""
        masks = _check_masks(masks, self)
        return MLP([np.where(m, w, 0.0) for w, m in zip(self.weights, masks)],
                   [None if b is None else b.copy() for b in self.biases])

    @property
    def density(self) -> float:
        """Non-zero weights over all weights (biases not counted)."""
        return sum(int(np.count_nonzero(w)) for w in self.weights) / \
            sum(w.size for w in self.weights)

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        return forward(self, inputs)[-1]

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(inputs), axis=1)


def init_mlp(sizes: Sequence[int], *, seed: int = 0, bias: bool = True) -> MLP:
    """A fresh MLP with layer widths ``sizes`` (inputs first, classes last), He-initialised."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise TrainError(f"sizes = {sizes} must list at least the input width and the number "
                         f"of classes, all >= 1; e.g. [64, 300, 100, 10]")
    _check_seed(seed)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
               for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
    return MLP(weights, [np.zeros(n) if bias else None for n in sizes[1:]])


def forward(model: MLP, inputs: np.ndarray) -> list[np.ndarray]:
    """Inputs of every layer and the logits: ``[x, h1, ..., logits]`` (ReLU between layers)."""
    outputs = [np.asarray(inputs, dtype=np.float64)]
    last = model.num_layers - 1
    for k, (w, b) in enumerate(zip(model.weights, model.biases)):
        z = outputs[-1] @ w.T
        if b is not None:
            z = z + b
        outputs.append(z if k == last else np.maximum(z, 0.0))
    return outputs


def loss_and_gradients(model: MLP, inputs: np.ndarray, labels: np.ndarray
                       ) -> tuple[float, list[np.ndarray], list[np.ndarray | None]]:
    """Mean softmax cross-entropy over (inputs, labels) and its gradients dL/dW, dL/db."""
    activations = forward(model, inputs)
    logits = activations[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    value = -float(log_probs[np.arange(n), labels].mean())
    delta = np.exp(log_probs)
    delta[np.arange(n), labels] -= 1.0
    delta /= n
    grad_w: list[np.ndarray] = [np.empty(0)] * model.num_layers
    grad_b: list[np.ndarray | None] = [None] * model.num_layers
    for k in range(model.num_layers - 1, -1, -1):
        grad_w[k] = delta.T @ activations[k]
        if model.biases[k] is not None:
            grad_b[k] = delta.sum(axis=0)
        if k:
            delta = (delta @ model.weights[k]) * (activations[k] > 0)
    return value, grad_w, grad_b


def loss(model: MLP, inputs: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy of ``model`` on (inputs, labels)."""
    inputs, labels = _check_data(model, inputs, labels)
    return loss_and_gradients(model, inputs, labels)[0]


def accuracy(model: MLP, inputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose argmax logit is the label (float64 arithmetic)."""
    inputs, labels = _check_data(model, inputs, labels)
    return float(np.mean(model.predict(inputs) == labels))


def train(model: MLP, inputs: np.ndarray, labels: np.ndarray, *, epochs: int = 30,
          lr: float = 2e-3, batch_size: int = 32, seed: int = 0,
          masks: Sequence[np.ndarray] | None = None,
          penalty: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
          after_step: Callable[[MLP, int], None] | None = None,
          validation: tuple[np.ndarray, np.ndarray] | None = None, patience: int = 2) -> MLP:
    """A trained copy of ``model``: ``epochs`` passes of mini-batch Adam over seeded shuffles.

    With ``masks`` (one bool array per layer, True = kept), weights outside a mask start at 0
    and stay exactly 0 (module doc); biases are always trained.

    Hooks of the pruning criteria (:mod:`eiesim.search.criteria`): ``penalty(weights)`` returns
    the gradient of a differentiable regulariser, added to each batch's weight gradients;
    ``after_step(model, step)`` runs after every Adam step (``step`` counts from 1) and may
    change the weights in place (a proximal step) or record them (a lottery ticket's rewind
    point).
    With ``validation`` (inputs, labels), early stopping on the validation loss: training stops
    after ``patience`` epochs without a lower loss, and the weights of the lowest loss are
    returned, the starting (masked) weights included, so training never returns a model with
    a higher validation loss than it was given.
    """
    _check_positive_int(epochs, "epochs")
    _check_positive_int(batch_size, "batch_size")
    _check_positive_int(patience, "patience")
    _check_seed(seed)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
        raise TrainError(f"lr = {lr!r} must be a positive learning rate, e.g. 2e-3")
    inputs, labels = _check_data(model, inputs, labels)
    result = model.copy() if masks is None else model.masked(masks)
    stopper = None if validation is None else _EarlyStopping(result, *validation, patience)
    checked = None if masks is None else _check_masks(masks, model)
    params = result.weights + [b for b in result.biases if b is not None]
    optimizer = _Adam(params, float(lr))
    rng = np.random.default_rng(seed)
    n = inputs.shape[0]
    for _ in range(int(epochs)):
        order = rng.permutation(n)
        for start in range(0, n, int(batch_size)):
            batch = order[start: start + int(batch_size)]
            _, grad_w, grad_b = loss_and_gradients(result, inputs[batch], labels[batch])
            if penalty is not None:
                grad_w = [g + p for g, p in zip(grad_w, penalty(result.weights))]
            if checked is not None:
                grad_w = [g * m for g, m in zip(grad_w, checked)]
            optimizer.step(params, grad_w + [g for g in grad_b if g is not None])
            if checked is not None:
                for w, m in zip(result.weights, checked):
                    w *= m  # a pruned weight stays exactly 0 (Adam's momentum would move it)
            if after_step is not None:
                after_step(result, optimizer.step_count)
        if stopper is not None and stopper.should_stop(result):
            break
    return result if stopper is None else stopper.best


def fine_tune(model: MLP, inputs: np.ndarray, labels: np.ndarray,
              masks: Sequence[np.ndarray], *, epochs: int = 3, lr: float = 1e-3,
              batch_size: int = 32, seed: int = 0,
              validation: tuple[np.ndarray, np.ndarray] | None = None,
              patience: int = 2) -> MLP:
    """:func:`train` with the pruning masks fixed, at a fine-tuning learning rate (with
    ``validation``: early stopping on its loss, :func:`train`)."""
    return train(model, inputs, labels, epochs=epochs, lr=lr, batch_size=batch_size,
                 seed=seed, masks=masks, validation=validation, patience=patience)


class _EarlyStopping:
    """Keeps the weights of the lowest validation loss seen and counts epochs without one."""

    def __init__(self, start: MLP, inputs: np.ndarray, labels: np.ndarray,
                 patience: int) -> None:
        self.inputs, self.labels = _check_data(start, inputs, labels)
        self.patience, self.waited = int(patience), 0
        self.best, self.best_loss = start.copy(), self._loss(start)

    def _loss(self, model: MLP) -> float:
        logits = forward(model, self.inputs)[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -float(log_probs[np.arange(len(self.labels)), self.labels].mean())

    def should_stop(self, model: MLP) -> bool:
        value = self._loss(model)
        if value < self.best_loss:
            self.best, self.best_loss, self.waited = model.copy(), value, 0
            return False
        self.waited += 1
        return self.waited >= self.patience


class _Adam:
    """Adam over a list of arrays, updated in place."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, betas=(0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps, self.step_count = lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self._views = flat_views(params, self.m, self.v)  # the arrays, updated through these

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """One update of ``params`` (the arrays given to the constructor)."""
        self.step_count += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.step_count, 1 - b2 ** self.step_count
        adam_step(self._views, grads, betas=(b1, b2), corrections=(c1, c2), lr=self.lr,
                  eps=self.eps)  # one fused loop per array


def _check_data(model: MLP, inputs: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(inputs)
    y = np.asarray(labels)
    if x.ndim != 2 or x.shape[1] != model.in_features or x.shape[0] == 0:
        raise TrainError(f"inputs have shape {x.shape}; the model takes (n, "
                         f"{model.in_features}) with n >= 1")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise TrainError("inputs must be finite numbers")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise TrainError(f"labels have shape {y.shape} and dtype {y.dtype}; give one integer "
                         f"class per input row, shape ({x.shape[0]},)")
    if y.size and (y.min() < 0 or y.max() >= model.num_classes):
        raise TrainError(f"labels range over {int(y.min())}..{int(y.max())} but the model has "
                         f"{model.num_classes} classes (0..{model.num_classes - 1})")
    return x.astype(np.float64), y.astype(np.int64)


def _check_masks(masks: Sequence[np.ndarray], model: MLP) -> list[np.ndarray]:
    if len(masks) != model.num_layers:
        raise TrainError(f"{len(masks)} masks for {model.num_layers} layers; give one bool "
                         f"mask per layer")
    checked = []
    for k, (m, w) in enumerate(zip(masks, model.weights)):
        m = np.asarray(m)
        if m.shape != w.shape or m.dtype != np.bool_:
            raise TrainError(f"mask {k} has shape {m.shape} and dtype {m.dtype}; it must be "
                             f"bool with layer {k}'s weight shape {w.shape}")
        checked.append(m)
    return checked


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise TrainError(f"{name} = {value!r} must be a whole number >= 1")


def _check_seed(seed: object) -> None:
    from eiesim.checks import check_seed

    check_seed(seed, error=TrainError)
