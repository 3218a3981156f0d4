"""evsiting sensitivity (issue #21): site stability on hand-made runs, the physics checks on
SYNTHETIC capacitated instances and on hand-made tables, the stage record of the parameters, the
tornado order and the written folder. No prefecture is solved here."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from evsiting.config.schema import CapacitatedConfig
from evsiting.core.errors import InputError
from evsiting.config.params import load_parameters
from evsiting.runs import sensitivity as sens
from evsiting.stages.s5_model import ModelInputs, capacitated_model

from models_helpers import synthetic_cells_and_sites

ANSHUN = Path(__file__).resolve().parents[2] / "configs" / "prefectures" / "anshun.yaml"


def _run(rows):
    return pd.DataFrame(rows, columns=["site_id", "ports", "lon", "lat"])


def test_site_stability_on_hand_made_runs():
    cands = pd.DataFrame({"site_id": ["a", "b", "c", "d"], "lon": [106.0, 106.1, 106.2, 106.3], "lat": [26.0] * 4,
                          "name": ["A", "B", "C", "D"], "source": ["demand_cell"] * 4})
    runs = [_run([("a", 10, 106.0, 26.0), ("b", 4, 106.1, 26.0)]),
            _run([("a", 14, 106.0, 26.0), ("c", 2, 106.2, 26.0)]),
            _run([("a", 12, 106.0, 26.0), ("b", 6, 106.1, 26.0), ("e", 3, 106.5, 26.5)]),  # e: not a base candidate
            _run([("a", 8, 106.0, 26.0), ("b", 5, 106.1, 26.0)])]
    st = sens.site_stability(runs, cands).set_index("site_id")
    assert st.loc["a", "open_share"] == 1.0 and st.loc["a", "runs_open"] == 4
    assert (st.loc["a", "ports_min"], st.loc["a", "ports_max"]) == (8, 14)
    assert st.loc["b", "open_share"] == 0.75 and (st.loc["b", "ports_min"], st.loc["b", "ports_max"]) == (4, 6)
    assert st.loc["c", "open_share"] == 0.25
    assert st.loc["d", "runs_open"] == 0 and math.isnan(st.loc["d", "ports_min"])
    assert st.loc["e", "open_share"] == 0.25 and st.loc["e", "lon"] == 106.5  # added from the run that opened it
    assert (st["runs"] == 4).all()
    assert list(st.index[:2]) == ["a", "b"]  # most stable first
    with pytest.raises(ValueError):
        sens.site_stability([], cands)


def _table(rows):
    base = {"parameter": "base", "side": "base"}
    out = []
    for r in rows:
        out.append({**{c: None for c in sens.CSV_COLUMNS}, **r})
    return pd.DataFrame(out, columns=sens.CSV_COLUMNS) if out else pd.DataFrame([base], columns=sens.CSV_COLUMNS)


def _row(param, side, stations, dc, ac, gap=0.001):
    return {"parameter": param, "side": side, "stations": stations, "ports_dc": dc, "ports_ac": ac, "gap": gap,
            "capital_cny": 1e6 * (stations + dc + ac)}


def test_physics_checks_flag_a_break_and_say_what_was_not_run():
    rows = [_row("base", "base", 100, 500, 500),
            _row("site_cost", "low", 110, 500, 500), _row("site_cost", "high", 105, 510, 500),  # dearer: more stations than base
            _row(sens.STANDARD, "low", 150, 500, 500), _row(sens.STANDARD, "high", 80, 500, 500),
            _row("dc_utilisation_hours", "low", 100, 600, 500)]  # high side missing (failed)
    checks = {(c["parameter"], c["measure"]): c for c in sens.physics_checks(_table(rows))}
    assert checks[("site_cost", "stations")]["result"] == "BROKEN"
    assert checks[("site_cost", "stations")]["high"] == 105
    assert checks[(sens.STANDARD, "stations")]["result"] == "holds"
    assert checks[("dc_utilisation_hours", "ports")]["result"] == "not run"
    assert checks[(sens.SCENARIO, "ports")]["result"] == "not run"


def test_with_zone_standards_each_zone_standard_is_checked_instead_of_the_one_standard():
    """A zoned run varies ``standard_core_km`` ... ``standard_rural_min``, not
    ``service_standard_min``: each zone gets the "tighter standard, more stations" check (the
    one-standard check said "not run" on the province). Hand-made rows: a tighter core standard
    gives more stations (holds), a looser town standard gives more (broken: beyond the gaps)."""
    rows = [_row("base", "base", 100, 500, 500),
            _row("standard_core_km", "low", 130, 500, 500), _row("standard_core_km", "high", 99, 500, 500),
            _row("standard_town_km", "low", 100, 500, 500), _row("standard_town_km", "high", 116, 500, 500)]
    checks = {c["parameter"]: c for c in sens.physics_checks(_table(rows)) if c["measure"] == "stations"}
    assert sens.STANDARD not in checks
    assert checks["standard_core_km"]["result"] == "holds" and checks["standard_town_km"]["result"] == "BROKEN"
    assert checks["standard_rural_min"]["result"] == "not run"
    assert checks["standard_core_km"]["check"] == "a tighter core standard gives more stations"


def _solve(cells, cand, mat, params, standard):
    m = mat.copy()
    m.data[m.data > standard] = 0
    m.eliminate_zeros()
    inp = ModelInputs(cells, m, np.zeros(0, dtype=np.int64), params, cand)
    # without the per-station power limit: with it, this instance's optimum has 331 ports at 1.0
    # DC hours and 336 at 1.33 (a binding 920 kW per station trades AC against DC ports and
    # access time), so "DC hours up, ports down" is not a law there (measured 2026-12-07)
    block = CapacitatedConfig(service_standard_min=standard, power_limit=False)
    res = capacitated_model(block, inp).solve(mip_gap=0)
    sel = res.selected
    return {"stations": int(np.asarray(res.stations)[sel].sum()), "ports_dc": int(res.dc_ports[sel].sum()),
            "ports_ac": int(res.ac_ports[sel].sum()), "gap": res.gap, "capital_cny": res.capital_cny}


def test_physics_on_a_synthetic_capacitated_instance(seed=3):
    """SYNTHETIC instances (random points, not real data) solved to proven optimality with the
    run's capacitated model: each physics check must hold."""
    cells, cand, mat = synthetic_cells_and_sites(30, 12, seed, side_km=20, nev_range=(5, 150), dc_kwh_per_nev=5.0)
    p0 = load_parameters()
    std = 12.0
    rows = [{"parameter": "base", "side": "base", **_solve(cells, cand, mat, p0, std)}]
    for name in ("site_cost", "dc_utilisation_hours", "ac_utilisation_hours"):
        for side in ("low", "high"):
            p = p0.with_overrides({name: getattr(p0[name], side)})
            rows.append({"parameter": name, "side": side, **_solve(cells, cand, mat, p, std)})
    for side, minutes in (("low", 8.0), ("high", 15.0)):
        rows.append({"parameter": sens.STANDARD, "side": side, **_solve(cells, cand, mat, p0, minutes)})
    for side, scale in (("low", 0.7), ("high", 1.4)):  # adoption: every cell's NEVs and energy scaled
        c = cells.copy()
        for col in ("nev_count", "energy_kwh_day", "energy_dc_kwh_day"):
            c[col] = c[col] * scale
        rows.append({"parameter": sens.SCENARIO, "side": side, **_solve(c, cand, mat, p0, std)})
    by = {(c["parameter"], c["measure"]): c for c in sens.physics_checks(_table(rows))}
    for key in [(sens.SCENARIO, "ports"), ("dc_utilisation_hours", "ports"), ("site_cost", "stations"), (sens.STANDARD, "stations")]:
        assert by[key]["result"] == "holds", by[key]
    # the instance moves: more adoption, more ports; a tighter standard, strictly more stations
    assert by[(sens.SCENARIO, "ports")]["low"] < by[(sens.SCENARIO, "ports")]["high"]
    assert by[(sens.STANDARD, "stations")]["low"] > by[(sens.STANDARD, "stations")]["high"]
    assert by[("fleet_nev_stock_target", "ports")]["result"] == "not run"
    # AC hours: at 1 h/day an AC port costs more per kWh/day than a DC port, so the model moves
    # the AC energy to fewer, larger DC ports: the check is flagged, with that substitution seen
    ac = by[("ac_utilisation_hours", "ports")]
    assert ac["result"] == "BROKEN" and ac["low"] < ac["base"]
    rows_by = {(r["parameter"], r["side"]): r for r in rows}
    assert rows_by[("ac_utilisation_hours", "low")]["ports_dc"] > rows_by[("base", "base")]["ports_dc"]
    assert "DC ports" in ac["can_break_by"]


