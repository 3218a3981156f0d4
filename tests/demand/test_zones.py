"""Urban zones of the demand cells (evsiting.demand.zones) on the real Guizhou data, and the
contiguity rule on a synthetic hexagon grid."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from evsiting.study.areas import read_polygons, study_counties
from evsiting.config.schema import RunConfig
from evsiting.demand import cells as dc
from evsiting.demand import zones as dz
from evsiting.io.points import read_points
from evsiting.config.params import load_parameters
from evsiting.core.settings import resolve_path


@pytest.fixture(scope="module")
def guiyang_anshun(shared):
    cfg = RunConfig(name="t", model={"p": 1})
    p = resolve_path
    counties = study_counties(read_polygons(p(cfg.data.counties), ("district_adcode", "city_adcode")), None)
    counties = counties[counties["prefecture_adcode"].isin([520100, 520400])]
    census = dc.read_census(p(cfg.data.county_population), p(cfg.data.urbanisation), p(cfg.data.household_cars))
    seats = read_points(p(cfg.data.county_seats.path), crs="gcj02", id_column="adcode")
    inputs = dz.read_zone_inputs(p(cfg.data.city_proper), p(cfg.data.places))
    cn = dc.allocate_to_counties(700_000, dc.county_weights(census, "population_x_car_share"))
    params = load_parameters()
    cells = dc.build_demand_cells(counties, cn, census, seats, params, resolution=7, rates={"public_kwh_per_vehicle": 1, "dc_kwh_per_vehicle": 0})
    cells["zone"] = dz.classify_zones(cells, census.counties, inputs, seats, params)
    return cells, census, inputs


def test_zones_conserve_population_per_county(guiyang_anshun):
    cells, census, _ = guiyang_anshun
    assert set(cells["zone"]) <= set(dz.ZONES)
    by_zone = cells.pivot_table(index="county_adcode", columns="zone", values="population", aggfunc="sum").fillna(0)
    census_pop = census.counties.set_index("adcode")["population"]
    np.testing.assert_array_equal(by_zone.sum(axis=1).to_numpy(), census_pop.loc[by_zone.index].to_numpy())
    assert cells["population"].sum() == census_pop.loc[cells["county_adcode"].unique()].sum()


def test_core_is_the_city_proper(guiyang_anshun):
    cells, _, inputs = guiyang_anshun
    core = cells[cells["zone"] == "core"]
    # core only in counties of a city with a census 城区 population (Guiyang's districts, 清镇市, 西秀区...)
    assert set(core["county_adcode"]) <= set(inputs.city_of)
    assert 520103 in set(core["county_adcode"]) and 520121 not in set(core["county_adcode"])  # 云岩区 yes, 开阳县 no
    # Guiyang's core holds about its 城区 population (3,826,905): the densest cells up to it
    city = cells["county_adcode"].map(inputs.city_of) == 520100
    g = cells.loc[city & (cells["zone"] == "core"), "population"].sum()
    centre, _ = dz.degurba(cells, load_parameters())
    assert g <= 3_826_905 + cells["population"].max()
    assert g >= 3_826_905 or (cells.loc[city & centre, "zone"] == "core").all()  # budget reached, or every urban-centre cell taken
    assert g > 3_000_000
    # a county seat's cell is never rural
    assert (cells.loc[cells["population"].idxmax(), "zone"]) == "core"
    dens = cells["population"] / cells["area_km2"]
    assert dens[cells["zone"] == "core"].min() >= 1500  # an urban centre's density
    assert dens[cells["zone"] == "rural"].max() < dens[cells["zone"] == "core"].min()


def test_contiguous_clusters_join_neighbours_only():
    # synthetic: two separate blobs of hexagons (ring 1 around two far-apart cells) and a loner
    a = h3.latlng_to_cell(26.6, 106.7, 7)
    b = h3.latlng_to_cell(26.0, 105.9, 7)
    blob_a = sorted(h3.grid_disk(a, 1))
    blob_b = sorted(h3.grid_disk(b, 1))
    ids = np.array(blob_a + blob_b + [a], dtype=object)  # `a` twice: a hexagon cut by a border
    mask = np.ones(len(ids), dtype=bool)
    mask[0] = False
    lab = dz.contiguous_clusters(ids, mask)
    assert lab[0] == -1
    assert len(set(lab[1:7])) == 1 and len(set(lab[7:14])) == 1 and lab[1] != lab[7]
    assert lab[14] == lab[blob_a.index(a)]


def test_degurba_thresholds_come_from_parameters():
    params = load_parameters()
    assert params.value("degurba_centre_density") == 1500 and params.value("degurba_cluster_population") == 5000
    # synthetic ring of 7 dense hexagons of 5 km² with 8,000 people each = 56,000: an urban centre
    c = h3.latlng_to_cell(26.6, 106.7, 7)
    ids = sorted(h3.grid_disk(c, 1))
    df = pd.DataFrame({"h3": ids, "population": 8000, "area_km2": 5.0})
    centre, cluster = dz.degurba(df, params)
    assert centre.all() and cluster.all()
    df["population"] = 7000  # 49,000 < 50,000: an urban cluster only
    centre, cluster = dz.degurba(df, params)
    assert not centre.any() and cluster.all()


def test_multi_resolution_grid_conserves_nevs_per_county(guiyang_anshun):
    cells, census, _ = guiyang_anshun
    cfg = RunConfig(name="t", model={"p": 1})
    p = resolve_path
    counties = study_counties(read_polygons(p(cfg.data.counties), ("district_adcode", "city_adcode")), None)
    counties = counties[counties["prefecture_adcode"].isin([520100, 520400])]
    seats = read_points(p(cfg.data.county_seats.path), crs="gcj02", id_column="adcode")
    cn = dc.allocate_to_counties(700_000, dc.county_weights(census, "population_x_car_share"))
    refine = cells["zone"].isin(dz.FINE_ZONES).to_numpy()
    pieces = dz.refine_pieces(cells, refine, 8)
    fine = dc.build_demand_cells(counties, cn, census, seats, load_parameters(), resolution=7,
                                 rates={"public_kwh_per_vehicle": 1, "dc_kwh_per_vehicle": 0}, pieces=pieces)
    assert fine["demand_id"].is_unique and set(fine["h3_resolution"]) == {7, 8}
    # vehicles and residents conserved per county; areas tile each county as the coarse cells did
    for col in ("nev_count", "population", "area_km2"):
        a = fine.groupby("county_adcode")[col].sum()
        b = cells.groupby("county_adcode")[col].sum()
        if col == "area_km2":
            np.testing.assert_allclose(a.loc[b.index], b, rtol=1e-6)
        else:
            np.testing.assert_array_equal(a.loc[b.index].to_numpy(), b.to_numpy())
    np.testing.assert_array_equal(fine.groupby("county_adcode")["nev_count"].sum().loc[counties["adcode"]].to_numpy(),
                                  cn.loc[counties["adcode"]].to_numpy())
    # the fine cells are exactly the core and urban zones, with their area; the rest is unchanged
    assert set(fine.loc[fine["h3_resolution"] == 8, "zone"]) <= set(dz.FINE_ZONES)
    assert (fine.loc[fine["h3_resolution"] == 7, "zone"].isin(["town", "rural"])).all()
    np.testing.assert_allclose(fine.loc[fine["h3_resolution"] == 8, "area_km2"].sum(), cells.loc[refine, "area_km2"].sum(), rtol=1e-6)
    assert (fine["h3_resolution"] == 8).sum() > 4 * refine.sum()  # about 7 fine cells per coarse one
