"""ChargerSiting: brute force over port counts, budgets, existing stations, messages."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples import examples

from evsiting.core.errors import InfeasibleError, InputError
from evsiting.models import ChargerSiting, SitingResult

from models_helpers import brute_siting, spatial_instance

SETTINGS = settings(max_examples=examples(15), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
KW = dict(max_dc=1, max_ac=2, dc_capacity_kwh=100.0, ac_capacity_kwh=30.0)


@st.composite
def small(draw):
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


@SETTINGS
@given(small())
def test_max_served_brute_force(inst):
    cost, demand, sc, dcc, acc, budget, ex = inst
    model = ChargerSiting.from_cost_matrix(cost, demand, 10.0, objective="max_served", budget=budget,
                                           site_cost=sc, dc_port_cost=dcc, ac_port_cost=acc,
                                           existing_dc=ex, **KW)
    res = model.solve("cbc")
    best = brute_siting(cost, demand, 10.0, 1, 2, 100.0, 30.0, sc, dcc, acc, budget, "max_served", ex)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best, abs=1e-6)
    assert res.total_cost <= budget + 1e-6
    assert res.served_total + res.unserved_total == pytest.approx(demand.sum())
    assert (res.dc_ports <= 1).all() and (res.ac_ports <= 2).all()
    if ex:
        assert 0 in res.selected and res.dc_ports[0] == 1 and res.ac_ports[0] == 0


@SETTINGS
@given(small())
def test_min_cost_brute_force(inst):
    cost, demand, sc, dcc, acc, _budget, ex = inst
    model = ChargerSiting.from_cost_matrix(cost, demand, 10.0, objective="min_cost",
                                           site_cost=sc, dc_port_cost=dcc, ac_port_cost=acc,
                                           existing_dc=ex, **KW)
    best = brute_siting(cost, demand, 10.0, 1, 2, 100.0, 30.0, sc, dcc, acc, None, "min_cost", ex)
    if best is None:
        with pytest.raises(InfeasibleError, match="max_dc/max_ac"):
            model.solve("cbc")
        return
    res = model.solve("cbc")
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best, abs=1e-6)
    reach = (cost <= 10.0).any(axis=1)
    assert res.unserved[reach] == pytest.approx(np.zeros(int(reach.sum())), abs=1e-6)
    assert set(res.unreachable.tolist()) == set(np.flatnonzero(~reach & (demand > 0)).tolist())


def _instance():
    cost, w = spatial_instance(120, 15, seed=4, cutoff=40)
    return cost, w * 10.0  # kWh/day


@pytest.mark.parametrize("objective,budget", [("max_served", 1.2e6), ("min_cost", None)])
def test_solvers_agree(objective, budget):
    cost, dem = _instance()
    kw = dict(objective=objective, budget=budget, max_dc=4, max_ac=6, dc_capacity_kwh=600.0,
              ac_capacity_kwh=80.0, site_cost=2e5, dc_port_cost=1.2e5, ac_port_cost=1.5e4)
    a = ChargerSiting.from_cost_matrix(cost, dem, 12.0, **kw).solve("cbc", time_limit=50)
    b = ChargerSiting.from_cost_matrix(cost, dem, 12.0, **kw).solve("highs", time_limit=50)
    assert isinstance(a, SitingResult)
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-7)


def test_existing_stations_and_expansion():
    cost = np.array([[1.0, 2.0], [1.0, 2.0]])
    dem = np.array([500.0, 500.0])
    kw = dict(max_dc=3, max_ac=0, dc_capacity_kwh=200.0, ac_capacity_kwh=0.0, site_cost=100.0,
              dc_port_cost=10.0)
    fixed = ChargerSiting.from_cost_matrix(cost, dem, 5, objective="min_cost", existing_dc=[2, 0], **kw).solve()
    # existing site keeps 2 ports (400 kWh); 600 more need a new site with 3 ports
    assert list(fixed.dc_ports) == [2, 3] and fixed.total_cost == 130.0
    grow = ChargerSiting.from_cost_matrix(cost, dem, 5, objective="min_cost", existing_dc=[2, 0],
                                          allow_expansion=True, **kw).solve()
    # expanding the existing site to 3 ports (10 CNY) + new site with 2 ports (120)
    assert grow.total_cost == 120.0 + 10.0 or grow.total_cost < fixed.total_cost
    assert grow.dc_ports[0] >= 2


def test_budget_and_capacity_messages():
    cost = np.array([[1.0, 2.0], [np.inf, np.inf]])
    dem = np.array([100.0, 50.0])
    with pytest.raises(InfeasibleError, match="budget 50 CNY is below the 110 CNY needed"):
        ChargerSiting.from_cost_matrix(cost, dem, 5, budget=50, site_cost=100, dc_port_cost=10,
                                       ac_port_cost=20, required=[1]).solve()
    with pytest.raises(InfeasibleError, match=r"1 demand points \(0\) have more demand"):
        ChargerSiting.from_cost_matrix(cost, np.array([5000.0, 0]), 5, objective="min_cost",
                                       max_dc=1, max_ac=1).solve()
    with pytest.raises(InfeasibleError, match="budget and the ports"):
        ChargerSiting.from_cost_matrix(cost, dem, 5, objective="min_cost", budget=10, site_cost=100).solve()
    with pytest.raises(InputError, match="needs a budget"):
        ChargerSiting.from_cost_matrix(cost, dem, 5, objective="max_served")
    res = ChargerSiting.from_cost_matrix(cost, dem, 5, objective="min_cost", site_cost=100,
                                         dc_port_cost=10, ac_port_cost=20).solve("highs")
    assert list(res.unreachable) == [1] and res.unserved[1] == 50.0 and res.unserved_total == 50.0
    assert res.assignment[1] == -1 and res.assignment[0] in (0, 1)


def test_from_geodataframe_columns():
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import Point

    cost = np.array([[1.0, 2.0], [3.0, 30.0]])
    dem = gpd.GeoDataFrame({"kwh_day": [300.0, 100.0]}, geometry=[Point(0, 0), Point(1, 0)], crs="EPSG:4326")
    cand = gpd.GeoDataFrame({"dc_ports": [1, 0], "max_dc": [2, 2]}, geometry=[Point(0, 1), Point(1, 1)],
                            crs="EPSG:4326")
    res = ChargerSiting.from_geodataframe(dem, cand, cost, demand_col="kwh_day", service_radius=5,
                                          objective="min_cost", max_dc="max_dc", max_ac=0,
                                          existing_dc="dc_ports", dc_capacity_kwh=200.0,
                                          site_cost=1000.0, dc_port_cost=100.0).solve()
    # existing site 0 has 200 kWh/day; 200 more: new site 1 (1100 CNY) is dearer than... site 0
    # is fixed (no expansion), so a new site must open
    assert res.dc_ports[0] == 1 and res.served_total == pytest.approx(400.0)
    assert res.total_cost == pytest.approx(1100.0)
    with pytest.raises(InputError, match="no column"):
        ChargerSiting.from_geodataframe(dem, cand, cost, demand_col="nope", objective="min_cost")
