"""evsiting plan --robust (issue #21, item 3): the robust staged plan against BRUTE FORCE on a
tiny SYNTHETIC instance (every shared network enumerated, every scenario's best completion
enumerated), expected against worst-case on an instance where they choose different shared
networks, and the CLI's errors (exit 2, the key named, did you mean). No prefecture is solved."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from evsiting.core.errors import InputError
from evsiting.models.robust import combine, robust_staged

ANSHUN = Path(__file__).resolve().parents[2] / "configs" / "prefectures" / "anshun.yaml"
KD, KA, STD = 100.0, 30.0, 15.0  # kWh/day per DC / AC port, minutes
YEARS = [2024, 2025, 2026]
WEIGHTS = {"low": 0.9, "high": 0.1}


def _instance(seed: int):
    """A SYNTHETIC instance: 4 demand points, 3 sites (one station each, at most 2 DC + 1 AC
    ports), travel minutes 1-24, a low and a high scenario growing over three years."""
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 25, size=(4, 3)).astype(float)
    for i in range(4):
        if (t[i] > STD).all():
            t[i, rng.integers(3)] = 5.0
    base = rng.uniform(10, 60, 4)
    energy = {"low": np.array([base, base * 1.3, base * 1.6]), "high": np.array([base * 1.5, base * 2.5, base * 3.5])}
    dc = {s: e * 0.5 for s, e in energy.items()}
    F = rng.uniform(50, 150, 3)
    args = dict(dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_dc_ports=2, max_ac_ports=1, max_stations=1,
                site_cost_cny=F, dc_port_cost_cny=np.full(3, 40.0), ac_port_cost_cny=np.full(3, 10.0))
    return t, energy, dc, args


def _serves(net, t, E, D) -> bool:
    """Whether network ``net`` = (stations, dc, ac) serves energy ``E`` (DC part ``D``): a flow LP."""
    st, nd, na = net
    n, m = t.shape
    pairs = [(i, j) for i in range(n) for j in range(m) if t[i, j] <= STD and st[j] > 0]
    if any(not any(p[0] == i for p in pairs) for i in range(n) if E[i] > 0):
        return False
    s = D / E
    a_eq = np.zeros((n, len(pairs)))
    a_ub = np.zeros((2 * m, len(pairs)))
    for k, (i, j) in enumerate(pairs):
        a_eq[i, k], a_ub[j, k], a_ub[m + j, k] = 1, s[i], 1
    r = linprog(np.zeros(len(pairs)), A_ub=a_ub, b_ub=np.concatenate([KD * nd, KD * nd + KA * na]), A_eq=a_eq, b_eq=E,
                bounds=(0, None), method="highs")
    return r.status == 0


def _brute_force(t, energy, dc, args, criterion):
    """The best robust plan by enumeration: every shared network of 2024 serving both
    scenarios' 2024 energy, each scenario's cheapest 2026 network holding it."""
    opts = [(0, 0, 0)] + [(1, a, b) for a in range(3) for b in range(2) if a + b]
    nets = [tuple(np.array(v) for v in zip(*c)) for c in itertools.product(opts, repeat=3)]

    def cost(net):
        return float((args["site_cost_cny"] * net[0]).sum() + 40 * net[1].sum() + 10 * net[2].sum())

    e0 = np.maximum(energy["low"][0], energy["high"][0])
    firsts = [x for x in nets if _serves(x, t, e0, 0.5 * e0)]
    finals = {s: sorted((x for x in nets if _serves(x, t, energy[s][-1], dc[s][-1])), key=cost) for s in energy}
    best = None
    for x0 in firsts:
        costs = [min(cost(x) for x in finals[s] if all((x[q] >= x0[q]).all() for q in range(3))) for s in energy]
        v = combine(costs, [WEIGHTS[s] for s in energy], criterion)
        if best is None or v < best[0] - 1e-9:
            best = (v, x0)
    return best


@pytest.mark.parametrize("seed", [0, 12, 18])
@pytest.mark.parametrize("criterion", ["expected", "worst_case"])
def test_robust_plan_equals_brute_force(seed, criterion):
    t, energy, dc, args = _instance(seed)
    best, _ = _brute_force(t, energy, dc, args, criterion)
    res = robust_staged(t, energy, dc, YEARS, STD, early_until=2024, site_args=args, weights=WEIGHTS,
                        criterion=criterion, mip_gap=0.0)
    assert res.objective == pytest.approx(best, abs=1e-6)
    assert res.status == "optimal" and res.gap == pytest.approx(0.0, abs=1e-9)
    low, high = res.plans["low"], res.plans["high"]
    # the shared year: the same stations and ports in both scenarios; then each its own
    for a in ("stations", "dc_ports", "ac_ports"):
        np.testing.assert_array_equal(getattr(low, a)[0], getattr(high, a)[0])
        assert (np.diff(getattr(low, a), axis=0) >= 0).all() and (np.diff(getattr(high, a), axis=0) >= 0).all()
    np.testing.assert_allclose(low.served_share, 1.0, atol=1e-6)
    np.testing.assert_allclose(high.served_share, 1.0, atol=1e-6)
    # regret: never below zero beyond rounding here (every solve proven optimal), and the
    # cost of robustness is the criterion's value minus the same criterion over the own optima
    for r in res.regret:
        assert r["regret_cny"] >= -1e-6 and r["regret_max_cny"] >= r["regret_cny"] - 1e-6
    own = [res.own_cost_cny[s] for s in res.scenarios]
    assert res.cost_of_robustness_cny == pytest.approx(res.objective - combine(own, res.weights, criterion))
    assert res.cost_of_robustness_cny >= -1e-6


def test_expected_and_worst_case_choose_differently():
    """Seed 18: the expected plan (low weighs 0.9) and the worst-case plan share different
    early networks; each is strictly the better one under its own criterion."""
    t, energy, dc, args = _instance(18)
    out = {c: robust_staged(t, energy, dc, YEARS, STD, early_until=2024, site_args=args, weights=WEIGHTS, criterion=c,
                            mip_gap=0.0) for c in ("expected", "worst_case")}
    first = {c: (r.plans["low"].stations[0].tolist(), r.plans["low"].dc_ports[0].tolist(), r.plans["low"].ac_ports[0].tolist())
             for c, r in out.items()}
    assert first["expected"] != first["worst_case"]
    w = [WEIGHTS[s] for s in out["expected"].scenarios]

    def value(res, crit):
        return combine([res.cost_cny[s] for s in res.scenarios], w, crit)

    assert value(out["expected"], "expected") < value(out["worst_case"], "expected") - 1e-6
    assert value(out["worst_case"], "worst_case") < value(out["expected"], "worst_case") - 1e-6


def test_bad_arguments_raise_input_error():
    t, energy, dc, args = _instance(0)
    with pytest.raises(InputError, match="early_until"):
        robust_staged(t, energy, dc, YEARS, STD, early_until=2026, site_args=args)
    with pytest.raises(InputError, match="criterion"):
        robust_staged(t, energy, dc, YEARS, STD, early_until=2024, site_args=args, criterion="minimax")
    with pytest.raises(InputError, match="weights"):
        robust_staged(t, energy, dc, YEARS, STD, early_until=2024, site_args=args, weights={"mid": 1.0})


def _cli(tmp_path, robust_block: str):
    from typer.testing import CliRunner

    from evsiting.cli import app

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"extends: {ANSHUN}\nbuildout:\n  robust:\n{robust_block}")
    return CliRunner().invoke(app, ["plan", str(cfg), "--years", "2024:2030", "--robust", "--out", str(tmp_path / "o")])


def test_cli_unknown_robust_key_exits_2_with_did_you_mean(tmp_path):
    r = _cli(tmp_path, "    critrion: worst_case\n")
    assert r.exit_code == 2, r.output
    assert "buildout.robust.critrion" in r.stderr and "did you mean 'criterion'" in r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("block,key", [("    early_until: 2030\n", "buildout.robust.early_until"),
                                       ("    criterion: minimax\n", "buildout.robust.criterion"),
                                       ("    weights: {mid: 1}\n", "buildout.robust.weights")])
def test_cli_bad_robust_value_exits_2_naming_the_key(tmp_path, block, key):
    r = _cli(tmp_path, block)
    assert r.exit_code == 2, r.output
    assert key in r.stderr
    assert not (tmp_path / "o").exists()


def test_robust_plan_folder_on_a_tiny_instance(tmp_path, shared):
    """Anshun's real data, cut small (H3 resolution 5, 2 candidate cells per county,
    great-circle times, 2024-2027 sharing 2024-2025; about 90 cells and 80 sites): the folder's
    files, the shared years identical in every scenario, 100 % served, the regret table written."""
    import json

    import pandas as pd

    from evsiting.config.schema import load_config
    from evsiting.runs.robust import robust_plan

    path = tmp_path / "tiny.yaml"
    path.write_text(f"extends: {ANSHUN}\nname: tiny\nimpedance:\n  method: great_circle\ncandidates:\n  parent_resolution: 4\n"
                    "buildout:\n  candidates_per_county: 2\n  h3_resolution: 5\n  robust:\n    early_until: 2025\n", encoding="utf-8")
    res = robust_plan(load_config(path), years=[2024, 2025, 2026, 2027], out_base=tmp_path / "out")
    out = res.out_dir
    assert out.name == "tiny-plan-robust"
    for name in ("robust.csv", "buildout.csv", "buildout.geojson", "buildout.png", "map.png", "report.html", "summary.json", "manifest.json"):
        assert (out / name).stat().st_size > 0, name
    r = res.result
    for k in (0, 1):  # 2024 and 2025: one network for all
        for a in ("stations", "dc_ports", "ac_ports"):
            arrs = [getattr(r.plans[s], a)[k] for s in r.scenarios]
            assert all((x == arrs[0]).all() for x in arrs), (k, a)
    tab = pd.read_csv(out / "buildout.csv")
    assert set(tab["scenario"]) == {"low", "base", "high"} and len(tab) == 12
    assert (tab["served_share"] > 0.9995).all() or json.loads((out / "summary.json").read_text())["warnings"]
    reg = pd.read_csv(out / "robust.csv")
    assert list(reg["scenario"]) == ["low", "base", "high"]
    assert (reg["regret_max_cny"] >= reg["regret_cny"] - 1e-3).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["robust"]["bound_cny"] <= summary["robust"]["objective_cny"] + 1e-6
    assert "Regret against each scenario" in (out / "report.html").read_text()


def test_cli_robust_needs_the_nested_method(tmp_path):
    from typer.testing import CliRunner

    from evsiting.cli import app

    cfg = tmp_path / "budget.yaml"
    cfg.write_text(f"extends: {ANSHUN}\nbuildout:\n  budget_cny: 100000000\n")
    r = CliRunner().invoke(app, ["plan", str(cfg), "--years", "2024:2030", "--robust", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert "field 'buildout'" in r.stderr and "nested" in r.stderr
    assert not (tmp_path / "o").exists()
