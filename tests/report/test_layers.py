"""Map layers of a run (sites with facility types, allocation lines, service areas), their
QGIS styles and the GeoPackage: a real Anshun run (small candidate set) plus a synthetic
road grid (named as such) for network isochrones."""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import xml.dom.minidom

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape

from evsiting.report import layers as L
from evsiting.report import styles
from evsiting.config.schema import load_config
from evsiting.sizing.costs import station_cost, total_cost
from evsiting.network.matrix import graph_to_csr
from evsiting.network.road import RoadNetwork
from evsiting.config.params import load_parameters
from evsiting.runs.run import run
from evsiting.core.settings import PROJECTED_CRS, WGS84, configs_dir

from locations import FIXTURES

LAYERS = ("sites", "stations", "demand", "allocation", "service_areas")


@pytest.fixture(scope="module")
def anshun(tmp_path_factory, shared):
    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    cfg.candidates.per_county = 8
    cfg.impedance.method = "great_circle"
    cfg.model.zone_standards = False  # one 15-minute standard: the service areas are geodesic buffers
    # least capital cost: this module tests the layers, not the objective (one 15-min standard
    # with drivers' access cost is a hard capacitated facility location instance, issue #24)
    cfg.model.allocation_cny_per_kwh_min = 0.0
    cfg.demand.fine_h3_resolution = None  # resolution-7 cells everywhere (finer city cells are for zone standards)
    cfg.solver.mip_gap = 0.02  # the layers of any feasible plan: a proven 2 % is enough (0.5 % took 5x longer)
    out = tmp_path_factory.mktemp("layers")
    res = run(cfg, out_base=out)
    params = load_parameters()
    lay = L.build_layers(res.cells, res.candidates, res.sites, res.matrix, cfg.model.service_standard_min, params=params, impedance_method="great_circle")
    return res, params, lay


def _same(a, b) -> bool:
    none_a = a is None or (isinstance(a, float) and math.isnan(a))
    none_b = b is None or (isinstance(b, float) and math.isnan(b))
    if none_a or none_b:
        return none_a and none_b
    if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
        return float(a) == float(b)
    return a == b


def _assert_reloads_identically(path, original: gpd.GeoDataFrame):
    """geopandas reload: same rows, geometry within 1e-7 deg, same property values."""
    back = gpd.read_file(path)
    assert len(back) == len(original)
    if len(original) == 0:
        return
    assert back.crs.to_epsg() == 4326
    orig = original.to_crs(WGS84).reset_index(drop=True)
    cols = [c for c in orig.columns if c != orig.geometry.name]
    assert list(back.columns.drop("geometry")) == cols
    d = shapely.hausdorff_distance(back.geometry.to_numpy(), orig.geometry.to_numpy())
    assert np.nanmax(d) <= 1e-7
    for c in cols:
        for a, b in zip(back[c].tolist(), orig[c].tolist()):
            assert _same(a, b), (path.name, c, a, b)


def test_run_writes_every_layer_with_style_and_gpkg(anshun):
    res, _, _ = anshun
    for name in LAYERS:
        assert (res.out_dir / f"{name}.geojson").exists()
        assert (res.out_dir / f"{name}.qml").read_text() == styles.qml(name)
    assert sorted(L.gpkg_layer_names(res.out_dir / "run.gpkg")) == sorted(LAYERS)


def test_geojson_rfc7946_no_crs_nan_infinity_integer_ids(anshun):
    res, _, _ = anshun
    for name in LAYERS:
        text = (res.out_dir / f"{name}.geojson").read_text(encoding="utf-8")
        assert '"crs"' not in text and "NaN" not in text and "Infinity" not in text
        fc = json.loads(text, parse_constant=lambda c: pytest.fail(f"{name}: {c}"))
        assert set(fc) == {"type", "features"}
        assert [f["id"] for f in fc["features"]] == list(range(len(fc["features"])))
        for f in fc["features"]:
            for v in f["properties"].values():
                assert not isinstance(v, (dict, list))  # flat properties
            geom = f["geometry"]
            if geom and geom["type"] == "Polygon":
                assert shapely.LinearRing(geom["coordinates"][0]).is_ccw
            coords = np.array(shapely.get_coordinates(shape(geom))) if geom else np.empty((0, 2))
            assert np.all(np.round(coords, 7) == coords)


