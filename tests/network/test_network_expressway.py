"""Expressway impedance: graph building choices on small synthetic lines (named as such) and
the real OSM motorway file of Guizhou (shared data)."""

from __future__ import annotations


import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from evsiting.network.impedance import great_circle_matrix, travel_time_matrix
from evsiting.network.expressway import (
    ExpresswayNetworks,
    build_expressway_network,
    expressway_matrix,
    expressway_network_for,
    load_motorway_lines,
)
from evsiting.config.params import load_parameters
from evsiting.core.settings import PROJECTED_CRS, WGS84, shared_dir

MOTORWAYS = shared_dir() / "guizhou_motorways_osm.geojson"
needs_motorways = pytest.mark.skipif(not MOTORWAYS.exists(), reason="shared motorway file missing")

# Synthetic lines in EPSG:32648 near Guiyang (x ~ 650 km, y ~ 2,940 km).
X0, Y0 = 650_000.0, 2_940_000.0


def synthetic_lines(lines: list[list[tuple[float, float]]], routes: list[str]) -> gpd.GeoDataFrame:
    geoms = [shapely.LineString([(X0 + x, Y0 + y) for x, y in ln]) for ln in lines]
    return gpd.GeoDataFrame({"line": range(len(geoms)), "route": routes}, geometry=geoms, crs=PROJECTED_CRS)


def write_lines_wgs84(tmp_path, lines, routes):
    gdf = synthetic_lines(lines, routes).rename(columns={"route": "ref"}).to_crs(WGS84)
    path = tmp_path / "synthetic_motorways.geojson"
    gdf.to_file(path, driver="GeoJSON")
    return path


def points(xy) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float)
    pts = gpd.GeoSeries(shapely.points(xy[:, 0] + X0, xy[:, 1] + Y0), crs=PROJECTED_CRS).to_crs(WGS84)
    return gpd.GeoDataFrame(geometry=pts.values, crs=WGS84)


def test_crossing_of_two_routes_is_an_interchange():
    lines = synthetic_lines([[(-5000, 0), (5000, 0)], [(0, -5000), (0, 5000)]], ["G1", "G2"])
    net = build_expressway_network(lines, snap_tolerance_m=100, access_spacing_m=100_000)
    assert net.info["crossings_joined"] == 1
    assert net.info["components"] == 1
    # access points: 4 line ends + the crossing
    assert net.info["access_points"] == 5
    ax = net.xy[net.access]
    assert np.isclose(np.hypot(ax[:, 0] - X0, ax[:, 1] - Y0), 0).sum() == 1
    # path from the west end to the north end: 5 km + 5 km through the crossing
    d = dijkstra(net.length_m, indices=[np.argmin(net.xy[:, 0])])[0]
    north = np.argmax(net.xy[:, 1])
    assert d[north] == pytest.approx(10_000, abs=1e-6)


def test_crossing_of_one_routes_carriageways_is_no_access_point():
    # two carriageways of one route that cross after simplification (zig-zag)
    lines = synthetic_lines([[(0, 0), (10_000, 30)], [(0, 30), (10_000, 0)]], ["G1", "G1"])
    net = build_expressway_network(lines, snap_tolerance_m=10, access_spacing_m=100_000)
    assert net.info["crossings_joined"] == 1
    assert net.info["access_points"] == 4  # only the line ends


def test_line_end_snapped_within_tolerance_only():
    # route B stops 120 m short of route A (no slip road in the data); route C 2 km short.
    lines = synthetic_lines(
        [[(-5000, 0), (5000, 0)], [(1000, 120), (1000, 6000)], [(-3000, -2000), (-3000, -8000)]],
        ["A", "B", "C"],
    )
    net = build_expressway_network(lines, snap_tolerance_m=250, access_spacing_m=100_000)
    assert net.info["line_ends_snapped"] == 1
    assert net.info["components"] == 2  # C stays apart
    start = np.argmin(np.hypot(net.xy[:, 0] - (X0 - 5000), net.xy[:, 1] - Y0))
    top = np.argmin(np.hypot(net.xy[:, 0] - (X0 + 1000), net.xy[:, 1] - (Y0 + 6000)))
    d = dijkstra(net.length_m, indices=[start])[0]
    assert d[top] == pytest.approx(6000 + 120 + 5880, abs=1e-6)
    net0 = build_expressway_network(lines, snap_tolerance_m=50, access_spacing_m=100_000)
    assert net0.info["line_ends_snapped"] == 0 and net0.info["components"] == 3


