"""Candidate sites that reach the whole study area: the generated layers (per county, county
seats, H3 parents) and the gap fill (:func:`evsiting.candidates.generate.reach_all`), on Anshun's real
demand cells with expressway travel times, and a synthetic instance for the greedy."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp

from evsiting.candidates import generate as cand
from evsiting.config.schema import load_config
from evsiting.demand import cells as dcells
from evsiting.core.errors import InputError
from evsiting.core.settings import WGS84, configs_dir
from evsiting.stages.s1_study import load_study
from evsiting.stages.s2_demand import build_demand
from evsiting.stages.s4_travel import travel_provider


@pytest.fixture(scope="module")
def anshun(shared):
    """Anshun's demand cells, counties, seats and an expressway matrix function (15 min)."""
    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    study = load_study(cfg)
    demand = build_demand(study, year=cfg.year, demand=cfg.demand, fleet=cfg.fleet, model=cfg.model)
    cells = demand.cells
    pts = dcells.demand_points(cells)
    provider = travel_provider(cfg.impedance, cfg.network, study.inputs)
    assert provider.method == "expressway"

    def matrix_fn(sites, standard=15.0):
        return provider.times(pts, sites, demand.params, standard).matrix

    return cells, study.counties, study.seats, matrix_fn


def _base(anshun, per_county=10):
    cells, counties, seats, _ = anshun
    return cand.combine([cand.generated(cells, per_county, 5, seats, counties)])


def test_gap_fill_reaches_every_cell_with_nevs_in_anshun(anshun):
    cells, _, _, matrix_fn = anshun
    base = _base(anshun)
    r = cand.reach_all(cells, base, matrix_fn, 15.0)
    nev = cells["nev_count"].to_numpy()
    assert r.ceiling_before < 0.95 and r.added > 0
    reached = np.diff(r.matrix.indptr) > 0
    assert reached[nev > 0].all() and r.ceiling == 1.0 and len(r.unreached) == 0
    # the assembled matrix is the matrix of the final candidates, computed in one call
    full = matrix_fn(r.candidates)
    assert (abs(full - r.matrix)).max() < 1e-9 and full.nnz == r.matrix.nnz
    # inputs first and unchanged, then the gap-fill sites, named after their county and rank
    assert r.candidates["site_id"].iloc[: len(base)].tolist() == base["site_id"].tolist()
    added = r.candidates.iloc[len(base):]
    assert (added["source"] == "gap_fill").all() and len(added) == r.added
    assert added["name"].str.match(r"^\S+ #\d+$").all() and r.candidates["site_id"].is_unique
    assert not r.candidates["required"].any()


def test_target_ceiling_stops_the_gap_fill_early_with_fewer_sites(anshun):
    cells, _, _, matrix_fn = anshun
    base = _base(anshun)
    full = cand.reach_all(cells, base, matrix_fn, 15.0)
    part = cand.reach_all(cells, base, matrix_fn, 15.0, target_ceiling=0.99)
    assert 0.99 <= part.ceiling < 1.0 and part.added < full.added
    assert part.unreached["reason"].str.contains("target_ceiling = 0.99").all()
    # the greedy order is the same: the early stop is a prefix
    assert part.candidates["site_id"].tolist() == full.candidates["site_id"].iloc[: len(part.candidates)].tolist()


def test_pairs_beyond_the_standard_do_not_count_as_reached(anshun):
    # p-median and p-center runs compute travel times up to max_travel_min, beyond the standard
    cells, _, _, matrix_fn = anshun
    base = _base(anshun)
    a = cand.reach_all(cells, base, matrix_fn, 15.0)
    b = cand.reach_all(cells, base, lambda s: matrix_fn(s, 30.0), 15.0)
    assert b.ceiling_before == a.ceiling_before < 0.95 and b.ceiling == 1.0 and b.unreached.empty
    assert b.candidates["site_id"].tolist() == a.candidates["site_id"].tolist() and b.matrix.nnz > a.matrix.nnz
    assert cand.reach_summary(b, cells)["coverage_ceiling_by_prefecture"] == cand.reach_summary(a, cells)["coverage_ceiling_by_prefecture"]


