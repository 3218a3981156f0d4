"""The one-year MultiPeriodSiting (site opening + integer DC/AC ports + a budget, the
single-period capacitated siting model) against brute force over port counts; budgets, existing
stations, unreachable demand and the messages. Instances are synthetic fixtures (hypothesis or
hand-made matrices), not data."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsiting.core.errors import InfeasibleError, InputError
from evsiting.models import BuildoutResult, MultiPeriodSiting

from models_helpers import brute_siting, spatial_instance

SETTINGS = settings(max_examples=int(os.environ.get("EVSITING_HYPOTHESIS_EXAMPLES", 15)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
KW = dict(max_dc=1, max_ac=2, dc_capacity_kwh=100.0, ac_capacity_kwh=30.0)
YEAR = [2026]


@st.composite
def small(draw):
    """Up to 5 demand points and 3 sites; integer minutes, kWh/day, CNY (so every max flow is a
    whole number of kWh/day)."""
    n = draw(st.integers(1, 5))
    m = draw(st.integers(1, 3))
    el = st.one_of(st.integers(0, 20).map(float), st.just(np.inf))
    cost = np.array(draw(st.lists(el, min_size=n * m, max_size=n * m))).reshape(n, m)
    demand = np.array(draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)), dtype=float)
    site_cost = float(draw(st.integers(0, 100)))
    dc_cost = float(draw(st.integers(1, 200)))
    ac_cost = float(draw(st.integers(1, 60)))
    budget = float(draw(st.integers(0, 700)))
    ex = draw(st.booleans())
    existing_dc = [1] + [0] * (m - 1) if ex else None
    return cost, demand, site_cost, dc_cost, ac_cost, budget, existing_dc


def _one_year(cost, demand, radius, **kw) -> MultiPeriodSiting:
    return MultiPeriodSiting.from_cost_matrix(cost, demand, YEAR, radius, **kw)


@SETTINGS
@given(small())
def test_max_served_brute_force(inst):
    cost, demand, sc, dcc, acc, budget, ex = inst
    res = _one_year(cost, demand, 10.0, objective="max_served", budget=budget, site_cost=sc, dc_port_cost=dcc,
                    ac_port_cost=acc, existing_dc=ex, **KW).solve("cbc")
    best = brute_siting(cost, demand, 10.0, 1, 2, 100.0, 30.0, sc, dcc, acc, budget, "max_served", ex)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best, abs=1e-6)
    assert res.served_total[0] == pytest.approx(res.objective, abs=1e-6)
    assert res.total_cost <= budget + 1e-6 and res.spend[0] == pytest.approx(res.total_cost)
    assert res.served[0].sum() == pytest.approx(res.served_total[0])
    assert (res.served[0] <= demand + 1e-6).all() and res.demand_total[0] == pytest.approx(demand.sum())
    reach = (cost <= 10.0).any(axis=1)
    assert (res.served[0][~reach] == 0).all()
    assert (res.dc_ports <= 1).all() and (res.ac_ports <= 2).all()
    if ex:
        assert 0 in res.selected and res.dc_ports[0, 0] == 1 and res.ac_ports[0, 0] == 0
        assert res.existing[0] and res.open_year[0] == YEAR[0]


@SETTINGS
@given(small())
def test_min_cost_brute_force(inst):
    """min_cost serves the servable maximum (every site at its port maxima) at least cost; with
    ``target_share`` = the reachable share it must serve all reachable demand, and says
    max_dc/max_ac when the ports cannot hold it."""
    cost, demand, sc, dcc, acc, _budget, ex = inst
    args = (10.0, 1, 2, 100.0, 30.0, sc, dcc, acc, None)
    mdl = _one_year(cost, demand, 10.0, objective="min_cost", site_cost=sc, dc_port_cost=dcc, ac_port_cost=acc,
                    existing_dc=ex, **KW)
    servable = brute_siting(cost, demand, *args, "max_served", ex)  # no budget: every site at its maxima
    assert mdl.servable()[0] == pytest.approx(servable, abs=1e-6)
    best = brute_siting(cost, demand, *args, "min_cost", ex, target=servable)
    res = mdl.solve("cbc")
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best, abs=1e-6) and res.total_cost == pytest.approx(best, abs=1e-6)
    assert res.served_total[0] >= servable * (1 - 1e-4) - 1e-6
    reach = (cost <= 10.0).any(axis=1)
    assert set(res.unreachable.tolist()) == set(np.flatnonzero(~reach & (demand > 0)).tolist())
    if demand.sum() == 0:
        return
    share = float(demand[reach].sum() / demand.sum())
    full = brute_siting(cost, demand, *args, "min_cost", ex)  # all demand within the radius
    all_in = _one_year(cost, demand, 10.0, objective="min_cost", target_share=share, site_cost=sc,
                       dc_port_cost=dcc, ac_port_cost=acc, existing_dc=ex, **KW)
    if full is None:
        with pytest.raises(InfeasibleError, match="max_dc/max_ac"):
            all_in.solve("cbc")
        return
    res = all_in.solve("cbc")
    assert res.status == "optimal" and res.objective == pytest.approx(full, abs=1e-6)
    assert res.served[0][reach] == pytest.approx(demand[reach], abs=1e-5)


def _instance():
    cost, w = spatial_instance(120, 15, seed=4, cutoff=40)
    return cost, w * 10.0  # kWh/day


@pytest.mark.parametrize("objective,budget", [("max_served", 1.2e6), ("min_cost", None)])
def test_solvers_agree(objective, budget):
    cost, dem = _instance()
    kw = dict(objective=objective, budget=budget, max_dc=4, max_ac=6, dc_capacity_kwh=600.0,
              ac_capacity_kwh=80.0, site_cost=2e5, dc_port_cost=1.2e5, ac_port_cost=1.5e4)
    a = _one_year(cost, dem, 12.0, **kw).solve("cbc", time_limit=50)
    b = _one_year(cost, dem, 12.0, **kw).solve("highs", time_limit=50)
    assert isinstance(a, BuildoutResult)
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-7)


def test_existing_stations_and_expansion():
    cost = np.array([[1.0, 2.0], [1.0, 2.0]])
    dem = np.array([300.0, 300.0])
    kw = dict(max_dc=3, max_ac=0, dc_capacity_kwh=200.0, ac_capacity_kwh=0.0, site_cost=100.0, dc_port_cost=10.0)
    fixed = _one_year(cost, dem, 5, objective="min_cost", existing_dc=[2, 0], **kw).solve()
    # the existing site keeps its 2 ports (400 kWh/day); 200 more need a new site with 1 port
    assert list(fixed.dc_ports[0]) == [2, 1] and fixed.total_cost == pytest.approx(110.0)
    assert fixed.existing.tolist() == [True, False] and fixed.open_year.tolist() == [2026, 2026]
    grow = _one_year(cost, dem, 5, objective="min_cost", existing_dc=[2, 0], allow_expansion=True, **kw).solve()
    # a third port at the existing station (10 CNY) holds it all; no new site
    assert list(grow.dc_ports[0]) == [3, 0] and grow.total_cost == pytest.approx(10.0)


def test_capacity_budget_and_reach_messages():
    cost = np.array([[1.0, 2.0], [np.inf, np.inf]])
    dem = np.array([100.0, 50.0])
    with pytest.raises(InfeasibleError, match=r"could serve even at their maximum ports \(max_dc/max_ac\)"):
        _one_year(cost, np.array([5000.0, 0]), 5, objective="min_cost", target_share=1.0, max_dc=1, max_ac=1).solve()
    with pytest.raises(InfeasibleError, match="cannot be met with the yearly budgets and the ports allowed"):
        _one_year(cost, dem, 5, objective="min_cost", budget=10, site_cost=100).solve()
    with pytest.raises(InfeasibleError, match="within 5 minutes of any candidate site"):
        _one_year(cost, dem, 5, objective="min_cost", target_share=1.0).solve()
    # without a budget, max_served serves all it can reach
    unlimited = _one_year(cost, dem, 5, objective="max_served", site_cost=100).solve()
    assert unlimited.served_total[0] == pytest.approx(100.0)
    res = _one_year(cost, dem, 5, objective="min_cost", site_cost=100, dc_port_cost=10, ac_port_cost=20).solve("highs")
    assert list(res.unreachable) == [1] and res.served[0, 1] == 0.0
    assert res.demand_total[0] - res.served_total[0] == pytest.approx(50.0, abs=100.0 * 1e-4 + 1e-6)
    assert res.assignment[1] == -1 and res.assignment[0] in (0, 1)


@pytest.mark.parametrize("kw,match", [
    (dict(max_dc=[1, 2, 3]), r"max_dc must be a scalar or have one value per candidate \(2\)"),
    (dict(max_ac=1.5), "max_ac must be whole numbers of ports"),
    (dict(site_cost=-1.0), "site_cost must be finite and non-negative"),
    (dict(existing_dc=[np.nan, 0]), "existing_dc must be finite and non-negative"),
    (dict(dc_capacity_kwh=-1.0), "port capacities must be non-negative"),
])
def test_per_site_arguments_are_checked(kw, match):
    with pytest.raises(InputError, match=match):
        _one_year(np.array([[1.0, 2.0]]), np.array([10.0]), 5, **kw)