def test_recording_parameters_log_the_first_stage_and_follow_overrides():
    log = sens._ReadLog()
    rec = sens._RecordingParameters(load_parameters(), log)
    log.stage = "demand"
    rec.value("nev_daily_km")
    child = rec.with_overrides({"site_cost": 1.0})
    assert isinstance(child, sens._RecordingParameters)
    log.stage = "model"
    child.value("site_cost")
    child.value("nev_daily_km")
    log.stage = None  # the base is done: nothing more is recorded
    child.value("circuity_factor")
    assert log.first == {"nev_daily_km": "demand", "site_cost": "model"}
    assert log.stages["nev_daily_km"] == {"demand", "model"}
    assert sens.STAGE_KIND[log.first["nev_daily_km"]] == "demand"


def test_check_names_says_did_you_mean():
    p = load_parameters()
    sens.check_names(p, ["site_cost", sens.SCENARIO, sens.STANDARD])
    with pytest.raises(InputError, match="did you mean 'site_cost'"):
        sens.check_names(p, ["site_cots"])
    with pytest.raises(InputError, match="no low and high"):
        sens.check_names(p, ["fleet_nev_stock_base"])


def test_variant_config_changes_one_thing():
    from evsiting.config.schema import load_config

    cfg = load_config(ANSHUN)
    v = sens.variant_config(cfg, sens.Variant("site_cost", "high", 1e6, "model", 4e5))
    assert v.parameters == {**cfg.parameters, "site_cost": 1e6} and v.model == cfg.model
    s = sens.variant_config(cfg, sens.Variant(sens.STANDARD, "low", 10.0, "standard", 15.0))
    assert s.model.service_standard_min == 10.0 and s.parameters == cfg.parameters
    a = sens.variant_config(cfg, sens.Variant(sens.SCENARIO, "high", "high", "scenario", "base"))
    assert a.demand.scenario == "high" and a.base_dir == cfg.base_dir


