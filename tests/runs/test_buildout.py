"""Staged build-out (issue 9): the multi-period siting model and the ``evsiting plan`` run.

Instances here are synthetic fixtures (small random or hand-made matrices), not data.
"""

from __future__ import annotations

import re

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from evsiting.core.errors import InfeasibleError, InputError
from evsiting.models.multiperiod import CoverageRule, MultiPeriodSiting

from models_helpers import brute_siting

COSTS = dict(site_cost=100.0, dc_port_cost=40.0, ac_port_cost=10.0, dc_capacity_kwh=50.0, ac_capacity_kwh=12.0)


def random_instance(seed: int, n: int = 14, m: int = 6, T: int = 3):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 10, (n, 2))
    sites = rng.uniform(0, 10, (m, 2))
    minutes = np.linalg.norm(pts[:, None, :] - sites[None, :, :], axis=2) * 3.0
    cost = np.where(minutes <= 15.0, minutes, np.inf)
    base = rng.uniform(5, 40, n)
    growth = np.linspace(1.0, 2.5, T)
    demand = np.outer(growth, base)
    return cost, demand


def test_stations_never_close_and_ports_never_shrink():
    cost, demand = random_instance(1, n=10, m=5)
    mdl = MultiPeriodSiting.from_cost_matrix(cost, demand, [2024, 2025, 2026], 15.0, budget=[250, 250, 400],
                                             max_dc=3, max_ac=2, **COSTS)
    res = mdl.solve(time_limit=60)
    assert res.status == "optimal"
    assert (np.diff(res.dc_ports, axis=0) >= 0).all() and (np.diff(res.ac_ports, axis=0) >= 0).all()
    open_t = (res.dc_ports + res.ac_ports) > 0
    assert (open_t[1:] >= open_t[:-1]).all()
    # open_year is the first year with ports; spending respects every yearly budget
    for j in range(cost.shape[1]):
        yrs = res.years[open_t[:, j]]
        assert res.open_year[j] == (yrs[0] if yrs.size else -1)
    assert (res.spend <= np.array([250, 250, 400]) + 1e-6).all()
    assert res.served_share[-1] > 0 and (res.served_total <= res.demand_total + 1e-6).all()
    # the warm start (myopic plan) is feasible, so the multi-period optimum is at least as good
    assert res.stats["warm_start"] is True
    assert res.objective >= res.stats["start_objective"] - 1e-6


@pytest.mark.parametrize("seed", [2, 3])
def test_one_year_plan_equals_the_brute_force_optimum(seed):
    """One year is the single-period model: its optimum is the best of every port count per site
    within the budget (max_served) and the cheapest serving all demand (min_cost)."""
    cost, demand = random_instance(seed, T=1)
    plan = MultiPeriodSiting.from_cost_matrix(cost, demand, [2026], 15.0, budget=300, max_dc=3, max_ac=2,
                                              **COSTS).solve()
    best = brute_siting(cost, demand[0], 15.0, 3, 2, COSTS["dc_capacity_kwh"], COSTS["ac_capacity_kwh"],
                        COSTS["site_cost"], COSTS["dc_port_cost"], COSTS["ac_port_cost"], 300, "max_served")
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(best, rel=1e-7, abs=1e-6)
    assert plan.total_cost <= 300 + 1e-6
    # min_cost: serve all demand (the unreachable points' zeroed) at least cost; a smaller
    # instance so that every port count of every site can be tried
    cost, demand = random_instance(seed, n=8, m=4, T=1)
    d = np.where(np.isfinite(cost).any(axis=1), demand[0], 0.0)
    plan = MultiPeriodSiting.from_cost_matrix(cost, d[None, :], [2026], 15.0, objective="min_cost", target_share=1.0,
                                              max_dc=2, max_ac=2, **COSTS).solve()
    best = brute_siting(cost, d, 15.0, 2, 2, COSTS["dc_capacity_kwh"], COSTS["ac_capacity_kwh"],
                        COSTS["site_cost"], COSTS["dc_port_cost"], COSTS["ac_port_cost"], None, "min_cost")
    assert best is not None and plan.status == "optimal"
    assert plan.objective == pytest.approx(best, rel=1e-7, abs=1e-6)


