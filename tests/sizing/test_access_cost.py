"""Drivers' access cost in the capacitated objective (issue #20 item 4): the rate derived from
the parameters, 0 with a value of time of 0 (the least-capital-cost answer), and brute force on
a tiny synthetic instance."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from evsiting.config.schema import config_from_dict
from evsiting.sizing.costs import access_cny_per_kwh_min
from evsiting.models.capacitated import CapacitatedSiting
from evsiting.config.params import load_parameters
from evsiting.stages.s5_model import ModelInputs, access_cost_rate, capacitated_model


def test_rate_follows_the_stated_formula():
    p = load_parameters()
    pv = (1 - 1.08 ** -10) / 0.08
    assert access_cny_per_kwh_min(p) == pytest.approx(p.value("value_of_time_cny_per_h") / 60 * 2 / p.value("dc_session_kwh") * 365 * pv)
    assert 40 < access_cny_per_kwh_min(p) < 70
    zero = p.with_overrides({"value_of_time_cny_per_h": 0.0}, "test", "test")
    assert access_cny_per_kwh_min(zero) == 0.0
    und = p.with_overrides({"access_discount_rate": 0.0}, "test", "test")
    assert access_cny_per_kwh_min(und) == pytest.approx(p.value("value_of_time_cny_per_h") / 60 * 2 / 30 * 365 * 10)


def test_the_default_block_derives_it_and_an_explicit_value_wins():
    p = load_parameters()
    default = config_from_dict({"name": "t", "model": {"type": "capacitated"}}).model
    assert default.allocation_cny_per_kwh_min is None
    assert access_cost_rate(default, p) == pytest.approx(access_cny_per_kwh_min(p))
    off = config_from_dict({"name": "t", "model": {"type": "capacitated", "allocation_cny_per_kwh_min": 0}}).model
    assert access_cost_rate(off, p) == 0.0


def _brute(cost, e, cap, site_cost, port_cost, alpha):
    """Least capital + access cost by enumeration: each point to one open site (single
    sourcing is optimal here: one port type, ample ports), ports = ceil(load / cap)."""
    n, m = cost.shape
    best = np.inf
    for choice in itertools.product(range(m), repeat=n):
        if any(not np.isfinite(cost[i, j]) for i, j in enumerate(choice)):
            continue
        load = np.bincount(choice, weights=e, minlength=m)
        cap_cost = sum(site_cost + np.ceil(load[j] / cap - 1e-9) * port_cost for j in range(m) if load[j] > 0)
        best = min(best, cap_cost + alpha * sum(e[i] * cost[i, j] for i, j in enumerate(choice)))
    return best


@pytest.mark.parametrize("alpha", [0.0, 5.0, 50.0])
def test_capacitated_with_access_cost_matches_brute_force(alpha):
    # synthetic: 4 points on a line, 3 sites; one port holds any point's energy
    cost = np.array([[0, 4, 9], [3, 2, 6], [8, 3, 1], [9, 5, 0]], dtype=float)
    e = np.array([10.0, 20.0, 15.0, 5.0])
    mdl = CapacitatedSiting.from_cost_matrix(cost, e, None, 10.0, dc_port_kwh_day=100.0, ac_port_kwh_day=0.0,
                                             max_dc_ports=2, max_ac_ports=0, site_cost_cny=1000.0, dc_port_cost_cny=100.0,
                                             allocation_cny_per_kwh_min=alpha)
    res = mdl.solve(mip_gap=0.0)
    assert res.objective == pytest.approx(_brute(cost, e, 100.0, 1000.0, 100.0, alpha), rel=1e-6)
    assert res.capital_cny + res.travel_cny == pytest.approx(res.objective, rel=1e-9)


def test_value_of_time_zero_gives_the_least_capital_plan():
    rng = np.random.default_rng(2)
    cost = sp.csr_matrix(np.round(rng.uniform(0, 12, (12, 5)), 1))
    cells = pd.DataFrame({"nev_count": 10, "energy_kwh_day": rng.uniform(50, 300, 12)})
    cells["energy_dc_kwh_day"] = cells["energy_kwh_day"] * 0.9
    p = load_parameters()
    block = config_from_dict({"name": "t", "model": {"type": "capacitated"}}).model
    zero = p.with_overrides({"value_of_time_cny_per_h": 0.0}, "test", "test")
    off = config_from_dict({"name": "t", "model": {"type": "capacitated", "allocation_cny_per_kwh_min": 0}}).model
    a = capacitated_model(block, ModelInputs(cells, cost, np.zeros(0, dtype=np.int64), zero)).solve(mip_gap=0.0)
    b = capacitated_model(off, ModelInputs(cells, cost, np.zeros(0, dtype=np.int64), p)).solve(mip_gap=0.0)
    assert a.objective == pytest.approx(b.objective) and a.travel_cny == 0.0
    c = capacitated_model(block, ModelInputs(cells, cost, np.zeros(0, dtype=np.int64), p)).solve(mip_gap=0.0)
    assert c.travel_cny > 0 and c.capital_cny >= b.capital_cny - 1e-6
