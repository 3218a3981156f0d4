"""Intercity corridors: FRLM (ACPC) against brute force on a synthetic network, monotonicity
in p, exact vs greedy, the all-open coverage rule, and the run on the real Guizhou expressways."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from evsiting.models.frlm import FRLM, arc_cover_sets, make_path, round_trip_feasible
from evsiting.core.errors import InputError


def synthetic_network(seed: int, n_nodes: int = 9, n_paths: int = 14):
    """A SYNTHETIC test fixture (not real data): nodes on a line-and-branch layout with random
    gaps; paths are random contiguous node sequences along a random order of the line."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(20, 90, n_nodes))  # km along a trunk
    paths, flows = [], []
    for _ in range(n_paths):
        a, b = sorted(rng.choice(n_nodes, 2, replace=False))
        nodes = np.arange(a, b + 1)
        if rng.random() < 0.5:
            nodes = nodes[::-1]
        pos = np.abs(x[nodes] - x[nodes[0]])
        cand = nodes.copy()
        if rng.random() < 0.3:  # an origin that cannot host a station
            cand[0] = -1
        paths.append(make_path(pos, cand))
        flows.append(float(rng.integers(1, 100)))
    return paths, np.array(flows), n_nodes


def brute_force(paths, flows, n, p, range_km):
    best = 0.0
    for combo in itertools.combinations(range(n), p):
        s = set(combo)
        best = max(best, sum(f for pth, f in zip(paths, flows) if round_trip_feasible(pth, s, range_km)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_matches_brute_force_and_is_monotone_and_beats_greedy(seed):
    paths, flows, n = synthetic_network(seed)
    model = FRLM(paths, flows, n, range_km=160.0)
    prev = -1.0
    for p in range(0, 5):
        exact = model.solve(p)
        assert exact.status == "optimal"
        assert exact.covered_flow == pytest.approx(brute_force(paths, flows, n, p, 160.0))
        assert len(exact.selected) == p
        assert exact.covered_flow >= prev - 1e-9
        prev = exact.covered_flow
        greedy = model.greedy(p)
        assert len(greedy.selected) == p
        assert exact.covered_flow >= greedy.covered_flow - 1e-9


def test_arc_cover_view_equals_the_direct_check_for_random_station_sets():
    paths, flows, n = synthetic_network(7, n_nodes=10, n_paths=30)
    model = FRLM(paths, flows, n, range_km=140.0)
    rng = np.random.default_rng(3)
    for _ in range(50):
        mask = rng.random(n) < rng.uniform(0.1, 0.9)
        assert np.array_equal(model.covered_by_arcs(mask), model.refuelable(mask))


def test_round_trip_convention_by_hand():
    # O --100-- A --100-- D ; stations possible at A only; range 200
    path = make_path([0, 100, 200], [-1, 0, -1])
    # A is passed twice on the cycle; the end legs are driven out and back: A->D->A and A->O->A, 200 km each
    assert round_trip_feasible(path, {0}, 200.0)
    assert not round_trip_feasible(path, {0}, 199.0)
    assert not round_trip_feasible(path, set(), 1000.0)  # no station on the way
    # stations at both ends: O-A-D legs of 100 each, gaps of 200 through A when A closed
    path2 = make_path([0, 100, 200], [0, 1, 2])
    assert round_trip_feasible(path2, {0, 2}, 200.0)
    assert not round_trip_feasible(path2, {0, 2}, 199.0)
    # only the origin open: the whole cycle (400 km) on one tank
    assert round_trip_feasible(path2, {0}, 400.0) and not round_trip_feasible(path2, {0}, 399.0)
    # arc-cover sets: 4 arcs, an arc longer than the range has no cover
    assert all(len(k) == 0 for k in arc_cover_sets(make_path([0, 300], [0, 1]), 250.0))


def test_all_nodes_open_covers_every_pair_whose_longest_leg_is_within_half_the_range():
    for seed in range(5):
        paths, flows, n = synthetic_network(seed, n_nodes=10, n_paths=40)
        R = 120.0
        model = FRLM(paths, flows, n, range_km=R)
        res = model.solve(n)  # every candidate open
        for pth, ok in zip(paths, res.refuelable):
            legs = np.diff(pth.pos_km)
            if legs.max() <= R / 2:
                assert ok
            # the exact rule: interior legs <= R, end legs without a station <= R/2
            lim = np.full(len(legs), R)
            if pth.cand[0] < 0:
                lim[0] = R / 2
            if pth.cand[-1] < 0:
                lim[-1] = min(lim[-1], R / 2)
            assert ok == bool((legs <= lim + 1e-9).all())


def test_bad_inputs_are_input_errors():
    paths, flows, n = synthetic_network(0)
    with pytest.raises(InputError):
        FRLM(paths, flows[:-1], n, 100.0)
    with pytest.raises(InputError):
        FRLM(paths, flows, n, -1.0)
    with pytest.raises(InputError):
        FRLM(paths, flows, n, 100.0).solve(n + 1)
    with pytest.raises(InputError):
        make_path([0, 5, 3], [0, 1, 2])


def test_seat_tables_name_the_missing_file_and_column(tmp_path):
    """Synthetic population tables (not data): a missing file or column is an InputError naming it."""
    from evsiting.corridors.flows import county_seats, prefecture_seats

    seats = tmp_path / "seats.csv"
    seats.write_text("adcode,name_zh,lon,lat\n520402,x,105.9,26.2\n", encoding="utf-8")
    pop = tmp_path / "county_pop.csv"
    with pytest.raises(InputError, match="file not found") as exc:
        county_seats(seats, pop)
    assert exc.value.source == str(pop)
    pop.write_text("adcode,population_2020_census\n520402,100\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column") as exc:
        county_seats(seats, pop)
    assert exc.value.field == "prefecture_adcode"
    pref = tmp_path / "pref_pop.csv"
    pref.write_text("adcode,population_2020_census\n520400,100\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column") as exc:
        prefecture_seats(None, pref)
    assert exc.value.field == "name_en" and exc.value.source == str(pref)


# --- the real Guizhou expressways (OSM, ../shared/data) ------------------------------------

@pytest.fixture(scope="module")
def guizhou(tmp_path_factory, shared):
    from evsiting.config.schema import load_config
    from evsiting.runs.corridors import run_corridors
    from evsiting.core.settings import configs_dir

    cfg = load_config(configs_dir() / "guizhou.yaml")
    out = tmp_path_factory.mktemp("corridors")
    return run_corridors(cfg, p=5, range_km=250.0, out_base=out)


def test_guizhou_prefecture_corridors_outputs(guizhou):
    import json

    import geopandas as gpd

    res = guizhou
    flows = gpd.read_file(res.out_dir / "corridor_flows.geojson")
    sites = gpd.read_file(res.out_dir / "corridor_sites.geojson")
    summary = json.loads((res.out_dir / "corridor_summary.json").read_text())
    assert flows.crs.to_epsg() == 4326 and len(flows) == 36 and len(sites) == 5
    assert flows["reachable"].all()
    share = flows.loc[flows["refuelable"], "flow"].sum() / flows["flow"].sum()
    assert summary["covered_flow_share"] == pytest.approx(share, abs=1e-6)
    assert 0 < summary["covered_flow_share"] <= summary["covered_flow_share_all_open"] <= 1
    assert summary["covered_flow_share"] >= summary["covered_flow_share_greedy"] - 1e-9
    assert summary["beta"] == 1.5 and summary["solver"]["status"] == "optimal"
    # gravity: flow = pop_o pop_d / d^1.5
    f = flows["population_o"].astype(float) * flows["population_d"].astype(float) / flows["distance_km"] ** 1.5
    assert np.allclose(flows["flow"], f, rtol=1e-4)  # distance_km is rounded to metres
    # Guiyang-Zunyi by expressway: about 130-160 km
    gz = flows[(flows["origin"] == "Guiyang") & (flows["destination"] == "Zunyi")]
    assert 120 < float(gz["distance_km"].iloc[0]) < 170
    outline = gpd.read_file(__import__("evsiting.core.settings", fromlist=["x"]).resolve_path("data:guizhou_province.geojson")).union_all()
    assert outline.buffer(0.05).contains(sites.union_all())
    # every station has a label: the seat, else the expressway route and km (issue 16)
    assert sites["name"].notna().all() and (sites["name"].str.len() > 0).all()
    access = sites[sites["kind"] == "expressway_access"]
    assert access["name"].str.match(r"^\S+ km \d+$").all(), access["name"].tolist()


def test_expressway_labels_give_route_and_km():
    import shapely

    from evsiting.runs.corridors import expressway_labels
    from evsiting.network.expressway import load_motorway_lines
    from evsiting.core.settings import resolve_path

    lines = load_motorway_lines(resolve_path("shared:guizhou_motorways_osm.geojson"))
    line = lines.geometry.iloc[0]
    pt = line.interpolate(12_300.0)
    label = expressway_labels(np.array([[pt.x, pt.y]]), "shared:guizhou_motorways_osm.geojson")
    route, km = label[0].split(" km ")
    assert route == lines["route"].iloc[0] or shapely.distance(pt, lines.geometry[lines["route"] == route].union_all()) < 1
    assert expressway_labels(np.zeros((0, 2)), "shared:guizhou_motorways_osm.geojson") == []


def test_guizhou_monotone_in_p_exact_beats_greedy_and_all_open_rule(guizhou):
    model = guizhou.model
    prev = -1.0
    for p in range(0, 8):
        exact = model.solve(p)
        greedy = model.greedy(p)
        assert exact.covered_flow >= prev - 1e-6
        assert exact.covered_flow >= greedy.covered_flow - 1e-6
        prev = exact.covered_flow
    everything = model.refuelable(np.ones(model.n_candidates, dtype=bool))
    for pth, ok in zip(model.paths, everything):
        if np.diff(pth.pos_km).max() <= model.range_km / 2:
            assert ok
    short = FRLM(model.paths, model.flows, model.n_candidates, 30.0)
    ok_short = short.refuelable(np.ones(model.n_candidates, dtype=bool))
    for pth, ok in zip(model.paths, ok_short):
        if np.diff(pth.pos_km).max() <= 15.0:
            assert ok


def test_cli_corridors(tmp_path, shared):
    from typer.testing import CliRunner

    from evsiting.cli import app
    from evsiting.core.settings import configs_dir

    cfg = configs_dir() / "guizhou.yaml"
    res = CliRunner().invoke(app, ["corridors", str(cfg), "--p", "3", "--range-km", "300", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "covered flow" in res.output and (tmp_path / "guizhou-corridors" / "corridor_sites.geojson").exists()
    bad = CliRunner().invoke(app, ["corridors", str(cfg), "--range-km", "-3"])
    assert bad.exit_code == 2 and "--range-km" in bad.output


def test_service_areas_become_candidates(guizhou, tmp_path):
    """SYNTHETIC service areas (not real data): three points 100 m east of vertices of the
    Guiyang-Zunyi path; they are snapped to the expressway and become candidate sites."""
    from evsiting.config.schema import load_config
    from evsiting.runs.corridors import run_corridors
    from evsiting.core.settings import configs_dir

    flows = guizhou.flows
    line = flows[(flows["origin"] == "Guiyang") & (flows["destination"] == "Zunyi")].geometry.iloc[0]
    xy = np.asarray(line.coords)
    picks = xy[[len(xy) // 4, len(xy) // 2, 3 * len(xy) // 4]]
    csv = tmp_path / "synthetic_services.csv"
    csv.write_text("sid,name,lon,lat\n" + "".join(f"s{i},synthetic {i},{x + 0.001:.7f},{y:.7f}\n" for i, (x, y) in enumerate(picks)))
    cfg_path = tmp_path / "svc.yaml"
    cfg_path.write_text(f"extends: {configs_dir() / 'guizhou.yaml'}\nname: svc\ncorridors:\n  services_file:\n    path: {csv}\n    id_column: sid\n    name_column: name\n")
    res = run_corridors(load_config(cfg_path), p=5, range_km=250.0, out_base=tmp_path)
    s = res.summary
    assert s["service_areas"] == {"file": str(csv), "points": 3, "snapped": 3, "on_paths": 3}
    assert s["candidates_services"] == 3 and s["candidates"] == guizhou.summary["candidates"] + 3
    # more candidate stops can only help
    assert s["covered_flow_share"] >= guizhou.summary["covered_flow_share"] - 1e-9
    assert s["covered_flow_share_all_open"] >= guizhou.summary["covered_flow_share_all_open"] - 1e-9
