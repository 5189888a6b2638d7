"""Write the example data and models: ``python -m examples.make_models [--out DIR]``.

* ``digits_data.npz``: scikit-learn's bundled 8x8 digits (1,797 images, nothing downloaded),
  pixels / 16 (multiples of 1/16 in [0, 1], exact in EIE's fixed point), split stratified with
  seed 0 into 360 test images (the 20 % of :func:`examples.digits.load_data`), then 360
  validation images (seed 0) and 1,077 training images. The validation split is in the file
  (``val_inputs`` / ``val_labels``): the models never saw it, so ``eiesim search`` decides on
  it and only reports on the test set. Data-file format of :mod:`eiesim.search.model`.
* ``digits_mlp.npz``: 64-128-64-10 ReLU MLP, 30 epochs of Adam (lr 2e-3, batch 32, seed 0),
  trained on the 1,077 training images only.
* ``lenet_300_100.npz``: LeNet-300-100, the pruning literature's standard fully connected
  network (LeCun et al. 1998; Han et al. 2015), here 64-300-100-10 on the same digits, trained
  the same way.
* ``digits16_data.npz`` and ``wide_mlp.npz``: a real-size model, 256-1024-512-10. The digits
  have 64 pixels; for 256 inputs each image is upsampled to 16x16 by bilinear interpolation
  (:func:`upsample`, half-pixel centres, edges clamped), the same split. Interpolation weights
  are 1/4 and 3/4 per axis, so every input is a multiple of 1/256: still exact in Q7.8. The
  upsampled images carry no more information than the 8x8 ones; the model is wide so its layers
  have the sizes where load balance and padding, not only non-zero counts, set the cycles.
  Trained 20 epochs of Adam (lr 1e-3, batch 32, seed 0).

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
WIDE_HIDDEN = (1024, 512)
VALIDATION_IMAGES = 360


def split(seed: int = 0) -> tuple[digits.DigitsData, np.ndarray, np.ndarray]:
    """(training and test images, validation inputs, validation labels): the test set of
    :func:`examples.digits.load_data`, the validation images taken from its training set."""
    from sklearn.model_selection import train_test_split

    data = digits.load_data(seed=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        data.x_train, data.y_train, test_size=VALIDATION_IMAGES, random_state=seed,
        stratify=data.y_train)
    return digits.DigitsData(x_train, y_train, data.x_test, data.y_test), x_val, y_val


def upsample(images: np.ndarray, side: int = 8) -> np.ndarray:
    """Each (side*side)-pixel row upsampled to (2 side)^2 pixels, bilinearly (module doc)."""
    square = images.reshape(-1, side, side)
    # Output pixel i sits at input coordinate i/2 - 1/4: between input pixels with
    # weights 3/4 and 1/4, clamped at the border.
    index = np.arange(2 * side)
    near = index // 2
    far = np.clip(np.where(index % 2 == 0, near - 1, near + 1), 0, side - 1)
    rows = 0.75 * square[:, near, :] + 0.25 * square[:, far, :]
    both = 0.75 * rows[:, :, near] + 0.25 * rows[:, :, far]
    return both.reshape(images.shape[0], 4 * side * side)


def _dataset(data: digits.DigitsData, x_val: np.ndarray, y_val: np.ndarray) -> Dataset:
    return Dataset(data.x_train.astype(np.float32), data.y_train.astype(np.int64),
                   data.x_test.astype(np.float32), data.y_test.astype(np.int64),
                   val_inputs=x_val.astype(np.float32), val_labels=y_val.astype(np.int64))


def _save(path: Path, model: MLP, data: digits.DigitsData, x_val: np.ndarray,
          y_val: np.ndarray) -> None:
    stored = MLP([w.astype(np.float32) for w in model.weights],
                 [b.astype(np.float32) for b in model.biases])
    save_model(path, stored)
    sizes = [stored.in_features, *[w.shape[0] for w in stored.weights]]
    print(f"{path.stem}: {' -> '.join(str(s) for s in sizes)}, validation accuracy "
          f"{accuracy(stored, x_val, y_val):.4f}, test accuracy "
          f"{accuracy(stored, data.x_test, data.y_test):.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--skip-wide", action="store_true",
                        help="write only the 8x8 data and its two small models (seconds, not "
                             "minutes)")
    args = parser.parse_args(argv)
    data, x_val, y_val = split(seed=0)
    save_data(args.out / "digits_data.npz", _dataset(data, x_val, y_val))
    for name, hidden in MODELS.items():
        _save(args.out / f"{name}.npz", digits.train(data, hidden, seed=0), data, x_val, y_val)
    if args.skip_wide:
        return 0
    wide = digits.DigitsData(upsample(data.x_train), data.y_train, upsample(data.x_test),
                             data.y_test)
    wide_val = upsample(x_val)
    save_data(args.out / "digits16_data.npz", _dataset(wide, wide_val, y_val))
    _save(args.out / "wide_mlp.npz", digits.train(wide, WIDE_HIDDEN, epochs=20, lr=1e-3, seed=0),
          wide, wide_val, y_val)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
