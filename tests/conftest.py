"""Fixtures shared by the search's test modules: the digits split and a small MLP trained on it
(trained once per session; the searches never change the model they are given)."""

from __future__ import annotations

import pytest


def digits_data():
    """Train / validation / test: 1,077 / 360 / 360 stratified images, seed 0."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from eiesim.search.model import Dataset

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=360, random_state=0, stratify=y_train)
    return Dataset(x_train, y_train, x_test, y_test, val_inputs=x_val, val_labels=y_val)


@pytest.fixture(scope="session")
def digits_split():
    """:func:`digits_data`, made once."""
    return digits_data()


@pytest.fixture(scope="session")
def digits_mlp(digits_split):
    """A 64-32-10 MLP trained 20 epochs on the digits split (seeds 0 and 1)."""
    from eiesim.search.train import init_mlp, train

    return train(init_mlp([64, 32, 10], seed=0), digits_split.train_inputs,
                 digits_split.train_labels, epochs=20, seed=1)
