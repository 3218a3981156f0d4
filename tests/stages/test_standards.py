"""Each demand cell's own service standard (issue #20): by urban zone in km or minutes, in
every model (brute force on synthetic instances), in the travel stage's per-row cut and in the
config."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from evsiting.config.schema import config_from_dict
from evsiting.demand import zones as dz
from evsiting.core.errors import InputError
from evsiting.models import LSCP, MCLP
from evsiting.models.capacitated import CapacitatedSiting
from evsiting.config.params import load_parameters
from evsiting.stages.s4_travel import cut_to_standards
from evsiting.candidates.generate import reached_rows as rows_within
from evsiting.stages.s5_model import REGISTRY, ModelInputs, SolveOptions
from models_helpers import brute_lscp, brute_mclp, spatial_instance


def _standards(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice([8.0, 15.0, 30.0], n)  # synthetic: three zones' minutes


@pytest.mark.parametrize("seed", range(4))
def test_mclp_and_lscp_cover_each_cell_within_its_own_standard(seed):
    cost, w = spatial_instance(9, 6, seed=seed, size=60.0)
    r = _standards(9, seed)
    res = MCLP.from_cost_matrix(cost, weights=w, service_radius=r, p_facilities=2).solve(solver="highs")
    assert res.objective == pytest.approx(brute_mclp(cost, w, r[:, None], 2))
    covered = (cost[:, res.selected] <= r[:, None]).any(axis=1)
    np.testing.assert_array_equal(res.covered, covered)
    need = (cost <= r[:, None]).any(axis=1)
    lscp = LSCP.from_cost_matrix(cost, r, weights=need.astype(float)).solve(solver="highs")
    assert lscp.objective == brute_lscp(cost, r[:, None], need=need)


def test_one_standard_array_equals_the_scalar():
    cost, w = spatial_instance(12, 8, seed=3, size=60.0)
    a = MCLP.from_cost_matrix(cost, weights=w, service_radius=15.0, p_facilities=3).solve(solver="highs")
    b = MCLP.from_cost_matrix(cost, weights=w, service_radius=np.full(12, 15.0), p_facilities=3).solve(solver="highs")
    assert a.objective == b.objective and list(a.selected) == list(b.selected)


def test_standard_array_of_the_wrong_length_is_named():
    cost, w = spatial_instance(5, 3, seed=0)
    with pytest.raises(InputError, match="service_radius has 4 values for 5 demand points"):
        MCLP.from_cost_matrix(cost, weights=w, service_radius=np.ones(4), p_facilities=1)
    with pytest.raises(InputError, match="service_standard_min"):
        CapacitatedSiting.from_cost_matrix(cost, w, service_standard_min=np.array([1, 2, np.nan, 1, 1]),
                                           dc_port_kwh_day=100, ac_port_kwh_day=10)


@pytest.mark.parametrize("seed", range(3))
def test_capacitated_serves_each_cell_only_within_its_own_standard(seed):
    cost, w = spatial_instance(10, 5, seed=seed, size=60.0)
    r = _standards(10, seed)
    mdl = CapacitatedSiting.from_cost_matrix(cost, w * 10, None, r, dc_port_kwh_day=100.0, ac_port_kwh_day=10.0,
                                             max_dc_ports=5, max_ac_ports=5, site_cost_cny=1000.0, dc_port_cost_cny=100.0)
    res = mdl.solve(mip_gap=0.0)
    reach = (cost <= r[:, None]).any(axis=1)
    np.testing.assert_array_equal(np.sort(res.unreachable), np.flatnonzero(~reach))
    f = res.flows.tocoo()
    assert (cost[f.row, f.col] <= r[f.row] + 1e-9).all()  # energy flows only within the cell's own standard
    np.testing.assert_allclose(res.served[reach], (w * 10)[reach])


def _cells(n: int, r: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    nev = rng.integers(5, 50, n)
    return pd.DataFrame({"demand_id": [f"d{i}" for i in range(n)], "nev_count": nev, "energy_kwh_day": nev * 6.0,
                         "energy_dc_kwh_day": nev * 5.0, "standard_min": r, "county_adcode": 1, "county_name": "x"})


@pytest.mark.parametrize("kind", ["mclp", "lscp", "capacitated"])
def test_each_model_adapter_uses_the_cells_own_standard(kind):
    cost, _ = spatial_instance(14, 7, seed=5, size=60.0)
    r = _standards(14, 5)
    cells = _cells(14, r)
    block = config_from_dict({"name": "t", "model": {"type": kind, **({"p": 3} if kind == "mclp" else {})}}).model
    sol = REGISTRY[type(block)](block, ModelInputs(cells, sp.csr_matrix(np.where(np.isfinite(cost), cost, 0) * (cost <= 60)), np.zeros(0, dtype=np.int64),
                                            load_parameters()), SolveOptions("highs", 60, 0.0))
    sel = np.asarray(sol.selected)
    within = (cost[:, sel] <= r[:, None]).any(axis=1) if sel.size else np.zeros(14, dtype=bool)
    if kind == "lscp":  # every cell with a candidate within its own standard is covered
        assert within[(cost <= r[:, None]).any(axis=1)].all()
    if kind == "mclp":
        np.testing.assert_array_equal(sol.result.covered, within)
    if kind == "capacitated":
        f = sol.flows.tocoo()
        assert (cost[f.row, f.col] <= r[f.row] + 1e-9).all()
    assert rows_within(sp.csr_matrix(cost * (cost <= 60)), r).sum() == ((cost <= r[:, None]) & (cost <= 60)).any(axis=1).sum()


def test_zone_standards_from_parameters_and_km_cut_by_distance():
    params = load_parameters()
    std = dz.cell_standards(np.array(["core", "urban", "town", "rural"]), params)
    np.testing.assert_allclose(std["standard_km"].to_numpy()[:3], [1.0, 2.0, 3.0])
    assert np.isnan(std["standard_km"].iloc[3]) and std["standard_min"].iloc[3] == 15
    # 1 km at circuity 1.4 and 40 km/h: 2.1 minutes of local road
    assert std["standard_min"].iloc[0] == pytest.approx(1.0 * 1.4 / 40 * 60)
    one = dz.cell_standards(np.array(["core", "rural"]), params, single_min=20)
    assert (one["standard_min"] == 20).all() and one["standard_km"].isna().all()
    # synthetic points: a core cell at (106.7, 26.6); sites 0.9 km and 1.1 km east of it
    cells = pd.DataFrame({"lon": [106.7, 106.7], "lat": [26.6, 26.6], "standard_km": [1.0, np.nan], "standard_min": [2.1, 15.0]})
    dlon = 1.0 / (111.32 * np.cos(np.radians(26.6)))
    sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy([106.7 + 0.9 * dlon, 106.7 + 1.1 * dlon], [26.6, 26.6]), crs="EPSG:4326")
    m = sp.csr_matrix(np.array([[1.9, 2.0], [1.9, 20.0]]))  # minutes (the second core pair within 2.1 min by time only)
    cut = cut_to_standards(m, cells, sites, 15.0).toarray()
    np.testing.assert_array_equal(cut, [[1.9, 0.0], [1.9, 0.0]])


def test_config_takes_one_kind_of_standard():
    cfg = config_from_dict({"name": "t", "model": {"type": "capacitated", "zone_standards": True}})
    assert cfg.model.zone_standards
    with pytest.raises(InputError, match="zone_standards"):
        config_from_dict({"name": "t", "model": {"type": "capacitated", "zone_standards": True, "service_standard_min": 10}})


@pytest.mark.parametrize("kind", ["pmedian", "pcenter"])
def test_assigning_models_flag_coverage_by_each_cells_own_standard(kind):
    """p-median and p-center assign every cell up to max_travel_min; a cell is ``covered`` when
    its station is within the cell's own standard (synthetic instance)."""
    from evsiting.stages.s6_sizing import size_solution

    cost, _ = spatial_instance(14, 7, seed=6, size=40.0)
    r = _standards(14, 6)
    cells = _cells(14, r)
    cells["prefecture_adcode"] = 1
    cells["lon"], cells["lat"] = np.linspace(105.9, 106.0, 14), 26.2  # synthetic demand points (WGS84)
    block = config_from_dict({"name": "t", "model": {"type": kind, "p": 2}}).model
    m = sp.csr_matrix(np.where(cost == 0, 1e-9, cost))  # every pair stored (max_travel_min 60 > 40 x sqrt 2)
    inp = ModelInputs(cells, m, np.zeros(0, dtype=np.int64), load_parameters())
    sol = REGISTRY[type(block)](block, inp, SolveOptions("highs", 60, 0.0))
    sites = gpd.GeoDataFrame({"site_id": [f"s{j}" for j in range(7)], "required": False, "county_adcode": 1,
                              "prefecture_adcode": 1}, geometry=gpd.points_from_xy(np.zeros(7), np.zeros(7)), crs="EPSG:4326")
    sized = size_solution(sol, cells, sites, m, load_parameters(), standard_min=r, county_names={1: "x"}, prefecture_names={1: "X"})
    minutes = m.toarray()[np.arange(14), sol.assignment]
    np.testing.assert_array_equal(sized.cells["covered"].to_numpy(), minutes <= r)
    assert 0 < sized.cells["covered"].sum() < 14  # the synthetic standards leave some cells beyond theirs