def test_access_points_spaced_along_lines():
    lines = synthetic_lines([[(0, 0), (20_000, 0), (20_000, 25_000)]], ["G1"])
    net = build_expressway_network(lines, snap_tolerance_m=100, access_spacing_m=10_000)
    # length 45 km: ends + points at 10, 20, 30, 40 km
    assert net.info["access_points"] == 6
    assert net.length_m.sum() / 2 == pytest.approx(45_000)


def test_matrix_three_legs_and_direct(tmp_path):
    """A 60 km straight expressway; demand near the west end, candidates near the east end
    and next to the demand point. Checked by hand from the parameters."""
    path = write_lines_wgs84(tmp_path, [[(0, 0), (60_000, 0)]], ["G1"])
    params = load_parameters().with_overrides(
        {"expressway_access_spacing_km": 1000, "expressway_speed_kmh": 100, "expressway_ramp_time_min": 2,
         "circuity_factor": 1.0, "local_road_speed_kmh": 60}, source="test")
    demand = points([(-1000, 0)])
    cands = points([(61_000, 0), (-1000, 3000), (200_000, 0)])
    mat, info = expressway_matrix(demand, cands, params, cutoff_min=60, motorways=path, workers=1)
    assert info["method"] == "expressway" and info["network"]["access_points"] == 2
    assert mat.shape == (1, 3)
    row = dict(zip(mat.indices, mat.data))
    gc = great_circle_matrix(demand, cands, params, 60).toarray()[0]
    # via expressway: 1 km + 1 km local at 60 km/h (2 min, geodesic ~ planar), 2 min ramp,
    # 60 km at 100 km/h (36 min, planar UTM length)
    assert row[0] == pytest.approx(40.0, rel=2e-3)
    assert gc[0] == 0  # the direct road alone (62 min) is beyond the cutoff: absent
    assert row[1] == pytest.approx(gc[1])  # direct is faster
    assert 2 not in row  # unreachable within the cutoff: absent, never inf
    assert np.isfinite(mat.data).all()
    assert info["pairs_via_expressway"] == 1
    # tighter cutoff drops the expressway pair
    mat30, _ = expressway_matrix(demand, cands, params, cutoff_min=30, motorways=path, workers=1)
    assert set(mat30.indices) == {1}


def test_missing_file_is_input_error(tmp_path):
    from evsiting.core.errors import InputError

    with pytest.raises(InputError):
        expressway_matrix(points([(0, 0)]), points([(0, 0)]), load_parameters(), 15, motorways=tmp_path / "nope.geojson")


def random_points_in(poly, k, rng) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = poly.bounds
    out = np.empty((0, 2))
    while len(out) < k:
        xy = rng.uniform([minx, miny], [maxx, maxy], (2 * k, 2))
        out = np.vstack([out, xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]])
    pts = gpd.GeoSeries(shapely.points(out[:k]), crs=PROJECTED_CRS).to_crs(WGS84)
    return gpd.GeoDataFrame(geometry=pts.values, crs=WGS84)


@pytest.fixture(scope="module")
def province():
    from evsiting.core.settings import data_dir

    return gpd.read_file(data_dir() / "guizhou_province.geojson").to_crs(PROJECTED_CRS).geometry.union_all()


@needs_motorways
def test_real_motorway_network_facts():
    lines = load_motorway_lines(MOTORWAYS)
    assert len(lines) == 307
    net, _, digest = expressway_network_for(MOTORWAYS, load_parameters())
    info = net.info
    assert len(digest) == 64
    assert 18_500 < info["length_km"] < 19_100  # SOURCES.md: 18,796 km of carriageway lines
    assert info["largest_component_length_share"] > 0.9
    assert 500 < info["access_points"] < 5000
    assert info["directed"] is False