def test_every_geojson_reloads_with_identical_geometry_and_properties(anshun):
    res, _, lay = anshun
    demand = gpd.read_file(res.out_dir / "demand.geojson")
    originals = {"sites": lay["sites"], "allocation": lay["allocation"], "service_areas": lay["service_areas"]}
    for name, gdf in originals.items():
        _assert_reloads_identically(res.out_dir / f"{name}.geojson", gdf)
    cols = list(demand.columns.drop("geometry"))
    _assert_reloads_identically(res.out_dir / "demand.geojson", res.cells[cols + ["geometry"]])


def test_sites_layer_fields_follow_location_allocation(anshun):
    res, params, lay = anshun
    s = lay["sites"]
    assert list(s.columns.drop("geometry")) == L.SITE_COLUMNS
    assert len(s) == len(res.candidates)
    assert set(s["facility_type"]) <= set(L.FACILITY_TYPES)
    chosen = s[s["facility_type"] == "chosen"]
    assert sorted(chosen["site_id"]) == sorted(res.sites["site_id"])
    cand = s[s["facility_type"] == "candidate"]
    assert (cand[["ports_dc", "ports_ac", "demand_count", "nev_served"]] == 0).all().all()
    assert cand["dc_peak_wait_min"].isna().all()
    cells = res.cells
    cov = cells[cells["covered"]]
    assert s["demand_count"].sum() == len(cov)
    # the capacitated default splits cells between stations: NEVs served per station are rounded
    nev_served = (cells["nev_count"] * cells["served_kwh_day"] / cells["energy_kwh_day"]).fillna(0).sum()
    assert s["nev_served"].sum() == pytest.approx(nev_served, abs=len(res.sites))
    assert cov["nev_count"].sum() == res.summary["total"]["nev_covered"]
    assert s["demand_weight"].sum() == pytest.approx(cov["nev_count"].sum())
    assert s["total_weighted_minutes"].sum() == pytest.approx((cov["nev_count"] * cov["travel_min"]).sum(), rel=1e-6)
    assert (s["ports_total"] == s["ports_dc"] + s["ports_ac"]).all()
    extra_stations = int((res.sites["stations"] - 1).sum())  # sites holding several stations
    assert s["cost_cny"].sum() == pytest.approx(total_cost(res.sites["ports_dc"], res.sites["ports_ac"], params)
                                                + extra_stations * params.value("site_cost"))
    assert res.summary["total"]["cost_cny"] == pytest.approx(s["cost_cny"].sum())


def test_allocation_lines_join_demand_points_to_their_station(anshun):
    res, _, lay = anshun
    a = lay["allocation"]
    cov = res.cells[res.cells["covered"]].set_index("demand_id")
    assert len(a) == len(cov)
    start = shapely.get_point(a.geometry.to_numpy(), 0)
    end = shapely.get_point(a.geometry.to_numpy(), -1)
    c = cov.loc[a["demand_id"]]
    assert np.allclose(shapely.get_x(start), c["lon"]) and np.allclose(shapely.get_y(start), c["lat"])
    st = res.candidates.set_index("site_id").geometry.loc[a["station_id"]]
    assert np.allclose(shapely.get_x(end), st.x) and np.allclose(shapely.get_y(end), st.y)
    assert np.allclose(a["travel_min"], c["travel_min"].round(3))