def test_unlimited_budget_serves_each_year_as_its_single_year_optimum():
    """Without a budget each year's optimum is the max flow with every site at its port maxima."""
    cost, demand = random_instance(4, T=3)
    years = [2024, 2027, 2030]
    plan = MultiPeriodSiting.from_cost_matrix(cost, demand, years, 15.0, budget=None, max_dc=2, max_ac=2,
                                              **COSTS).solve()
    cap = np.full(cost.shape[1], 2 * COSTS["dc_capacity_kwh"] + 2 * COSTS["ac_capacity_kwh"])
    for t in range(3):
        most = _max_flow(cost, demand[t], cap)
        assert plan.served_total[t] == pytest.approx(most, rel=1e-7, abs=1e-6)
        assert plan.served_share[t] == pytest.approx(most / demand[t].sum(), rel=1e-7)


def _max_flow(cost, d, cap):
    """kWh/day servable with site capacities ``cap`` (LP, scipy)."""
    pairs = [(i, j) for i in range(cost.shape[0]) for j in range(cost.shape[1]) if np.isfinite(cost[i, j])]
    if not pairs or cap.sum() == 0:
        return 0.0
    A, b = [], []
    for i in range(cost.shape[0]):
        A.append([1.0 if p[0] == i else 0.0 for p in pairs]); b.append(d[i])
    for j in range(cost.shape[1]):
        A.append([1.0 if p[1] == j else 0.0 for p in pairs]); b.append(cap[j])
    r = linprog(-np.ones(len(pairs)), A_ub=np.array(A), b_ub=np.array(b), bounds=(0, None), method="highs")
    return -r.fun


@pytest.mark.parametrize("carry_over", [False, True])
def test_brute_force_two_years(carry_over):
    cost = np.array([[2.0, np.inf], [5.0, 9.0], [np.inf, 3.0], [14.0, 4.0]])
    demand = np.array([[60.0, 20.0, 30.0, 10.0], [90.0, 40.0, 70.0, 30.0]])
    budget = np.array([170.0, 160.0])
    kw = dict(site_cost=[100.0, 80.0], dc_port_cost=40.0, ac_port_cost=10.0, dc_capacity_kwh=50.0,
              ac_capacity_kwh=12.0)
    w = np.array([1.0, 1.0 / 1.05])
    res = MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], 15.0, budget=budget, carry_over=carry_over,
                                             discount_rate=0.05, max_dc=2, max_ac=1, **kw).solve()
    # enumerate every port path (nd, na) per site and year, ports never decreasing
    states = [(a, b) for a in range(3) for b in range(2)]
    paths = [(s0, s1) for s0 in states for s1 in states if s1[0] >= s0[0] and s1[1] >= s0[1]]
    best = -1.0
    for p0, p1 in itertools.product(paths, paths):
        spend = []
        for t in range(2):
            s = 0.0
            for j, p in enumerate((p0, p1)):
                prev = (0, 0) if t == 0 else p[0]
                cur = p[t]
                if sum(cur) > 0 and sum(prev) == 0:
                    s += kw["site_cost"][j]
                s += 40.0 * (cur[0] - prev[0]) + 10.0 * (cur[1] - prev[1])
            spend.append(s)
        ok = (np.cumsum(spend) <= np.cumsum(budget) + 1e-9).all() if carry_over else \
            (np.array(spend) <= budget + 1e-9).all()
        if not ok:
            continue
        val = 0.0
        for t in range(2):
            cap = np.array([50.0 * p[t][0] + 12.0 * p[t][1] for p in (p0, p1)])
            val += w[t] * _max_flow(cost, demand[t], cap)
        best = max(best, val)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best, rel=1e-7, abs=1e-6)


def test_carry_over_allows_saving_for_a_later_station():
    cost = np.array([[1.0, np.inf], [np.inf, 1.0]])
    demand = np.array([[0.0, 0.0], [10.0, 10.0]])
    kw = dict(site_cost=200.0, dc_port_cost=50.0, ac_port_cost=50.0, dc_capacity_kwh=10.0, ac_capacity_kwh=10.0,
              max_dc=1, max_ac=0)  # a station costs 250 CNY, more than one year's 150
    no = MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], budget=[150, 150], **kw).solve()
    yes = MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], budget=[150, 150], carry_over=True,
                                             **kw).solve()
    assert no.served_total[1] == pytest.approx(0.0)
    assert yes.served_total[1] == pytest.approx(10.0) and yes.open_year.max() == 2026
    assert np.cumsum(yes.spend)[-1] <= 300 + 1e-6


