"""benchmarks.hardware_awareness: which network each rule picks from a search's table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.hardware_awareness import pick, r_squared, summarise


@pytest.fixture()
def table() -> pd.DataFrame:
    return pd.DataFrame({
        "strategy": ["dense", "uniform", "uniform", "global", "deep_compression", "allocation"],
        "method": ["none", "balanced", "magnitude", "magnitude", "balanced", "balanced"],
        "label": ["uncompressed", "density 0.3", "density 0.1", "density 0.1", "recipe", "a"],
        "density": [1.0, 0.3, 0.1, 0.1, 0.11, 0.2],
        "nonzero_weights": [1000, 300, 100, 100, 110, 200],
        "cycles": [900, 400, 380, 420, 390, 350],
        "meets_bound": [True, True, False, True, True, True],
        "chosen": [False, False, False, False, False, True],
        "accuracy_val": [0.97, 0.965, 0.94, 0.962, 0.963, 0.964],
        "accuracy_test": [0.97, 0.96, 0.93, 0.95, 0.96, 0.96],
        "accuracy_test_low": [0.95] * 6, "accuracy_test_high": [0.98] * 6,
        "fine_tune_epochs": [0, 12, 12, 12, 12, 12]})


def test_each_rule_picks_among_compressed_networks_meeting_the_bound(table):
    assert pick(table, "search")["strategy"] == "allocation"
    assert pick(table, "best uniform")["label"] == "density 0.3"  # density 0.1 misses the bound
    assert pick(table, "global magnitude")["cycles"] == 420
    assert pick(table, "fewest non-zeros")["strategy"] == "global"  # 100 weights, not the dense
    assert pick(table, "deep compression")["label"] == "recipe"


def test_the_summary_compares_each_pick_with_the_search(table):
    rows = {row["rule"]: row for row in summarise(table, "m", 16)}
    assert rows["search"]["same_network_as_search"] and rows["search"]["cycles_vs_search"] == 1
    assert rows["fewest non-zeros"]["cycles_vs_search"] == pytest.approx(420 / 350)
    assert not rows["fewest non-zeros"]["same_network_as_search"]


def test_no_pick_when_nothing_meets_the_bound(table):
    table["meets_bound"] = False
    table["chosen"] = False
    assert pick(table, "search") is None and pick(table, "best uniform") is None
    rows = summarise(table, "m", 16)
    assert not any(row["meets_bound"] for row in rows if row["rule"] != "deep compression")


def test_r_squared_of_a_line_and_of_noise():
    x = np.arange(10.0)
    assert r_squared(x, 3 * x + 1) == pytest.approx(1.0)
    assert r_squared(x, np.array([1.0, -1.0] * 5)) < 0.1
    assert np.isnan(r_squared(np.ones(5), x[:5]))
