"""CLI ``evsiting network fetch|info``, the Overpass code paths (osmnx calls replaced by the
small synthetic fixture: tests never touch the network) and OSM candidate sites."""

from __future__ import annotations


import geopandas as gpd
import numpy as np
import osmnx as ox
import shapely
from typer.testing import CliRunner

from evsiting.cli import app
from evsiting.demand.buildings import buildings_from_pbf, footprint_area_m2
from evsiting.candidates.osm import candidates_from_overpass, candidates_from_pbf
from evsiting.network.sources import graph_from_file, load_graph
from real_data import helsinki_pbf

from locations import FIXTURES, REPO

runner = CliRunner()


def test_cli_info_on_helsinki():
    res = runner.invoke(app, ["network", "info", str(helsinki_pbf()), "--crs", "EPSG:32635"])
    assert res.exit_code == 0, res.output
    assert "nodes 202" in res.output and "strongly connected" in res.output
    assert "speed coverage" in res.output and "residential" in res.output


def test_cli_info_missing_file_exit_2(tmp_path):
    res = runner.invoke(app, ["network", "info", str(tmp_path / "none.osm.pbf")])
    assert res.exit_code == 2
    assert "not found" in res.output


def test_cli_fetch_unknown_prefecture_and_source():
    assert runner.invoke(app, ["network", "fetch", "--prefecture", "Atlantis"]).exit_code == 2
    assert runner.invoke(app, ["network", "fetch", "--source", "ftp"]).exit_code == 2


def test_cli_fetch_overpass_offline(monkeypatch, tmp_path):
    """The Overpass path: osmnx.graph_from_polygon is called with the buffered prefecture
    polygon, drive network, cache on; here it returns the synthetic fixture graph."""
    calls = {}

    def fake_graph_from_polygon(polygon, **kw):
        calls["polygon"], calls["kw"] = polygon, kw
        calls["cache"] = (ox.settings.use_cache, ox.settings.cache_folder)
        return graph_from_file(FIXTURES / "synthetic_small.osm")

    monkeypatch.setattr(ox, "graph_from_polygon", fake_graph_from_polygon)
    out = tmp_path / "guiyang.graphml"
    res = runner.invoke(app, ["network", "fetch", "--prefecture", "贵阳", "--source", "overpass",
                              "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert calls["kw"]["network_type"] == "drive" and calls["kw"]["retain_all"] is True
    assert calls["cache"] == (True, str(tmp_path / "cache"))
    poly = calls["polygon"]
    # Guiyang buffered by 5 km: contains the prefecture and more
    gy = gpd.read_file(REPO / "data" / "guizhou_prefectures.geojson")
    gy = gy[gy["city_adcode"].astype(int) == 520100].geometry.union_all()
    assert poly.contains(gy.buffer(-1e-6)) and poly.area > gy.area * 1.05
    G = ox.load_graphml(out)
    assert G.graph["crs"] == "EPSG:32648" and G.number_of_edges() > 0
    assert all("travel_time" in d for _, _, d in G.edges(data=True))
    # the saved GraphML is a valid 'file' source
    H, info = load_graph("file", shapely.box(106.6, 26.5, 106.8, 26.7), 0, path=out)
    assert H.number_of_edges() == G.number_of_edges()


def test_load_graph_geofabrik_uses_cached_download(monkeypatch, tmp_path):
    from evsiting.network import sources

    def fake_download(url, cache_dir, opener=None):
        assert url.endswith("asia/china/guizhou-latest.osm.pbf")
        return helsinki_pbf()

    monkeypatch.setattr(sources, "download_extract", fake_download)
    G, info = load_graph("geofabrik", shapely.box(24.93, 60.16, 24.95, 60.18), 100, cache_dir=tmp_path)
    assert info["source"] == "geofabrik" and info["url"].endswith("guizhou-latest.osm.pbf")
    assert len(info["file_sha256"]) == 64 and G.number_of_edges() > 100


def test_candidates_from_helsinki_pbf():
    c = candidates_from_pbf(helsinki_pbf())
    assert len(c) == 53 and c.crs == "EPSG:4326"
    assert set(c["kind"]) == {"parking", "charging_station", "mall", "bus_station"}
    assert c["existing"].sum() == (c["kind"] == "charging_station").sum() == 4
    assert c.geom_type.eq("Point").all()
    assert not c.duplicated(["osm_type", "osm_id"]).any()
    sub = candidates_from_pbf(helsinki_pbf(), shapely.box(24.935, 60.160, 24.945, 60.170))
    assert 0 < len(sub) < len(c)


def test_candidates_from_overpass_offline(monkeypatch):
    feats = candidates_from_pbf(helsinki_pbf())  # stand-in for an Overpass answer
    fake = gpd.GeoDataFrame(
        {"element": feats["osm_type"], "id": feats["osm_id"], "amenity": np.where(feats["kind"] == "mall", None, feats["kind"]),
         "shop": np.where(feats["kind"] == "mall", "mall", None), "name": feats["name"]},
        geometry=feats.geometry, crs="EPSG:4326").set_index(["element", "id"])
    seen = {}

    def fake_features(polygon, tags):
        seen["tags"] = tags
        return fake

    monkeypatch.setattr(ox, "features_from_polygon", fake_features)
    c = candidates_from_overpass(shapely.box(24.9, 60.1, 25.0, 60.2))
    assert seen["tags"]["amenity"] == ["fuel", "parking", "charging_station", "bus_station"]
    assert len(c) == 53 and c["existing"].sum() == 4


def test_building_footprint_area():
    b = buildings_from_pbf(helsinki_pbf())
    assert len(b) > 400
    cells = gpd.GeoDataFrame(geometry=[shapely.box(24.935, 60.160, 24.945, 60.170), shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
    area = footprint_area_m2(cells, b)
    assert area[0] > 10_000 and area[1] == 0