def test_min_cost_target_share_each_year():
    cost, demand = random_instance(5, T=3)
    reach = np.isfinite(cost).any(axis=1)
    share = [0.3, 0.5, 0.6]
    res = MultiPeriodSiting.from_cost_matrix(cost, demand, [2024, 2025, 2026], objective="min_cost",
                                             target_share=share, max_dc=4, max_ac=4, **COSTS).solve()
    assert (res.served_share >= np.array(share) - 1e-7).all()
    assert res.objective == pytest.approx(res.total_cost)
    with pytest.raises(InfeasibleError, match="within 15 minutes of any candidate"):
        MultiPeriodSiting.from_cost_matrix(cost, demand, [2024, 2025, 2026], objective="min_cost",
                                           target_share=min(1.0, demand[0, reach].sum() / demand[0].sum() + 0.01),
                                           **COSTS).solve()


def test_coverage_rule_opens_a_station_by_its_year():
    cost = np.array([[1.0, np.inf, np.inf], [np.inf, 2.0, np.inf]])
    demand = np.array([[50.0, 10.0], [60.0, 20.0]])
    place_cost = np.array([[np.inf, np.inf, 5.0]])  # a seat only candidate 2 reaches; no demand there
    rule = CoverageRule("county seats", ["甲县"], place_cost, 2026)
    res = MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], budget=1000, coverage=[rule],
                                             max_dc=2, max_ac=2, **COSTS).solve()
    assert res.open_year[2] == 2026 or res.open_year[2] == 2025
    assert res.stats["coverage_rules"][0]["enforced"] is True
    # a budget too small to open it by then is reported as such
    with pytest.raises(InfeasibleError, match="coverage rules"):
        MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], budget=20, coverage=[rule],
                                           max_dc=2, max_ac=2, **COSTS).solve()


def test_unmeetable_coverage_rule_names_the_places():
    cost = np.array([[1.0, 3.0]])
    demand = np.array([[10.0], [20.0]])
    place_cost = np.array([[5.0, np.inf], [40.0, 30.0], [np.inf, np.inf]])
    rule = CoverageRule("county seats", ["近县", "远县", "孤县"], place_cost, 2024)
    mdl = MultiPeriodSiting.from_cost_matrix(cost, demand, [2024, 2025], budget=1000, coverage=[rule], **COSTS)
    with pytest.raises(InfeasibleError) as exc:
        mdl.solve()
    msg = str(exc.value)
    assert "远县" in msg and "孤县" in msg and "近县" not in msg and "2 of 3 places" in msg


def test_bad_inputs():
    cost, demand = random_instance(6, T=2)
    with pytest.raises(InputError, match="years"):
        MultiPeriodSiting.from_cost_matrix(cost, demand, [2026, 2025])
    with pytest.raises(InputError, match="demand_kwh"):
        MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026, 2027])
    with pytest.raises(InputError, match="target_share"):
        MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], objective="min_cost", target_share=1.5)
    with pytest.raises(InputError, match="budget"):
        MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], budget=[1, 2, 3])


# ---------------------------------------------------------------------------------------------
# The plan run on the real data: one small prefecture, a few candidates, three years.
# ---------------------------------------------------------------------------------------------
import json  # noqa: E402

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from evsiting.runs.plan import parse_years, plan  # noqa: E402
from evsiting.cli import app  # noqa: E402
from evsiting.config.schema import load_config  # noqa: E402
from evsiting.core.settings import configs_dir  # noqa: E402


def small_config(**buildout):
    cfg = load_config(configs_dir() / "guizhou.yaml")
    cfg.impedance.method = "great_circle"  # the plan's years and files are tested, not the travel times (tests/network)
    cfg.buildout.candidates_per_county = 2
    cfg.buildout.h3_resolution = 6
    cfg.buildout.time_limit_s = 15
    for k, v in buildout.items():
        setattr(cfg.buildout, k, v)
    return cfg


@pytest.fixture(scope="module")
def anshun_plan(tmp_path_factory, shared):
    out = tmp_path_factory.mktemp("plan")
    cfg = small_config()
    cfg.buildout.coverage = [{"places": "county_seats", "year": 2025}]
    cfg.buildout.mip_gap = 0.02  # stops at a proven gap, not at its 15-s limit (the files are tested here)
    return plan(cfg, years=[2024, 2025, 2026], prefecture="Anshun", out_base=out)


