"""The nested staged plan (evsiting.models.nested) on synthetic instances: a station once
open stays open and ports are only added; the last year is the single-year model's plan; each
year serves all the energy its sites can hold; the binding constraint is named."""

from __future__ import annotations

import numpy as np
import pytest

from evsiting.models.nested import staged_capacitated
from evsiting.core.errors import InputError
from evsiting.models.capacitated import CapacitatedSiting

KD, KA = 10.0, 3.0  # kWh/day per DC / AC port (synthetic)
ARGS = dict(dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_dc_ports=3, max_ac_ports=4, site_cost_cny=100.0,
            dc_port_cost_cny=20.0, ac_port_cost_cny=5.0)


def synthetic(seed, n=24, m=8, years=4):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 25, size=(n, m))
    t[np.arange(n), rng.integers(0, m, n)] = rng.uniform(0, 10, n)  # every point reaches a site
    base = rng.gamma(2.0, 3.0, n)
    growth = np.cumprod(np.r_[1.0, rng.uniform(1.1, 1.5, years - 1)])
    e = growth[:, None] * base[None, :]
    d = e * rng.uniform(0.3, 0.9, n)[None, :]
    return t, e, d


@pytest.mark.parametrize("seed", range(3))
def test_nested_plan_only_adds_and_ends_with_the_single_year_plan(seed):
    t, e, d = synthetic(seed)
    k = np.full(t.shape[1], 3)
    res = staged_capacitated(t, e, d, [2024, 2025, 2026, 2027], 15.0, site_args=dict(ARGS, max_stations=k), mip_gap=0)
    assert (np.diff(res.stations, axis=0) >= 0).all()
    assert (np.diff(res.dc_ports, axis=0) >= 0).all() and (np.diff(res.ac_ports, axis=0) >= 0).all()
    single = CapacitatedSiting.from_cost_matrix(t, e[-1], d[-1], 15.0, max_stations=k, **ARGS).solve(mip_gap=0)
    assert res.total_cost == pytest.approx(single.objective, rel=1e-9)
    assert res.spend.sum() == pytest.approx(res.total_cost, rel=1e-9) and (res.spend >= -1e-9).all()
    # each year: its ports hold its served energy, DC energy on DC ports
    reach = (t <= 15.0).any(axis=1)
    for y in range(4):
        assert (res.dc_ports[y] <= 3 * res.stations[y]).all() and (res.ac_ports[y] <= 4 * res.stations[y]).all()
        assert res.site_served[y].sum() == pytest.approx(res.served_total[y], rel=1e-9)
        assert res.served_total[y] <= KD * res.dc_ports[y].sum() + KA * res.ac_ports[y].sum() + 1e-6
        assert d[y, reach].sum() <= KD * res.dc_ports[y].sum() + 1e-6  # all of it is served (below)
    # plenty of capacity: every year serves all the energy within the standard
    assert res.served_total == pytest.approx(e[:, reach].sum(axis=1), rel=1e-6)
    assert all(b["constraint"] in ("none", "service standard") for b in res.binding)
    assert (np.diff(res.served_share) >= -1e-9).all() or not reach.all()


def test_an_earlier_year_builds_no_more_than_it_needs():
    t, e, d = synthetic(5)
    res = staged_capacitated(t, e, d, [2024, 2025, 2026, 2027], 15.0, site_args=dict(ARGS, max_stations=3), mip_gap=0)
    # the first year alone, restricted to the second year's network, costs what the plan spent by then
    cols = np.flatnonzero(res.stations[1] > 0)
    alone = CapacitatedSiting.from_cost_matrix(t[:, cols], e[0], d[0], 15.0, **dict(ARGS, max_stations=res.stations[1][cols]),
                                               max_site_dc_ports=res.dc_ports[1][cols],
                                               max_site_ac_ports=res.ac_ports[1][cols]).solve(mip_gap=0)
    assert res.spend[0] == pytest.approx(alone.objective, rel=1e-9)
    assert res.spend[0] < res.total_cost


def test_site_capacity_that_binds_is_named_with_its_county():
    t = np.array([[1.0], [2.0]])
    e = np.array([[5.0, 5.0], [30.0, 30.0]])
    d = np.zeros_like(e)
    res = staged_capacitated(t, e, d, [2025, 2026], 15.0, site_args=dict(ARGS, max_stations=1),
                             county_of=["A县", "B县"], mip_gap=0)
    assert res.binding[0]["constraint"] == "none"
    assert res.binding[1]["constraint"] == "site capacity"
    assert res.binding[1]["beyond_capacity_kwh_day"] == pytest.approx(60.0 - (3 * KD + 4 * KA))
    assert res.binding[1]["counties"]


def test_falling_demand_is_refused():
    t, e, d = synthetic(1, years=2)
    with pytest.raises(InputError, match="never falls"):
        staged_capacitated(t, e[::-1], d[::-1], [2025, 2026], 15.0, site_args=ARGS)
