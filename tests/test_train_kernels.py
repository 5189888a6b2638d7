"""The fused Adam update (eiesim.search.train_kernels) against the numpy form it replaced, bit
for bit, and a whole fine-tune against a trainer running that numpy form."""

from __future__ import annotations

import numpy as np
import pytest

from eiesim.search import train as trainer
from eiesim.search.train_kernels import adam_step, flat_views


def numpy_adam(p, g, m, v, b1, b2, c1, c2, lr, eps):
    """The trainer's update as it was written with numpy operations (the oracle)."""
    m *= b1
    m += (1 - b1) * g
    v *= b2
    v += (1 - b2) * g * g
    p -= lr * (m / c1) / (np.sqrt(v / c2) + eps)


@pytest.mark.parametrize("seed", range(5))
def test_the_fused_update_equals_the_numpy_form_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
    p, m = rng.standard_normal(shape), rng.standard_normal(shape) * 1e-2
    v = rng.random(shape) * 1e-3
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    views = flat_views([p2], [m2], [v2])
    for step in range(1, 6):
        g = rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 2)
        c1, c2 = 1 - 0.9 ** step, 1 - 0.999 ** step
        numpy_adam(p, g, m, v, 0.9, 0.999, c1, c2, 1e-3, 1e-8)
        adam_step(views, [g], betas=(0.9, 0.999), corrections=(c1, c2), lr=1e-3, eps=1e-8)
    assert np.array_equal(p, p2) and np.array_equal(m, m2) and np.array_equal(v, v2)


def test_a_fine_tune_is_unchanged_by_the_fused_update(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.random((96, 12))
    y = (x[:, 0] > x[:, 1]).astype(np.int64) + (x[:, 2] > 0.5)
    model = trainer.init_mlp([12, 16, 3], seed=0)
    masks = [rng.random(w.shape) < 0.5 for w in model.weights]
    fused = trainer.fine_tune(model, x, y, masks, epochs=2, seed=3)

    def numpy_step(self, params, grads):
        self.step_count += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.step_count, 1 - b2 ** self.step_count
        for p, g, m, v in zip(params, grads, self.m, self.v):
            numpy_adam(p, g, m, v, b1, b2, c1, c2, self.lr, self.eps)

    monkeypatch.setattr(trainer._Adam, "step", numpy_step)
    plain = trainer.fine_tune(model, x, y, masks, epochs=2, seed=3)
    for a, b in zip(fused.weights + fused.biases, plain.weights + plain.biases):
        assert np.array_equal(a, b)


def test_non_float64_parameters_are_refused():
    p = np.zeros(3, dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        flat_views([p], [p], [p])
    transposed = np.zeros((3, 4)).T
    with pytest.raises(ValueError, match="C-contiguous"):
        flat_views([transposed], [transposed], [transposed])