def test_plan_outputs(anshun_plan):
    res = anshun_plan
    d = res.out_dir
    assert {p.name for p in d.iterdir()} >= {"buildout.geojson", "buildout.csv", "buildout.png", "summary.json",
                                              "manifest.json"}
    st = gpd.read_file(d / "buildout.geojson")
    assert st.crs.to_epsg() == 4326 and len(st) == int((res.result.open_year >= 0).sum())
    assert set(st["open_year"]) <= {2024, 2025, 2026}
    added = st[[f"dc_added_{y}" for y in (2024, 2025, 2026)]].to_numpy()
    assert (added >= 0).all() and (added.sum(axis=1) == st["ports_dc"]).all()
    tab = pd.read_csv(d / "buildout.csv")
    assert tab["year"].tolist() == [2024, 2025, 2026]
    assert (np.diff(tab["stations"]) >= 0).all() and (np.diff(tab["ports_dc"]) >= 0).all()
    assert (tab["nev_study_area"].diff().dropna() > 0).all()  # the fleet grows
    assert tab["served_share"].between(0, 1).all() and tab["served_share"].iloc[0] > 0
    assert (d / "buildout.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s = json.loads((d / "summary.json").read_text())
    assert s["solver"]["status"] in ("optimal", "feasible") and s["solver"]["gap"] >= 0
    assert s["coverage_rules"][0]["places"] == 6  # Anshun's six county seats
    # warnings and determinism as a run's summary has them (issue 23)
    assert isinstance(s["warnings"], list) and set(s["determinism"]) == {"deterministic", "why"}
    messages = [s["solver"]["message"]] + [y.get("message") for y in s["solver"].get("years", [])]
    assert s["determinism"]["deterministic"] == all("time limit" not in str(m) for m in messages)
    assert s["determinism"]["deterministic"] or any(w.startswith("not repeatable") for w in s["warnings"])
    short = [r for r in s["by_year"] if r["served_share"] < 0.9995]
    assert sum(w.startswith(tuple(str(r["year"]) for r in short)) for w in s["warnings"]) == len(short) if short else True
    # a map and a self-contained report in the plan folder too (issue 16)
    assert (d / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (d / "report.html").read_text(encoding="utf-8")
    assert "By year" in page and page.count("data:image/png;base64,") == 2 and "Warnings (" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    assert st["name"].notna().all()
    assert {"map.png", "report.html"} <= set((d / ".evsiting-outputs").read_text().split())


def test_gap_is_shown_as_a_percentage():
    from evsiting.runs.plan import _gap_text

    assert _gap_text(0.000568) == "0.06 %" and _gap_text(0.0123) == "1.23 %" and _gap_text(None) == "-"
    assert _gap_text(0.0) == "0 %" and _gap_text(1e-7) == "< 0.01 %"


def test_parse_years():
    assert parse_years("2024:2030") == list(range(2024, 2031))
    assert parse_years("2026") == [2026]
    with pytest.raises(InputError):
        parse_years("2030:2024")
    with pytest.raises(InputError):
        parse_years("24-30")


def test_cli_unmeetable_county_seat_rule_names_the_seats(tmp_path, shared):
    cfg = tmp_path / "plan.yaml"
    cfg.write_text(
        f"extends: {configs_dir() / 'guizhou.yaml'}\n"
        "candidates:\n  county_seats: false\n"  # a candidate at each seat would meet the rule
        "buildout:\n  candidates_per_county: 1\n  h3_resolution: 6\n  time_limit_s: 10\n"
        "  coverage:\n    - places: county_seats\n      year: 2024\n      radius_min: 0.5\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(app, ["plan", str(cfg), "--years", "2024:2025", "--prefecture", "Anshun",
                                 "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert "error:" in r.output and "county seats" in r.output and "西秀区" in r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_min_cost_default_target_is_the_servable_maximum_and_too_high_a_target_is_reported():
    cost, demand = random_instance(7, T=3)
    demand = demand * 8  # more than the port maxima can hold
    kw = dict(max_dc=2, max_ac=1, **COSTS)
    mdl = MultiPeriodSiting.from_cost_matrix(cost, demand, [2024, 2025, 2026], objective="min_cost", **kw)
    srv = mdl.servable()
    assert (srv < demand.sum(axis=1) * 0.999).all()
    res = mdl.solve()
    assert res.status == "optimal"
    assert res.served_total == pytest.approx(srv, rel=2e-4)
    assert res.objective <= res.stats["start_objective"] + 1e-6
    too_high = float(srv[0] / demand[0].sum()) + 0.01
    with pytest.raises(InfeasibleError, match="maximum ports"):
        MultiPeriodSiting.from_cost_matrix(cost, demand, [2024, 2025, 2026], objective="min_cost",
                                           target_share=too_high, **kw).solve()


def test_site_flows_fit_the_ports():
    cost, demand = random_instance(8, T=2)
    res = MultiPeriodSiting.from_cost_matrix(cost, demand, [2025, 2026], budget=600, max_dc=3, max_ac=2,
                                             **COSTS).solve()
    cap = COSTS["dc_capacity_kwh"] * res.dc_ports + COSTS["ac_capacity_kwh"] * res.ac_ports
    assert (res.site_served <= cap + 1e-6).all()
    assert res.site_served.sum(axis=1) == pytest.approx(res.served_total, rel=1e-7)


def test_plan_reads_candidate_files_as_the_run_does(tmp_path, shared):
    """A province-wide planner list (synthetic sites, named as such): sites in other
    prefectures are skipped with a warning, not an error; ``existing: true`` without port
    columns is reported (the plan keeps existing stations with their port counts); the file is
    listed with its hash in the manifest. One year per plan (the files are read once per
    plan, whatever its years; the years are tested on ``anshun_plan``)."""
    from evsiting.config.schema import PointFile

    csv = tmp_path / "synthetic_sites.csv"
    csv.write_text("id,lon,lat\nanshun-1,105.947,26.253\nguiyang-1,106.630,26.647\n", encoding="utf-8")
    cfg = small_config()
    cfg.candidates.files = [PointFile(path=str(csv), id_column="id", existing=True)]
    lines: list[str] = []
    res = plan(cfg, years=[2026], prefecture="Anshun", out_base=tmp_path / "out", progress=lines.append)
    # the warnings are the summary's, printed once after the table (issue 23), not during the run
    assert any("other prefectures skipped" in m for m in res.summary["warnings"])
    assert any("give dc_ports_column/ac_ports_column" in m for m in res.summary["warnings"])
    assert not any("other prefectures skipped" in m or "dc_ports_column" in m for m in lines)
    ids = set(res.candidates["site_id"].astype(str))
    assert any("anshun-1" in i for i in ids) and not any("guiyang-1" in i for i in ids)
    files = json.loads((res.out_dir / "manifest.json").read_text())["data_files"]
    # with port columns the existing station is kept open with its ports, and no warning
    csv.write_text("id,lon,lat,dc,ac\nanshun-1,105.947,26.253,4,6\n", encoding="utf-8")
    cfg.candidates.files = [PointFile(path=str(csv), id_column="id", existing=True, dc_ports_column="dc", ac_ports_column="ac")]
    lines2: list[str] = []
    res2 = plan(cfg, years=[2026], prefecture="Anshun", out_base=tmp_path / "out2", progress=lines2.append)
    assert not any("dc_ports_column" in m for m in lines2 + res2.summary["warnings"])
    st = res2.stations.set_index("site_id").loc["u-anshun-1"]
    assert st["existing"] and st["ports_dc"] >= 4 and st["ports_ac"] >= 6
    entry = [f for f in files if f["path"] == str(csv)][0]
    assert entry["sha256"] and entry["skipped_outside_study_area"] == 1
    assert json.loads((res.out_dir / "summary.json").read_text())["building_weights"] == {"used": False}


def test_run_totals_existing_stations_and_the_ports_it_adds(tmp_path, shared):
    """``run`` with a planner's file of existing stations (synthetic, named as such) and their
    installed ports: the summary totals the existing stations, installed and added ports."""
    from evsiting.config.schema import PointFile
    from evsiting.runs.run import run

    csv = tmp_path / "synthetic_existing.csv"
    csv.write_text("id,name,lon,lat,dc,ac\nanshun-1,synthetic A,105.947,26.253,4,6\n"
                   "anshun-2,synthetic B,105.93,26.24,2,0\n", encoding="utf-8")
    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    cfg.candidates.per_county = 3
    cfg.impedance.method = "great_circle"
    cfg.demand.h3_resolution = 6  # the totals of existing and added ports are tested, not the size
    cfg.candidates.files = [PointFile(path=str(csv), id_column="id", existing=True, dc_ports_column="dc",
                                      ac_ports_column="ac")]
    res = run(cfg, out_base=tmp_path / "out")
    tot = res.summary["total"]
    assert tot["existing_stations"] == 2
    assert tot["ports_dc_existing"] == 6 and tot["ports_ac_existing"] == 6
    assert tot["ports_dc_added"] == tot["ports_dc"] - 6 and tot["ports_ac_added"] == tot["ports_ac"] - 6