def test_gap_fill_is_deterministic(anshun):
    cells, _, _, matrix_fn = anshun
    a = cand.reach_all(cells, _base(anshun), matrix_fn, 15.0)
    shuffled = cells.sample(frac=1.0, random_state=3)  # same cells, other row order
    b = cand.reach_all(cells, _base(anshun), matrix_fn, 15.0)
    assert a.candidates["site_id"].tolist() == b.candidates["site_id"].tolist()
    assert (a.matrix != b.matrix).nnz == 0
    # the generated layers do not depend on the row order of the cells
    g1 = cand.generated(cells, 10, 5, anshun[2], anshun[1])
    g2 = cand.generated(shuffled, 10, 5, anshun[2], anshun[1])
    assert g1["site_id"].tolist() == g2["site_id"].tolist() and g1["name"].tolist() == g2["name"].tolist()


def test_unreached_cells_are_named_with_the_reason_when_the_standard_is_too_short(anshun):
    cells, _, _, matrix_fn = anshun
    base = _base(anshun)

    def short(sites):
        return matrix_fn(sites, 3.0)

    r = cand.reach_all(cells, base, short, 3.0, max_added=50)
    assert r.added == 50 and len(r.unreached) > 0
    u = r.unreached
    assert set(u.columns) >= {"demand_id", "county_name", "nev_count", "reason"}
    assert u["reason"].str.startswith("no candidate within 3 min; the gap fill stopped at candidates.max_added = 50").all()
    assert u["nev_count"].is_monotonic_decreasing and (u["nev_count"] > 0).all()
    off = cand.reach_all(cells, base, short, 3.0, fill=False)
    assert off.added == 0 and off.unreached["reason"].str.contains("fill_gaps is off").all()
    assert len(off.unreached) > len(u)
    s = cand.reach_summary(r, cells, listed=5)
    assert s["unreached_cells"] == len(u) and len(s["unreached"]) == 5 and s["gap_fill_added"] == 50
    assert s["unreached"][0]["demand_id"] == u["demand_id"].iloc[0]
    assert s["by_source"]["gap_fill"] == 50 and set(s["coverage_ceiling_by_prefecture"]) == {520400}


def test_generated_layers_name_sites_and_do_not_repeat(anshun):
    cells, counties, seats, _ = anshun
    g = cand.generated(cells, 10, 5, seats, counties)
    assert g["site_id"].is_unique and g.crs.to_epsg() == 4326
    assert set(g["source"]) == {"demand_cell", "county_seat", "parent_cell"}
    s = g[g["source"] == "county_seat"]
    assert len(s) == len(counties) and s["name"].str.endswith(" seat").all()
    top = g[g["source"] == "demand_cell"].groupby("county_adcode")["name"].first()
    assert top.str.endswith(" #1").all()
    with pytest.raises(InputError, match="parent resolution 7"):
        cand.from_parent_cells(cells, 7)


def _synthetic_cells(nev):
    n = len(nev)
    return gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(n)], "h3": "", "county_adcode": 1, "county_name": "X",
         "prefecture_adcode": 9, "nev_count": nev, "lon": np.arange(n, dtype=float), "lat": 0.0},
        geometry=gpd.points_from_xy(np.arange(n), np.zeros(n)), crs=WGS84,
    )


def test_synthetic_greedy_picks_the_site_reaching_most_unreached_nevs_first():
    # Cells on a line, 1 unit apart; a site reaches cells within 1 unit (a 3-cell window).
    # Cell 0 is a candidate already (reaches cells 0, 1). Cell 5 has no NEVs.
    nev = np.array([5, 5, 1, 1, 8, 0, 1, 4, 4])
    cells = _synthetic_cells(nev)
    x = cells["lon"].to_numpy()

    def matrix_fn(sites):  # 10 min per unit; the self pairs are stored zeros
        d = np.abs(x[:, None] - sites.geometry.x.to_numpy()[None, :])
        r, c = np.nonzero(d <= 1.0)
        return sp.csr_matrix((d[r, c] * 10.0, (r, c)), shape=d.shape)

    base = cand._cell_sites(cells, cells.iloc[[0]], "demand_cell")
    r = cand.reach_all(cells, base, matrix_fn, 10.0)
    added = r.candidates["site_id"].tolist()[1:]
    # Unreached NEVs: cells 2..8 = 1,1,8,0,1,4,4. Windows: site 3 -> 1+1+8 = 10 (cells 2-4),
    # site 7 -> 1+4+4 = 9 (cells 6-8), then all are reached: 2 sites.
    assert added == ["c-d3", "c-d7"]
    assert r.ceiling_before == pytest.approx(10 / 29) and r.ceiling == 1.0 and r.unreached.empty
    # the stored 0-minute self pairs count as reached
    assert r.matrix[3, 1] == 0 and r.matrix.nnz == (np.abs(x[:, None] - x[[0, 3, 7]][None, :]) <= 1).sum()


