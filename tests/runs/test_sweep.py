"""Trade-off sweeps (p and budget) and scenario comparison: real Anshun data with a small
candidate set, plus synthetic instances (named as such) for the solver-independent logic."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evsiting.runs import sweep
from evsiting.cli import app
from evsiting.runs.compare import COMPARE_COLUMNS, compare_runs, format_table, write_comparison
from evsiting.config.schema import MCLPConfig, load_config
from evsiting.core.errors import InputError
from evsiting.models import MCLP
from evsiting.config.params import load_parameters
from evsiting.runs.run import run
from evsiting.core.settings import configs_dir

from models_helpers import synthetic_cells_and_sites


def _anshun_cfg():
    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    cfg.candidates.per_county = 8
    # only the per-county list: p up to 46 then reaches every coverable NEV (the reuse rule below)
    cfg.candidates.county_seats, cfg.candidates.parent_resolution, cfg.candidates.fill_gaps = False, None, False
    cfg.impedance.method = "great_circle"
    cfg.model = MCLPConfig(nevs_per_station=1000)  # the p sweep is an MCLP sweep
    return cfg


@pytest.fixture(scope="module")
def prepared(shared):
    return sweep.prepare(_anshun_cfg())


@pytest.fixture(scope="module")
def p_sweep(prepared):
    return sweep.sweep_p(prepared, list(range(1, 49, 3)))


def test_parse_values():
    assert sweep.parse_values("10:50:10", integer=True) == [10, 20, 30, 40, 50]
    assert sweep.parse_values("10:55:10", integer=True) == [10, 20, 30, 40, 50]
    assert sweep.parse_values("50,10,20,10", integer=True) == [10, 20, 50]
    assert sweep.parse_values("5e7:1.5e8:5e7") == [5e7, 1e8, 1.5e8]
    for bad in ("", "a:b:c", "10:5:1", "1:10:0", "0,5", "1:2", "-3"):
        with pytest.raises(InputError):
            sweep.parse_values(bad, integer=True)
    with pytest.raises(InputError):
        sweep.parse_values("1.5,2", integer=True)


def test_mclp_coverage_is_non_decreasing_in_p(p_sweep):
    df = p_sweep
    assert list(df.columns) == sweep.P_SWEEP_COLUMNS
    assert (df["status"] == "optimal").all() and (df["gap"] == 0).all()
    assert np.all(np.diff(df["coverage_share"]) >= 0)
    assert np.all(np.diff(df["objective"]) >= 0)
    assert (df["stations"] <= df["value"]).all()
    assert df["coverage_share"].iloc[-1] > df["coverage_share"].iloc[0]
    # once all coverable demand is covered, larger p reuse the solution
    reused = df["source"].str.contains("covers all coverable demand")
    assert reused.any() and (df.loc[reused, "coverage_share"] == df["coverage_share"].max()).all()


def test_sweep_row_matches_a_full_run(prepared, p_sweep):
    cfg = _anshun_cfg()
    res = run(cfg, write=False)
    row = sweep.sweep_p(prepared, [res.summary["p"]]).iloc[0]
    tot = res.summary["total"]
    row2 = sweep.sweep_p(sweep.from_result(res), [res.summary["p"]]).iloc[0]  # inputs taken from the run itself
    for k in ("stations", "ports_dc", "ports_ac", "nev_covered", "coverage_share", "cost_cny", "unserved_energy_kwh_day"):
        assert row[k] == pytest.approx(tot[k]), k
        assert row2[k] == pytest.approx(tot[k]), k
    # the run's warning travels into the sweep table (issue 16)
    assert row["stations_over_site_max"] == res.summary["stations_over_site_max"]
    if row["stations_over_site_max"]:
        assert f"{row['stations_over_site_max']} station(s) need more ports than one site holds" in row["warnings"]


def test_p_sweep_rows_count_stations_over_the_site_maximum(p_sweep):
    df = p_sweep
    few = df.iloc[0]  # p = 1: one station for all of Anshun's NEVs in reach
    assert few["stations_over_site_max"] == 1 and "need more ports than one site holds" in few["warnings"]
    assert (df["stations_over_site_max"] <= df["stations"]).all()
    assert df["warnings"].map(lambda w: isinstance(w, str)).all()


def _synthetic_inputs(n=60, m=25, seed=3) -> sweep.SweepInputs:
    """Synthetic instance (random points on a 30 km square near Guiyang, not real data)."""
    cells, cand, mat = synthetic_cells_and_sites(n, m, seed, side_km=30, nev_range=(0, 80), dc_kwh_per_nev=4.5)
    return sweep.SweepInputs(cells, cand, mat, load_parameters(), 15.0, "nev_count", "synthetic", {"year": 2026, "scenario": "base"})


def test_monotone_on_synthetic_instances_with_both_solvers():
    from evsiting.models import available_solvers

    for seed in (1, 2):
        inp = _synthetic_inputs(seed=seed)
        for solver in available_solvers():
            df = sweep.sweep_p(inp, list(range(1, 26, 2)), solver=solver)
            assert np.all(np.diff(df["coverage_share"]) >= 0), (seed, solver)


def test_an_early_stop_below_a_smaller_p_keeps_the_incumbent(monkeypatch):
    inp = _synthetic_inputs()
    real = MCLP.solve

    def worse_at_p5(self, *a, **k):
        res = real(self, *a, **k)
        if self.p_facilities == 5:  # pretend the solver stopped on time with one station
            sel = res.selected[:1]
            w = inp.cells["nev_count"].to_numpy(float)
            cov = np.diff(inp.matrix[:, sel].tocsr().indptr) > 0
            res.selected, res.objective, res.status = sel, float(w[cov].sum()), "feasible"
        return res

    monkeypatch.setattr(MCLP, "solve", worse_at_p5)
    df = sweep.sweep_p(inp, [3, 5, 7])
    assert df["source"].iloc[1].startswith("incumbent of p=3 (solver stopped at")
    assert df["coverage_share"].iloc[1] == df["coverage_share"].iloc[0]
    assert df["status"].iloc[1] == "feasible"
    assert np.all(np.diff(df["coverage_share"]) >= 0)


def test_budget_sweep_on_a_synthetic_instance():
    inp = _synthetic_inputs(n=30, m=10)
    p = inp.params
    budgets = [p.value("site_cost") + 2e5, 3e6, 1e7]
    df = sweep.sweep_budget(inp, budgets)
    assert (df["cost_cny"] <= df["value"] + 1e-6).all()
    assert np.all(np.diff(df["energy_served_kwh_day"]) >= -1e-6)
    assert df["stations"].iloc[0] <= 1 and df["stations"].iloc[-1] >= df["stations"].iloc[0]


def test_sweep_manifests_name_the_model_that_runs():
    """The budget sweep solves the run's capacitated model and MCLP the p sweep: their
    manifests name those classes (a synthetic instance, for the model's class only)."""
    from evsiting.config.schema import CapacitatedConfig
    from evsiting.stages.s5_model import ModelInputs, capacitated_model

    inp = _synthetic_inputs(n=30, m=10)
    mdl = capacitated_model(CapacitatedConfig(service_standard_min=15.0, budget_cny=1e6),
                            ModelInputs(inp.cells, inp.matrix, np.zeros(0, dtype=np.int64), inp.params, inp.candidates))
    assert sweep.sweep_model("budget").split(" ")[0] == type(mdl).__name__ == mdl.name
    assert "budget" in sweep.sweep_model("budget")
    assert sweep.sweep_model("p").split(" ")[0] == MCLP.name


def test_budget_sweep_is_monotone_and_the_cheaper_plan_wins():
    """Budgets far beyond the least cost give the least-cost plan (the issue's 100 M vs 250 M
    rows: the larger budget must not cost more for the same energy); served energy never falls."""
    inp = _synthetic_inputs(n=30, m=10)
    p = inp.params
    budgets = [p.value("site_cost") + 2e5, 3e6, 1e7, 1e8, 1e9]
    df = sweep.sweep_budget(inp, budgets)
    served = df["energy_served_kwh_day"].to_numpy()
    cost = df["cost_cny"].to_numpy()
    assert np.all(np.diff(served) >= -1e-6)
    for i in range(1, len(df)):  # same energy: never more money than a smaller budget's plan
        if abs(served[i] - served[i - 1]) <= 1e-6 * max(served[i], 1.0):
            assert cost[i] <= cost[i - 1] + 1e-6
    # the large budgets do not bind: the least-cost plan, solved once, and they say so
    assert df["status"].iloc[-1] == "not binding" and "does not bind" in df["source"].iloc[-1]
    assert cost[-1] == pytest.approx(cost[-2]) and cost[-1] <= 1e8


def test_a_budget_solve_that_serves_less_keeps_the_smaller_budgets_plan(monkeypatch):
    from evsiting.models.capacitated import CapacitatedSiting

    inp = _synthetic_inputs(n=30, m=10)
    real = CapacitatedSiting.solve

    def worse_at_3m(self, *a, **k):
        res = real(self, *a, **k)
        if self.budget == 3e6:  # pretend the solver stopped early with less energy
            res.served = res.served * 0.0
            res.status = "feasible"
        return res

    monkeypatch.setattr(CapacitatedSiting, "solve", worse_at_3m)
    budgets = [inp.params.value("site_cost") + 2e5, 3e6]
    df = sweep.sweep_budget(inp, budgets)
    if df["energy_served_kwh_day"].iloc[0] > 0:
        assert df["source"].iloc[1].startswith("reused: the plan of budget")
        assert df["status"].iloc[1] == "feasible"  # its own solve's status
    assert np.all(np.diff(df["energy_served_kwh_day"]) >= -1e-6)


def test_write_sweep_is_reproducible(p_sweep, tmp_path):
    sweep.write_sweep(p_sweep, tmp_path / "a", "Anshun")
    sweep.write_sweep(p_sweep, tmp_path / "b", "Anshun")
    for name in ("tradeoff.csv", "tradeoff.png", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    page = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert "Trade-off" in page and page.count("data:image/png;base64,") == 1 and "http" not in page.split("<body>")[0]
    back = pd.read_csv(tmp_path / "a" / "tradeoff.csv")
    assert back.columns[0] == "p" and len(back) == len(p_sweep)
    assert (tmp_path / "a" / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, shared):
    out = tmp_path_factory.mktemp("runs")
    dirs = []
    for scen, std in (("low", 15.0), ("high", 10.0)):
        cfg = _anshun_cfg()
        cfg.candidates.per_county = 10  # the high scenario needs 54 stations
        cfg.name = f"anshun-{scen}-{std:g}"
        cfg.demand.scenario = scen
        cfg.model.service_standard_min = std
        dirs.append(run(cfg, out_base=out).out_dir)
    return dirs


def test_compare_table_and_chart(two_runs, tmp_path):
    df = compare_runs(two_runs)
    assert list(df.columns[:len(COMPARE_COLUMNS)]) == COMPARE_COLUMNS and len(df) == 2
    # then the per-zone figures: each figure of each urban zone of the runs (one zone 'all' for
    # cells without a zone column), in the summaries' order
    zones = list(dict.fromkeys(z["zone"] for d in two_runs for z in json.loads((d / "summary.json").read_text())["zones"]))
    assert zones and list(df.columns[len(COMPARE_COLUMNS):]) == [
        f"{k}_{z}" for z in zones for k in ("stations", "ports_per_station_median", "access_min_mean", "access_min_p95",
                                            "nev_within_standard_share")]
    for d, row in zip(two_runs, df.itertuples()):
        s = json.loads((d / "summary.json").read_text())
        assert row.stations == s["total"]["stations"] and row.coverage_share == s["total"]["coverage_share"]
        assert row.cost_cny == pytest.approx(s["total"]["cost_cny"])
    assert list(df["scenario"]) == ["low", "high"] and list(df["service_standard_min"]) == [15.0, 10.0]
    assert df["nev_count"].iloc[1] > df["nev_count"].iloc[0]
    text = format_table(df)
    assert "anshun-low-15" in text and "coverage" in text
    csv, png = write_comparison(df, tmp_path)
    assert pd.read_csv(csv).shape == (2, len(df.columns)) and png.stat().st_size > 1000
    assert not (tmp_path / "map.png").exists()  # without the run folders: table and chart only


def test_compare_writes_a_map_and_a_self_contained_report(two_runs, tmp_path):
    import re

    from evsiting.runs.compare import COMPARISON_PANELS, comparison_title

    df = compare_runs(two_runs)
    # every measure the command lists has its panel
    assert [c for c, *_ in COMPARISON_PANELS] == ["stations", "ports_total", "coverage_share", "cost_cny",
                                                  "nev_per_public_charger", "unserved_energy_kwh_day"]
    assert "scenario: low / high" in comparison_title(df) and "standard (min): 15 / 10" in comparison_title(df)
    write_comparison(df, tmp_path, run_dirs=two_runs)
    assert {p.name for p in tmp_path.iterdir()} == {"comparison.csv", "comparison.png", "map.png", "report.html"}
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "anshun-low-15" in page and "Runs side by side" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)


def test_compare_cost_from_sites_for_runs_without_cost(two_runs, tmp_path):
    import shutil

    d = tmp_path / "old"
    shutil.copytree(two_runs[0], d)
    s = json.loads((d / "summary.json").read_text())
    cost = s["total"].pop("cost_cny")
    (d / "summary.json").write_text(json.dumps(s))
    assert compare_runs([d])["cost_cny"].iloc[0] == pytest.approx(cost)


def test_cli_sweep_and_compare(two_runs, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"extends: {configs_dir() / 'prefectures' / 'anshun.yaml'}\nname: cli\ncandidates:\n  per_county: 8\n"
        f"impedance:\n  method: great_circle\noutput_dir: {tmp_path / 'out'}\n"
    )
    r = CliRunner().invoke(app, ["sweep", str(cfg), "--stations", "5:15:5"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "cli-sweep-p" / "tradeoff.csv").exists() and (tmp_path / "out" / "cli-sweep-p" / "tradeoff.png").exists()
    manifest = json.loads((tmp_path / "out" / "cli-sweep-p" / "manifest.json").read_text())
    assert manifest["sweep"]["model"] == sweep.sweep_model("p") and manifest["sweep"]["kind"] == "p"
    r = CliRunner().invoke(app, ["sweep", str(cfg)])
    assert r.exit_code == 2 and "exactly one of --stations (--p) and --budget" in r.output
    r = CliRunner().invoke(app, ["sweep", str(cfg), "--p", "1:100000:50000"])  # p far above the candidate sites
    assert r.exit_code == 2 and "candidate sites" in r.output
    r = CliRunner().invoke(app, ["compare", *map(str, two_runs), "--out", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    assert "NEVs per charger" in r.output and (tmp_path / "cmp" / "comparison.csv").exists()
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "run folder not found" in r.output


def test_tradeoff_charts_plot_against_the_swept_value(tmp_path, monkeypatch):
    """Synthetic rows (not a solve): the p chart's x is p, the budget chart's x is the budget in
    M CNY, and their titles differ (issue 16)."""
    from matplotlib.figure import Figure

    seen = {}
    orig = Figure.savefig

    def spy(self, path, **kw):
        ax = self.axes[0]
        seen[Path(path).name] = (ax.get_title(), ax.get_xlabel(), [ln.get_xdata().tolist() for ln in ax.get_lines()])
        return orig(self, path, **kw)

    from pathlib import Path

    monkeypatch.setattr(Figure, "savefig", spy)
    rows = pd.DataFrame({"value": [5e7, 1e8, 2.5e8], "stations": [40, 80, 80], "coverage_share": [0.6, 0.9, 0.9],
                         "cost_cny": [4.9e7, 8.8e7, 8.5e7], "energy_kwh_day": [1e5] * 3, "energy_served_kwh_day": [6e4, 9.9e4, 9.9e4]})
    sweep.plot_tradeoff(rows, tmp_path / "b.png", "t", "budget")
    sweep.plot_tradeoff(rows.assign(value=[10, 20, 30]), tmp_path / "p.png", "t", "p")
    (tb, xb, lb), (tp, xp, lp) = seen["b.png"], seen["p.png"]
    assert tb != tp and "budget" in tb.lower() and "stations p" in tp
    assert "million CNY" in xb and lb[0] == [50.0, 100.0, 250.0]
    assert xp.startswith("p") and lp[0] == [10.0, 20.0, 30.0]


def test_sweep_warnings_are_one_line_each_and_printed_once():
    """Rows sharing a warning (up to its leading count) give one line listing the values."""
    from evsiting.cli.analysis import sweep_warning_lines

    df = pd.DataFrame({"value": [10, 20, 30], "warnings": [
        "3 station(s) need more ports than one site holds (30 DC / 50 AC, parameters site_max_*); 2 demand cell(s) x",
        "5 station(s) need more ports than one site holds (30 DC / 50 AC, parameters site_max_*); 2 demand cell(s) x",
        ""]})
    lines = sweep_warning_lines(df, "p")
    assert lines == ["Station(s) need more ports than one site holds (30 DC / 50 AC, parameters site_max_*) (count by p: 10: 3, 20: 5)",
                     "p = 10, 20: 2 demand cell(s) x"]
    assert all("\n" not in line for line in lines)


def test_compare_map_draws_each_runs_stations(two_runs, monkeypatch):
    """The comparison's map panels are the runs' stations (``stations.geojson``), as each run's
    own map.png draws them, not their sites."""
    import evsiting.report.html as html
    from evsiting.runs.compare import compare_map_png

    seen = []
    monkeypatch.setattr(html, "map_png", lambda panels, title: seen.extend(panels) or b"png")
    assert compare_map_png(compare_runs(two_runs), two_runs) == b"png"
    for d, panel in zip(two_runs, seen):
        s = json.loads((d / "summary.json").read_text())
        assert "station_id" in panel.stations.columns and len(panel.stations) == s["total"]["stations"]