def test_service_area_buffers_hold_exactly_the_points_within_the_standard(anshun):
    res, params, lay = anshun
    sa = lay["service_areas"]
    assert len(sa) == len(res.sites) and set(sa["method"]) == {"geodesic_buffer"}
    r_km = 15 / 60 * params.value("local_road_speed_kmh") / params.value("circuity_factor")
    assert sa["radius_km"].iloc[0] == pytest.approx(r_km)
    # a 72-gon inscribed in the circle: area within 0.2 % of pi r^2
    assert np.allclose(sa["area_km2"], math.pi * r_km**2, rtol=2e-3)
    pts = gpd.points_from_xy(res.cells["lon"], res.cells["lat"])
    cols = np.flatnonzero(res.candidates["site_id"].isin(res.sites["site_id"]).to_numpy())
    sub = res.matrix[:, cols].tocsc()
    for k, poly in enumerate(sa.geometry):
        assert sa["site_id"].iloc[k] == res.candidates["site_id"].iloc[cols[k]]
        inside = shapely.contains_xy(poly, shapely.get_x(pts), shapely.get_y(pts))
        col = sub[:, k]
        within = np.zeros(len(pts), dtype=bool)
        within[col.indices[col.data <= 15 * 0.997]] = True  # clear of the polygon's chords
        assert inside[within].all()
        far = np.ones(len(pts), dtype=bool)
        far[col.indices] = False
        assert not inside[far].any()
        assert sa["nev_within"].iloc[k] == res.cells["nev_count"].to_numpy()[col.indices[col.data <= 15]].sum()


def test_reached_cells_method_for_other_impedances(anshun):
    res, params, _ = anshun
    lay = L.build_layers(res.cells, res.candidates, res.sites, res.matrix, 15, params=params, impedance_method="expressway")
    sa = lay["service_areas"]
    assert set(sa["method"]) == {"reached_cells"} and sa["radius_km"].isna().all()
    cols = np.flatnonzero(res.candidates["site_id"].isin(res.sites["site_id"]).to_numpy())
    cells = res.cells.geometry.to_numpy()
    rows = res.matrix[:, cols[0]].tocoo().row
    assert sa.geometry.iloc[0].buffer(1e-9).contains(shapely.union_all(cells[rows]))


def test_gpkg_layers_and_layer_styles_table(anshun):
    res, _, _ = anshun
    gpkg = res.out_dir / "run.gpkg"
    with contextlib.closing(sqlite3.connect(gpkg)) as con:
        rows = con.execute("SELECT f_table_name, f_geometry_column, styleName, styleQML, useAsDefault FROM layer_styles ORDER BY f_table_name").fetchall()
        kind = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone()
    assert [r[0] for r in rows] == sorted(LAYERS) and all(r[4] == 1 for r in rows)
    assert kind == ("attributes",)
    for name, geom_col, _, qml, _ in rows:
        assert qml == styles.qml(name) and geom_col == "geom"
    back = gpd.read_file(gpkg, layer="sites")
    ref = gpd.read_file(res.out_dir / "sites.geojson")
    assert back.crs.to_epsg() == 4326 and len(back) == len(ref)
    assert (back["facility_type"] == ref["facility_type"]).all() and (back["ports_total"] == ref["ports_total"]).all()


def test_outputs_are_byte_identical_across_runs(anshun, tmp_path):
    res, _, lay = anshun
    layers = {"sites": lay["sites"], "allocation": lay["allocation"], "service_areas": lay["service_areas"]}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    L.write_layers(tmp_path / "a", layers)
    L.write_layers(tmp_path / "b", layers)
    for p in sorted((tmp_path / "a").iterdir()):
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes(), p.name
    for name in layers:  # same as what the run wrote
        assert (tmp_path / "a" / f"{name}.geojson").read_bytes() == (res.out_dir / f"{name}.geojson").read_bytes()


def test_empty_layers_are_valid_empty_feature_collections(anshun, tmp_path):
    res, params, _ = anshun
    cells = res.cells.assign(covered=False, travel_min=np.nan, station_id=None)
    lay = L.build_layers(cells, res.candidates, res.sites.iloc[:0], res.matrix, 15, params=params)
    assert len(lay["allocation"]) == 0 and len(lay["service_areas"]) == 0
    assert set(lay["sites"]["facility_type"]) == {"candidate"}
    L.write_layers(tmp_path, lay)
    for name in ("allocation", "service_areas"):
        fc = json.loads((tmp_path / f"{name}.geojson").read_text())
        assert fc == {"type": "FeatureCollection", "features": []}
        _assert_reloads_identically(tmp_path / f"{name}.geojson", lay[name])
        assert len(gpd.read_file(tmp_path / "run.gpkg", layer=name)) == 0