def _fake_sensitivity():
    """A hand-made Sensitivity (no solve): a base and the low/high of two parameters."""
    from evsiting.config.schema import load_config

    cfg = load_config(ANSHUN)
    sites = _run([("s0", 10, 105.9, 26.2), ("s1", 20, 106.0, 26.3)]).assign(stations=1)

    def res(param, side, value, kind, stations, capital, open_sites, ok=True):
        v = sens.BASE if param == "base" else sens.Variant(param, side, value, kind, 4e5 if param == "site_cost" else 15.0)
        if not ok:
            return sens.VariantResult(v, False, error="SolverError: synthetic failure")
        return sens.VariantResult(v, True, stations, 100, 50, capital, 1.0, 9.5, "optimal", 0.0, (), open_sites, 1.0)

    base = res("base", "base", "", "base", 2, 3e6, sites)
    results = [res("site_cost", "low", 2e5, "model", 3, 2e6, sites),
               res("site_cost", "high", 1e6, "model", 2, 5e6, sites.iloc[:1]),
               res(sens.STANDARD, "low", 10.0, "standard", 4, 4e6, sites),
               res(sens.STANDARD, "high", 20.0, "standard", 1, 2.5e6, sites.iloc[1:], ok=False)]
    cands = pd.DataFrame({"site_id": ["s0", "s1", "s2"], "lon": [105.9, 106.0, 106.1], "lat": [26.2, 26.3, 26.1],
                          "name": [None] * 3, "source": ["demand_cell"] * 3})
    timings = {"total": 1.0, "mean_solve": 1.0, "max_solve": 1.0, "variants_solved": 4, "variants_failed": 1,
               "reused": {"demand": 2, "travel times": 2, "base plan": 0}, "workers": 1, "executor": "local"}
    return sens.Sensitivity("anshun", cfg, base, results, {"corridor_range_km": "not read by this run"}, cands, [520400],
                            {"data_files": [], "parameters": [], "impedance": {}}, timings)


def test_swings_sorted_by_swing_and_failed_side_is_nan():
    sw = sens.swings(_fake_sensitivity().table(), "capital_cny")
    assert list(sw["parameter"]) == ["site_cost", sens.STANDARD]
    assert sw.loc[0, "swing"] == 3e6 and sw.loc[0, "low"] == -1e6 and sw.loc[0, "high"] == 2e6
    assert math.isnan(sw.loc[1, "high"]) and sw.loc[1, "swing"] == 1e6