@needs_motorways
def test_real_matrix_equals_brute_force(province):
    """Min over every access pair with full Dijkstra on the real network equals the kernel."""
    rng = np.random.default_rng(7)
    params = load_parameters()
    demand = random_points_in(province, 60, rng)
    cands = random_points_in(province, 40, rng)
    cutoff = 60.0
    mat, info = travel_time_matrix(demand, cands, "expressway", params, cutoff, motorways=MOTORWAYS)
    net, _, _ = expressway_network_for(MOTORWAYS, params)
    ramp = params.value("expressway_ramp_time_min")
    minutes = net.length_m.copy()
    minutes.data = minutes.data / 1000 / params.value("expressway_speed_kmh") * 60
    ap = net.access_points()
    acc = great_circle_matrix(demand, ap, params, cutoff).toarray()
    acc[acc == 0] = np.inf  # no access point coincides with a random point
    used = np.isfinite(acc).any(axis=0)  # access points some demand point reaches
    E = np.full((len(ap), len(ap)), np.inf)
    E[used] = dijkstra(minutes, indices=net.access[used], limit=cutoff)[:, net.access]
    egr = great_circle_matrix(ap, cands, params, cutoff).toarray()
    egr[egr == 0] = np.inf
    direct = great_circle_matrix(demand, cands, params, cutoff).toarray()
    direct[direct == 0] = np.inf
    via = np.min(acc[:, :, None] + E[None, :, :], axis=1)  # demand x access(b)
    via = np.min(via[:, :, None] + egr[None, :, :], axis=1) + ramp
    expect = np.minimum(direct, via)
    expect[expect > cutoff] = np.inf
    got = np.full(mat.shape, np.inf)
    coo = mat.tocoo()
    got[coo.row, coo.col] = coo.data
    assert np.array_equal(np.isfinite(got), np.isfinite(expect))
    fin = np.isfinite(expect)
    assert np.allclose(got[fin], expect[fin], rtol=0, atol=1e-9)
    assert info["pairs_via_expressway"] > 0


@needs_motorways
def test_province_wide_points_get_a_complete_matrix(province):
    """Random points over the whole province (its speed at 40,000 x 3,000 is measured in
    benchmarks/bench_expressway.py, not here)."""
    rng = np.random.default_rng(3)
    demand = random_points_in(province, 4_000, rng)
    cands = random_points_in(province, 300, rng)
    params = load_parameters()
    mat, info = expressway_matrix(demand, cands, params, 15, networks=ExpresswayNetworks())
    assert isinstance(mat, sp.csr_matrix) and mat.shape == (4_000, 300)
    assert mat.nnz > 0 and mat.data.max() <= 15 and np.isfinite(mat.data).all()
    direct = great_circle_matrix(demand, cands, params, 15)
    # the expressway never makes a pair slower, and keeps every direct pair
    assert (direct.astype(bool) > mat.astype(bool)).nnz == 0
    assert (mat[direct.astype(bool)] <= direct[direct.astype(bool)] + 1e-9).all()


def test_impedance_expressway_reads_config_motorways(tmp_path):
    from evsiting.config.schema import config_from_dict

    path = write_lines_wgs84(tmp_path, [[(0, 0), (60_000, 0)]], ["G1"])
    cfg = config_from_dict({"name": "x", "model": {"p": 3}, "impedance": {"method": "expressway"},
                            "data": {"motorways": str(path)}}, base_dir=tmp_path)
    demand, cands = points([(-1000, 0)]), points([(61_000, 0)])
    mat, info = travel_time_matrix(demand, cands, "expressway", load_parameters(), 60, config=cfg)
    assert info["motorways"] == str(path) and mat.nnz == 1


def test_motorways_from_overpass_offline(monkeypatch, tmp_path):
    """The Overpass path for the motorway layer; osmnx's request replaced by synthetic ways."""
    import osmnx as ox

    from evsiting.network.expressway import motorways_from_overpass

    lines = synthetic_lines([[(-5000, 0), (5000, 0)], [(0, -5000), (0, 5000)]], ["G1", "G2"]).to_crs(WGS84)
    fake = gpd.GeoDataFrame({"element": ["way", "way", "node"], "id": [1, 2, 3], "highway": ["motorway"] * 2 + ["motorway_junction"],
                             "ref": ["G1", "G2", None]},
                            geometry=list(lines.geometry) + [shapely.Point(106.7, 26.6)], crs=WGS84).set_index(["element", "id"])
    seen = {}

    def fake_features(polygon, tags):
        seen["tags"] = tags
        return fake

    monkeypatch.setattr(ox, "features_from_polygon", fake_features)
    out = motorways_from_overpass(shapely.box(106, 26, 107, 27), tmp_path / "m.geojson", cache_dir=tmp_path)
    assert seen["tags"] == {"highway": "motorway"}
    got = load_motorway_lines(out)
    assert len(got) == 2 and list(got["route"]) == ["G1", "G2"]
    net = build_expressway_network(got, 100, 100_000)
    assert net.info["crossings_joined"] == 1