def test_qml_styles_are_xml_and_name_existing_fields(anshun):
    res, _, lay = anshun
    fields = {
        "sites": set(lay["sites"].columns),
        "stations": set(gpd.read_file(res.out_dir / "stations.geojson", rows=1).columns),
        "demand": set(gpd.read_file(res.out_dir / "demand.geojson", rows=1).columns),
        "allocation": set(lay["allocation"].columns),
        "service_areas": set(lay["service_areas"].columns),
    }
    for name in styles.STYLED_LAYERS:
        doc = xml.dom.minidom.parseString(styles.qml(name).encode())
        r = doc.getElementsByTagName("renderer-v2")[0]
        attr = r.getAttribute("attr")
        if attr:
            assert attr in fields[name]
        for expr in doc.getElementsByTagName("Option"):
            if expr.getAttribute("name") == "expression":
                for f in ("ports_total", "covered"):
                    if f'"{f}"' in expr.getAttribute("value"):
                        assert f in fields[name]
    sites = xml.dom.minidom.parseString(styles.qml("sites").encode())
    assert {c.getAttribute("value") for c in sites.getElementsByTagName("category")} == set(L.FACILITY_TYPES)
    with pytest.raises(KeyError):
        styles.qml("nope")


def test_station_cost():
    p = load_parameters()
    c = station_cost([2, 0], [10, 0], p)
    assert c[0] == p.value("site_cost") + 2 * p.value("dc_port_cost") + 10 * p.value("ac_port_cost")
    assert c[1] == p.value("site_cost")
    with pytest.raises(ValueError):
        station_cost([-1], [0], p)


def _synthetic_grid(n=11, spacing_m=500.0, seconds=60.0):
    """Synthetic road grid (not real data): n x n nodes, 500 m apart, 60 s per link each
    way, placed in EPSG:32648 near Guiyang."""
    G = nx.MultiDiGraph(crs=PROJECTED_CRS)
    x0, y0 = 650_000.0, 2_940_000.0
    for i in range(n):
        for j in range(n):
            G.add_node(i * n + j, x=x0 + j * spacing_m, y=y0 + i * spacing_m)
    for i in range(n):
        for j in range(n):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < n and j + dj < n:
                    a, b = i * n + j, (i + di) * n + (j + dj)
                    G.add_edge(a, b, travel_time=seconds, length=spacing_m)
                    G.add_edge(b, a, travel_time=seconds, length=spacing_m)
    return RoadNetwork(G, graph_to_csr(G, "travel_time"), {"source": "synthetic"}), x0, y0


def test_network_isochrone_on_a_synthetic_grid():
    net, x0, y0 = _synthetic_grid()
    p = load_parameters()
    centre = gpd.GeoDataFrame(geometry=gpd.points_from_xy([x0 + 2500], [y0 + 2500]), crs=PROJECTED_CRS)
    far = gpd.GeoDataFrame(geometry=gpd.points_from_xy([x0 - 50_000], [y0]), crs=PROJECTED_CRS)
    iso = L.network_isochrones(net, pd.concat([centre, far], ignore_index=True), 4.0, p, snap_limit_m=200)
    assert iso[1] is None  # beyond the snap limit of every node
    poly = gpd.GeoSeries([iso[0]], crs=WGS84).to_crs(PROJECTED_CRS).iloc[0]
    # 4 min = 4 links of 60 s: nodes up to 4 hops from the centre (5, 5) are inside
    for (i, j), inside in {((5, 9), True), ((9, 5), True), ((7, 7), True), ((5, 10), False), ((8, 8), False), ((0, 0), False)}:
        pt = shapely.Point(x0 + j * 500.0, y0 + i * 500.0)
        assert poly.contains(pt) is inside, (i, j)
    # discs are capped by the snap limit: nothing beyond 4 links + 200 m
    assert poly.bounds[2] <= x0 + 9 * 500 + 200 + 1


