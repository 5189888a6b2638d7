"""The strategies' decision rules on hand-made sensitivity curves (no training, no simulator)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from eiesim.search.allocation import minimise_allocation, threshold_allocation
from eiesim.search.amc import policy_actions
from eiesim.search.netadapt import _density_for_budget
from eiesim.search.sensitivity import CostTable, accuracy_drops

DENSITIES = (0.1, 0.2, 0.5, 1.0)
# accuracy (untuned) and cycles of each layer alone at each density
ACCURACY = {0: (0.80, 0.95, 0.99, 1.00), 1: (0.97, 0.99, 1.00, 1.00), 2: (0.50, 0.90, 0.98, 1.00)}
CYCLES = {0: (50, 60, 90, 160), 1: (220, 225, 290, 430), 2: (74, 74, 74, 74)}
NUM_VALIDATION = 100


def curves() -> pd.DataFrame:
    rows = []
    for layer in ACCURACY:
        for d, a, c in zip(DENSITIES, ACCURACY[layer], CYCLES[layer]):
            rows.append({"method": "magnitude", "layer": layer, "density": d,
                         "accuracy_val": a, "accuracy_val_tuned": min(1.0, a + 0.05),
                         "layer_cycles": c, "layer_energy_j": c * 1e-9})
    return pd.DataFrame(rows)


def test_drops_are_measured_from_the_dense_layer():
    drops = accuracy_drops(curves())
    assert drops[0][0.1] == pytest.approx(0.2) and drops[2][1.0] == 0.0
    assert accuracy_drops(curves(), tuned=True)[0][0.1] == pytest.approx(0.15)


@pytest.mark.parametrize("threshold, expected", [(0.0, (1.0, 0.5, 1.0)),
                                                 (0.01, (0.5, 0.2, 1.0)),
                                                 (0.05, (0.2, 0.1, 0.5)),
                                                 (0.5, (0.1, 0.1, 0.1))])
def test_threshold_rule_takes_the_lowest_density_within_t(threshold, expected):
    assert threshold_allocation(curves(), threshold) == expected


@pytest.mark.parametrize("budget", [0.0, 0.01, 0.03, 0.06, 0.1, 0.3, 1.0])
def test_allocation_is_the_exact_optimum_of_the_additive_model(budget):
    table = CostTable.from_curves(curves(), "cycles")
    chosen = minimise_allocation(curves(), table, budget, NUM_VALIDATION)
    drops = accuracy_drops(curves())
    best = None
    for combo in itertools.product(DENSITIES, repeat=3):
        used = sum(round(drops[k][d] * NUM_VALIDATION) for k, d in enumerate(combo))
        if used <= budget * NUM_VALIDATION + 1e-9:
            cost = table.predict(combo)
            best = cost if best is None else min(best, cost)
    assert table.predict(chosen) == best
    used = sum(round(drops[k][d] * NUM_VALIDATION) for k, d in enumerate(chosen))
    assert used <= budget * NUM_VALIDATION + 1e-9


def test_cost_table_interpolates_between_measured_densities():
    table = CostTable.from_curves(curves(), "cycles")
    assert table.dense_cost == 160 + 430 + 74
    assert table.layer_cost(0, 0.35) == pytest.approx(75.0)
    assert table.min_density == 0.1


def test_netadapt_prunes_a_layer_just_enough_for_the_budget():
    table = CostTable.from_curves(curves(), "cycles")
    grid = np.geomspace(0.1, 1.0, 50)
    current = [1.0, 1.0, 1.0]
    budget = table.dense_cost - 40
    density = _density_for_budget(table, current, 0, budget, grid)
    trial = [density, 1.0, 1.0]
    assert table.predict(trial) <= budget
    higher = grid[grid > density + 1e-12]
    assert table.predict([higher.min(), 1.0, 1.0]) > budget  # the next grid point is too much
    assert _density_for_budget(table, current, 2, budget, grid) is None  # layer 2 is flat


def test_amc_actions_meet_the_budget_whatever_the_policy():
    table = CostTable.from_curves(curves(), "cycles")
    embeddings = np.random.default_rng(0).random((3, 6))
    cheapest = table.predict([0.1, 0.1, 0.1])
    rng = np.random.default_rng(1)
    for share in (0.05, 0.3, 0.7):
        budget = cheapest + share * (table.dense_cost - cheapest)
        for _ in range(50):
            actions = policy_actions(3 * rng.standard_normal(7), embeddings, table, budget)
            assert all(0.1 <= a <= 1.0 for a in actions)
            assert table.predict(actions) <= budget + 1e-6