def test_synthetic_cell_its_own_site_cannot_reach_is_named():
    nev = np.array([3, 2, 7])
    cells = _synthetic_cells(nev)

    def matrix_fn(sites):  # cell 2 reaches nothing, not even itself (a bad network snap)
        x = cells["lon"].to_numpy()
        d = np.abs(x[:, None] - sites.geometry.x.to_numpy()[None, :])
        ok = (d <= 1.0) & (x[:, None] != 2)
        r, c = np.nonzero(ok)
        return sp.csr_matrix((d[r, c], (r, c)), shape=d.shape)

    base = cand._cell_sites(cells, cells.iloc[[0]], "demand_cell")
    r = cand.reach_all(cells, base, matrix_fn, 10.0)
    assert r.added == 0 and r.unreached["demand_id"].tolist() == ["d2"]
    assert "not even a site in the cell itself" in r.unreached["reason"].iloc[0]
    assert r.ceiling == pytest.approx(5 / 12)
    with pytest.raises(ValueError, match="shape"):
        cand.reach_all(cells, base, lambda s: sp.csr_matrix((2, len(s))), 10.0)


def test_merged_info_counts_the_assembled_pairs():
    m = sp.csr_matrix(np.eye(3))
    info = cand.merged_info([{"method": "expressway", "pairs": 1, "pairs_via_expressway": 1},
                             {"method": "expressway", "pairs": 9, "pairs_via_expressway": 4}], m)
    assert info["pairs"] == 3 and "pairs_via_expressway" not in info
    assert info["matrix_calls"] == [{"pairs": 1, "pairs_via_expressway": 1}, {"pairs": 9, "pairs_via_expressway": 4}]
    assert cand.merged_info([{"method": "great_circle"}], m) == {"method": "great_circle", "pairs": 3}


def test_run_names_the_unreached_cells_in_the_summary_and_on_the_console(tmp_path, shared):
    import json

    import yaml
    from typer.testing import CliRunner

    from evsiting.cli import app

    cfg = {
        "extends": str(configs_dir() / "prefectures" / "anshun.yaml"), "name": "gaps",
        "candidates": {"per_county": 5, "parent_resolution": None, "county_seats": False, "fill_gaps": False},
        "model": {"nevs_per_station": 5000}, "impedance": {"method": "great_circle"}, "output_dir": str(tmp_path / "out"),
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    r = CliRunner().invoke(app, ["run", str(tmp_path / "c.yaml")])  # in this process: the console lines are tested
    assert r.exit_code == 0, r.stderr
    s = json.loads((tmp_path / "out" / "gaps" / "summary.json").read_text(encoding="utf-8"))
    c = s["candidates"]
    assert c["gap_fill_added"] == 0 and c["unreached_cells"] > 0 and s["coverage_ceiling_share"] < 0.9
    assert c["unreached"][0]["reason"] == "no candidate within 15 min; candidates.fill_gaps is off"
    assert f"warning: {c['unreached_cells']:,} demand cell(s)" in r.stdout and "fill_gaps is off" in r.stdout
    assert "coverage ceiling below 100%: Anshun" in r.stdout
    # the same lines in summary.json (they travel to the roll-up, sweeps and report.html)
    assert any(w.startswith(f"{c['unreached_cells']:,} demand cell(s)") for w in s["warnings"])
    if s["stations_over_site_max"]:
        assert any("need more ports than one site holds" in w for w in s["warnings"])
    for w in s["warnings"]:
        assert f"warning: {w}" in r.stdout