def test_network_isochrone_in_service_areas_layer(anshun):
    net, x0, y0 = _synthetic_grid()
    _, p, _ = anshun
    pt = gpd.GeoSeries(gpd.points_from_xy([x0 + 2500], [y0 + 2500]), crs=PROJECTED_CRS).to_crs(WGS84)
    sites = gpd.GeoDataFrame({"site_id": ["s0"], "facility_type": ["chosen"]}, geometry=pt, crs=WGS84)
    cells = gpd.GeoDataFrame({"nev_count": [10]}, geometry=pt.to_crs(PROJECTED_CRS).buffer(100).to_crs(WGS84), crs=WGS84)
    import scipy.sparse as sp

    sa = L.service_areas_layer(sites, cells, sp.csr_matrix(np.array([[1.0]])), 4.0, p, method="network_isochrone", network=net, snap_limit_m=200)
    assert sa["method"].iloc[0] == "network_isochrone" and sa["area_km2"].iloc[0] > 1.0
    assert sa["nev_within"].iloc[0] == 10
    with pytest.raises(ValueError):
        L.service_areas_layer(sites, cells, sp.csr_matrix(np.array([[1.0]])), 4.0, p, method="network_isochrone")


def test_run_with_a_road_network_draws_isochrones(tmp_path, shared):
    """Guiyang on the synthetic OSM fixture (a hand-made block near Guiyang, not real data):
    the service areas are isochrones on the same graph as the travel times, and hold every
    demand point the matrix puts within the standard of the station."""

    from evsiting.config.schema import MCLPConfig, NetworkConfig

    cfg = load_config(configs_dir() / "prefectures" / "guiyang.yaml")
    cfg.candidates.per_county = 5
    cfg.impedance.method = "network"
    cfg.model = MCLPConfig(p=3)
    cfg.network = NetworkConfig(source="file", path=str(FIXTURES / "synthetic_small.osm"), buffer_m=2000)
    res = run(cfg, out_base=tmp_path)
    sa = gpd.read_file(res.out_dir / "service_areas.geojson")
    assert len(sa) == len(res.sites) >= 1 and set(sa["method"]) == {"network_isochrone"}
    cols = np.flatnonzero(res.candidates["site_id"].isin(res.sites["site_id"]).to_numpy())
    assert sa["demand_points_within"].sum() > 0
    for k, j in enumerate(cols):
        rows = res.matrix[:, j].tocoo().row
        assert sa["demand_points_within"].iloc[k] == len(rows)
        for i in rows:
            pt = shapely.Point(res.cells["lon"].iloc[i], res.cells["lat"].iloc[i])
            assert sa.geometry.iloc[k].distance(pt) < 1e-4  # inside, up to the discs' polygon chords


def test_one_colour_language_for_map_png_and_qgis_styles():
    """sites.qml (and the stations layer, which uses it) draws new and existing stations in the
    colours of map.png; the service-area wash is grey, neither station colour."""
    from evsiting.report.html import TYPE_COLOURS

    doc = xml.dom.minidom.parseString(styles.qml("sites").encode())
    cats = {c.getAttribute("value"): c.getAttribute("symbol") for c in doc.getElementsByTagName("category")}
    colours = {}
    for sym in doc.getElementsByTagName("symbol"):
        for p in sym.getElementsByTagName("prop"):
            if p.getAttribute("k") == "color":
                colours[sym.getAttribute("name")] = p.getAttribute("v")
    for ftype, hexcol in TYPE_COLOURS.items():
        rgb = ",".join(str(int(hexcol[k:k + 2], 16)) for k in (1, 3, 5))
        assert colours[cats[ftype]] == rgb + ",255", ftype
    wash = xml.dom.minidom.parseString(styles.qml("service_areas").encode())
    fill = next(p.getAttribute("v") for p in wash.getElementsByTagName("prop") if p.getAttribute("k") == "color")
    r, g, b, _ = map(int, fill.split(","))
    assert r == g == b  # grey
    assert styles.qml("stations") == styles.qml("sites")
