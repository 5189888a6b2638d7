"""Write the example data and models: ``python -m examples.make_models [--out DIR]``.

* ``digits_data.npz``: scikit-learn's bundled 8x8 digits (1,797 images, nothing downloaded),
  pixels / 16 (multiples of 1/16 in [0, 1], exact in EIE's fixed point), split 80/20
  stratified with seed 0: 1,437 training and 360 test images. Data-file format of
  :mod:`eiesim.search.model`.
* ``digits_mlp.npz``: 64-128-64-10 ReLU MLP, 30 epochs of Adam (lr 2e-3, batch 32, seed 0).
* ``lenet_300_100.npz``: LeNet-300-100, the pruning literature's standard fully connected
  network (LeCun et al. 1998; Han et al. 2015), here 64-300-100-10 on the same digits, trained
  the same way.

Model-file format of :mod:`eiesim.search.model`, weights stored as float32 (half the size;
the models are evaluated as loaded). Every random choice is seeded, so rerunning the script
writes the same files on the same numpy and scikit-learn versions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from eiesim.search.model import Dataset, save_data, save_model
from eiesim.search.train import MLP, accuracy
from examples import digits

MODELS = {"digits_mlp": (128, 64), "lenet_300_100": (300, 100)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    data = digits.load_data(seed=0)
    save_data(args.out / "digits_data.npz",
              Dataset(data.x_train.astype(np.float32), data.y_train.astype(np.int64),
                      data.x_test.astype(np.float32), data.y_test.astype(np.int64)))
    for name, hidden in MODELS.items():
        model = digits.train(data, hidden, seed=0)
        stored = MLP([w.astype(np.float32) for w in model.weights],
                     [b.astype(np.float32) for b in model.biases])
        save_model(args.out / f"{name}.npz", stored)
        print(f"{name}: {' -> '.join(str(s) for s in [64, *hidden, 10])}, test accuracy "
              f"{accuracy(stored, data.x_test, data.y_test):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
