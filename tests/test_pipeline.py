"""The province run end to end on the real data (small candidate set to stay fast)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

from evsiting.config import load_config
from evsiting.demand import cells as dc
from evsiting.pipeline import run
from evsiting.stages.s6_sizing import assign_cells
from evsiting.settings import configs_dir, resolve_path


@pytest.fixture(scope="module")
def province(tmp_path_factory, shared):
    cfg = load_config(configs_dir() / "guizhou.yaml")
    cfg.candidates.per_county = 8
    cfg.model.nevs_per_station = 2500  # p = 280
    out = tmp_path_factory.mktemp("out")
    return run(cfg, out_base=out)


def test_outputs_are_wgs84_and_sites_inside_guizhou(province):
    sites = gpd.read_file(province.out_dir / "sites.geojson")
    demand = gpd.read_file(province.out_dir / "demand.geojson")
    assert sites.crs.to_epsg() == 4326 and demand.crs.to_epsg() == 4326
    outline = gpd.read_file(resolve_path("data:guizhou_province.geojson")).union_all()
    assert outline.buffer(1e-9).contains(sites.union_all())
    for name in ("sites.geojson", "demand.geojson"):
        text = (province.out_dir / name).read_text()
        assert '"crs"' not in text and "NaN" not in text and "Infinity" not in text


def test_vehicles_sum_to_the_target_and_prefecture_shares_follow_weights(province):
    demand = gpd.read_file(province.out_dir / "demand.geojson")
    assert int(demand["nev_count"].sum()) == 700_000
    census = dc.read_census(
        resolve_path("shared:guizhou_counties_census2020.csv"),
        resolve_path("shared:guizhou_urbanisation_census2020.csv"),
        resolve_path("shared:guizhou_household_cars_census2020.csv"),
    )
    w = dc.county_weights(census, "population_x_car_share")
    pref_w = w.groupby(census.counties.set_index("adcode")["prefecture_adcode"]).sum()
    expected = pref_w / pref_w.sum() * 700_000
    got = demand.groupby("prefecture_adcode")["nev_count"].sum()
    # Integer apportionment at county level: within 1 vehicle per county of the quota.
    assert np.all(np.abs(got - expected.loc[got.index]) <= 16)


def test_reported_coverage_equals_coverage_from_the_matrix(province):
    res = province
    selected = np.flatnonzero(res.candidates["site_id"].isin(res.sites["site_id"]).to_numpy())
    reach = res.matrix[:, selected]
    covered_rows = np.diff(reach.indptr) > 0
    nev = res.cells["nev_count"].to_numpy()
    share = nev[covered_rows].sum() / nev.sum()
    assert res.summary["total"]["coverage_share"] == pytest.approx(share, abs=1e-6)
    assert len(res.sites) <= res.summary["p"]


def test_ports_cover_the_energy_served(province):
    s = province.sites
    summary = json.loads((province.out_dir / "summary.json").read_text())
    assert summary["total"]["stations"] == len(s)
    cap = s["ports_dc"] * 120 * 4 + s["ports_ac"] * 7 * 4  # default power x utilisation hours
    assert (cap >= s["demand_served_kwh_day"] - 1e-6).all()
    assert summary["total"]["ports_dc"] == int(s["ports_dc"].sum())
    per = summary["prefectures"]
    assert sum(p["nev_count"] for p in per) == summary["total"]["nev_count"] == 700_000


def test_assign_cells_picks_the_closest_open_site():
    import scipy.sparse as sp

    m = sp.csr_matrix(np.array([[5.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 9.0]]))
    # Stored entries only: row 1 reaches nothing.
    assign, minutes = assign_cells(m, np.array([0, 1]))
    assert assign.tolist() == [1, -1, 0] and minutes[0] == 3.0 and np.isnan(minutes[1])