def test_write_sensitivity_folder(tmp_path):
    s = _fake_sensitivity()
    out = sens.write_sensitivity(s, tmp_path / "anshun-sensitivity", {"run": "anshun-sensitivity"})
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["manifest.json", "report.html", "sensitivity.csv", "sites.geojson", "stability.png", "tornado.png"]
    csv = pd.read_csv(out / "sensitivity.csv")
    assert list(csv.columns) == sens.CSV_COLUMNS and len(csv) == 5
    assert csv.loc[4, "error"].startswith("SolverError")
    g = gpd.read_file(out / "sites.geojson").set_index("site_id")
    # runs: base, site_cost low/high, standard low (the failed one is not a run)
    assert g.loc["s0", "open_share"] == 1.0 and g.loc["s1", "open_share"] == 0.75 and g.loc["s2", "runs_open"] == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "1 sites are open in every run; build these first" in html
    assert html.count("data:image/png;base64,") == 2 and "http://" not in html and "https://" not in html
    assert "synthetic failure" in html
    m = json.loads((out / "manifest.json").read_text())
    assert m["stability"] == {"runs": 4, "open_in_every_run": 1, "never_open": 1, "candidates": 3}
    assert {c["result"] for c in m["checks"]} <= {"holds", "within the gap", "BROKEN", "not run"}
    # the same input gives the same bytes
    again = sens.write_sensitivity(s, tmp_path / "again", {"run": "anshun-sensitivity"})
    for name in ("sensitivity.csv", "tornado.png", "stability.png", "sites.geojson"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_cli_unknown_parameter_exits_2_before_any_solve(tmp_path):
    from typer.testing import CliRunner

    from evsiting.cli import app

    r = CliRunner().invoke(app, ["sensitivity", str(ANSHUN), "--parameters", "site_cots", "--out", str(tmp_path / "s")])
    assert r.exit_code == 2, r.output
    assert "field '--parameters'" in r.stderr and "did you mean 'site_cost'" in r.stderr
    assert not (tmp_path / "s").exists()


def _tiny_config(tmp_path):
    """Anshun's real data at H3 resolution 6, 20,000 NEVs in the province, 3 candidate cells per
    county, great-circle travel times and a 30-min standard: an instance that solves in about
    a second of CPU."""
    from evsiting.config.schema import load_config

    path = tmp_path / "tiny.yaml"
    path.write_text(f"extends: {ANSHUN}\nname: tiny\ndemand:\n  h3_resolution: 6\n  nev_total: 20000\ncandidates:\n"
                    "  per_county: 3\nimpedance:\n  method: great_circle\nmodel:\n  type: capacitated\n  service_standard_min: 30\n",
                    encoding="utf-8")
    return load_config(path)


def test_run_sensitivity_end_to_end_on_a_tiny_instance(tmp_path, shared, monkeypatch):
    cfg = _tiny_config(tmp_path)
    lines = []
    names = ["site_cost", "circuity_factor", "nev_kwh_per_km", "bus_daily_km", "corridor_range_km", sens.STANDARD]
    import evsiting.stages.s5_model as s5

    starts, solve = [], s5.solve_model

    def recording(block, inp, opts):  # the start plan each solve is offered
        starts.append(inp.start_stations)
        return solve(block, inp, opts)

    monkeypatch.setattr(s5, "solve_model", recording)
    s = sens.run_sensitivity(cfg, names=names, workers=1, progress=lines.append)
    tab = s.table().set_index(["parameter", "side"])
    assert tab.loc[("base", "base"), "status"] in ("optimal", "feasible")
    # the base solves from its own start; every variant is offered the base plan's stations
    assert starts[0] is None and len(starts) > 1
    assert all(st is not None and st.sum() == tab.loc[("base", "base"), "stations"] for st in starts[1:])
    assert {p for p, _ in tab.index} == {"base", "site_cost", "circuity_factor", "nev_kwh_per_km", "bus_daily_km", sens.STANDARD}
    assert "corridor_range_km" in s.skipped  # not read by a run
    kinds = {p: k for (p, _), k in tab["kind"].items()}
    assert kinds["site_cost"] == "model" and kinds["circuity_factor"] == "travel" and kinds["nev_kwh_per_km"] == "demand"
    # reuse: a cost keeps demand and travel times; kWh/km keeps the travel times; buses charge at
    # depots, so the cells are the base's and so is the plan
    def reuse(p, side):  # what was reused, without the start note (whether the base's stations were the cheaper start)
        return "; ".join(x for x in tab.loc[(p, side), "reused"].split("; ") if x != sens.START_NOTE)

    assert reuse("site_cost", "high") == "demand; travel times"
    assert reuse("nev_kwh_per_km", "high") == "travel times"
    assert tab.loc[("bus_daily_km", "high"), "reused"].startswith("base plan")
    assert tab.loc[("bus_daily_km", "high"), "capital_cny"] == tab.loc[("base", "base"), "capital_cny"]
    assert tab.loc[("site_cost", "high"), "capital_cny"] > tab.loc[("site_cost", "low"), "capital_cny"]
    assert tab.loc[(sens.STANDARD, "low"), "stations"] >= tab.loc[(sens.STANDARD, "high"), "stations"]
    assert any(line.startswith(f"[{len(s.results) - 2}/") for line in lines)  # progress per solve (2 were not solved)
    out = sens.write_sensitivity(s, tmp_path / "tiny-sensitivity", sens.sensitivity_manifest(s, None, names))
    m = json.loads((out / "manifest.json").read_text())
    assert m["sensitivity"]["timings_s"]["reused"]["base plan"] == 2 and m["parameters"]


def test_worker_processes_give_the_same_table(tmp_path, shared):
    cfg = _tiny_config(tmp_path)
    names = ["site_cost"]
    one = sens.run_sensitivity(cfg, names=names, workers=1).table()
    two = sens.run_sensitivity(cfg, names=names, workers=2).table()
    pd.testing.assert_frame_equal(one, two)


def test_physics_checks_order_runs_by_value_when_the_base_is_outside_low_high():
    """A 30-min base with the 10/20-min range: 10 -> 228, 20 -> 63, 30 -> 30 stations holds."""
    rows = [_row("base", "base", 30, 60, 60), {**_row(sens.STANDARD, "low", 228, 300, 10), "value": 10.0, "base_value": 30.0},
            {**_row(sens.STANDARD, "high", 63, 90, 40), "value": 20.0, "base_value": 30.0}]
    check = next(c for c in sens.physics_checks(_table(rows)) if c["parameter"] == sens.STANDARD)
    assert check["result"] == "holds"
    rows[2] = {**rows[2], "stations": 20}  # 20 min gives fewer stations than 30 min: broken
    check = next(c for c in sens.physics_checks(_table(rows)) if c["parameter"] == sens.STANDARD)
    assert check["result"] == "BROKEN"


def test_cached_travel_computes_only_new_site_columns():
    """SYNTHETIC points: the cache gives the provider's matrix, asking it only for new sites."""
    import scipy.sparse as sp

    from evsiting.stages.s4_travel import TravelTimes

    cells, cand, mat = synthetic_cells_and_sites(20, 8, 5, side_km=20, nev_range=(1, 50), dc_kwh_per_nev=5.0)
    calls = []

    class Provider:
        def times(self, demand, sites, params, cutoff_min):
            calls.append(list(sites["site_id"]))
            cols = [int(s[1:]) for s in sites["site_id"]]
            return TravelTimes(sp.csr_matrix(mat[:, cols]), {"method": "synthetic"}, cutoff_min)

    c = sens._CachedTravel(Provider())
    first = c.times(cells, cand.iloc[:5], None, 15.0)
    again = c.times(cells, cand.iloc[[4, 6, 0, 7]], None, 15.0)
    assert calls == [["s0", "s1", "s2", "s3", "s4"], ["s6", "s7"]] and c.computed == 7
    assert (first.matrix != mat[:, :5]).nnz == 0
    assert (again.matrix != mat[:, [4, 6, 0, 7]]).nnz == 0
    c.times(cells, cand.iloc[:2], None, 10.0)  # another cutoff: computed again
    assert calls[-1] == ["s0", "s1"]


def test_a_break_smaller_than_the_solver_gap_is_within_the_gap():
    rows = [_row("base", "base", 100, 3000, 676, gap=0.004), _row("site_cost", "low", 100, 3005, 677, gap=0.003),
            _row("site_cost", "high", 100, 2998, 676, gap=0.002)]  # ports per station 36.82 -> 36.76 -> 36.74
    check = next(c for c in sens.physics_checks(_table(rows)) if c["measure"] == "ports_per_station")
    assert check["result"] == "within the gap"
    rows[2] = _row("site_cost", "high", 100, 2900, 676, gap=0.002)  # 2.7 % fewer ports: beyond any gap
    check = next(c for c in sens.physics_checks(_table(rows)) if c["measure"] == "ports_per_station")
    assert check["result"] == "BROKEN"


@pytest.mark.parametrize("args, field", [(["--executor", "spark"], "--executor"), (["--scheduler", "tcp://x:8786"], "--scheduler"),
                                         (["--workers", "0"], "--workers"), (["-p", "Atlantis"], "--prefecture")])
def test_cli_bad_options_exit_2_before_any_solve(tmp_path, args, field):
    from typer.testing import CliRunner

    from evsiting.cli import app

    r = CliRunner().invoke(app, ["sensitivity", str(ANSHUN), "--out", str(tmp_path / "s"), *args])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error:") and (field in r.stderr or "Atlantis" in r.stderr)
    assert not (tmp_path / "s").exists()


def test_a_parameter_the_demand_stage_reads_first_still_rebuilds_the_travel_times(tmp_path, shared, monkeypatch):
    """With zone standards the demand stage reads ``circuity_factor`` first (a zone's km standard
    in minutes) and the travel-time stage reads it too: its variant gets travel times computed
    with its own value, the very matrix a run of the changed config builds from scratch (the
    base's times with the variant's standards moved the standards alone: on the province,
    circuity 1.2 gave 1,050 more stations instead of fewer)."""
    import evsiting.stages.s5_model as s5
    from evsiting.config.schema import load_config

    path = tmp_path / "zoned.yaml"
    path.write_text(f"extends: {ANSHUN}\nname: zoned\ndemand:\n  h3_resolution: 6\n  nev_total: 20000\ncandidates:\n"
                    "  per_county: 3\nimpedance:\n  method: great_circle\n", encoding="utf-8")
    cfg = load_config(path)
    assert cfg.model.zone_standards
    matrices, solve = [], s5.solve_model

    def recording(block, inp, opts):
        matrices.append(inp.matrix.copy())
        return solve(block, inp, opts)

    monkeypatch.setattr(s5, "solve_model", recording)
    pipe = sens.RunPipeline(cfg)
    pipe.solve(sens.BASE)
    assert pipe.log.first["circuity_factor"] == "demand" and "travel" in pipe.log.stages["circuity_factor"]
    v = next(x for x in sens.variants(pipe, ["circuity_factor"])[0] if x.side == "low")
    assert pipe.rebuilds_travel(v)
    res = pipe.solve(v)
    assert res.ok and not any(x.startswith("travel times") for x in res.reused)
    sens.RunPipeline(sens.variant_config(cfg, v)).solve(sens.BASE)  # the changed config from scratch
    got, fresh, base = matrices[1], matrices[2], matrices[0]
    assert got.shape == fresh.shape and (got != fresh).nnz == 0
    assert got.nnz != base.nnz or (got != base).nnz > 0  # the variant's times are not the base's


def test_solves_above_the_gap_target_are_flagged(tmp_path, monkeypatch):
    """A solve that stopped at its time limit above the gap target (0.5 % for the capacitated
    model) is named in the report's headline count and its list, with its gap, and its
    parameter's tornado label says how loose it is; the subtitle gives the zone standards of a
    zoned run (it said "15-min standard"). Hand-made runs."""
    s = _fake_sensitivity()
    s.results[0] = replace(s.results[0], status="feasible", gap=0.126)  # site_cost low
    s.standard = "by zone: core 1 km, urban 2 km, town 3 km, rural 15 min"
    tab = s.table()
    assert sens.gap_target(s.cfg) == 0.005
    assert list(sens.above_target(tab, 0.005)["parameter"]) == ["site_cost"]
    html = (sens.write_sensitivity(s, tmp_path / "f", {"run": "f"}) / "report.html").read_text(encoding="utf-8")
    assert "1 of the 5 solves stopped at their time limit above the gap target of 0.5 %" in html
    assert "site_cost low (200000): feasible, gap 12.60 % (above the gap target of 0.5 %: stopped at the time limit)" in html
    assert "service standard by zone: core 1 km" in html and "15-min standard" not in html
    import matplotlib.axes

    labels, orig = [], matplotlib.axes.Axes.set_yticks

    def spy(ax, ticks, labels_=None, **kw):  # the tornado's bar labels
        labels.extend(labels_ or [])
        return orig(ax, ticks, labels_, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_yticks", spy)
    sens.tornado_png(tab, "t", gap_target=0.005)
    assert any(lab.startswith("site_cost") and lab.endswith("[gap up to 12.6 %]") for lab in labels)
    assert not any("gap up to" in lab for lab in labels if not lab.startswith("site_cost"))
