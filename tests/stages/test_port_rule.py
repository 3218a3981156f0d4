"""One port rule: ``run``'s capacitated model, ``sweep --budget`` and ``plan`` take the same
port capacities (kWh/day per DC and AC port) and the same DC/AC split, so the same station
loads give the same ports in every command. Synthetic instance (random points near Guiyang,
not real data)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from evsiting.runs import sweep
from evsiting.config.schema import CapacitatedConfig
from evsiting.config.params import load_parameters
from evsiting.sizing.port_rule import port_capacities
from evsiting.stages.s5_model import ModelInputs, capacitated_model

from models_helpers import synthetic_cells_and_sites


def _inputs(n=40, m=16, seed=5):
    """50 cells x 20 sites (the size until issue 22) gave a half-budget MIP that HiGHS took 90 s
    or more to prove; this one (5 stations, 209 ports at least cost) takes about a second and
    tests the same rule."""
    return synthetic_cells_and_sites(n, m, seed, side_km=25, nev_range=(1, 120), dc_kwh_per_nev=6.0)


def _rule_ports(res, cells, cap_dc, cap_ac):
    """Ports the rule gives for a result's station loads: DC = ceil(DC load / Kd); AC =
    ceil((load - DC capacity) / Ka)."""
    e = cells["energy_kwh_day"].to_numpy(dtype=float)
    share = cells["energy_dc_kwh_day"].to_numpy(dtype=float) / e
    load = np.asarray(res.flows.sum(axis=0)).ravel()
    load_dc = np.asarray((sp.diags(share) @ res.flows).sum(axis=0)).ravel()
    dc = np.ceil(load_dc / cap_dc - 1e-7).clip(0)
    ac = np.ceil(np.maximum(load - dc * cap_dc, 0) / cap_ac - 1e-7).clip(0)
    return dc.astype(int), ac.astype(int)


def test_run_and_budget_sweep_size_ports_by_the_same_rule():
    cells, cand, mat = _inputs()
    params = load_parameters()
    cap_dc, cap_ac = port_capacities(params)
    inp = ModelInputs(cells, mat, np.zeros(0, dtype=np.int64), params, cand)
    run_res = capacitated_model(CapacitatedConfig(), inp).solve(mip_gap=0)
    dc, ac = _rule_ports(run_res, cells, cap_dc, cap_ac)
    assert (run_res.dc_ports == dc).all() and (run_res.ac_ports == ac).all()
    # the budget sweep solves the same model with a budget: its plan obeys the same rule, and a
    # budget of the least cost serves as much energy as the run
    si = sweep.SweepInputs(cells, cand, mat, params, 15.0, "nev_count", "synthetic", {"year": 2026, "scenario": "base"})
    df = sweep.sweep_budget(si, [run_res.capital_cny * 0.5, run_res.capital_cny], mip_gap=0)
    assert df["energy_served_kwh_day"].iloc[1] == np.float64(df["energy_served_kwh_day"].iloc[1])
    assert abs(df["energy_served_kwh_day"].iloc[1] - run_res.served.sum()) <= 1e-6 * run_res.served.sum()
    assert df["energy_served_kwh_day"].iloc[0] <= df["energy_served_kwh_day"].iloc[1] + 1e-9
    budget_res = capacitated_model(CapacitatedConfig(budget_cny=run_res.capital_cny * 0.5), inp).solve(mip_gap=0)
    assert budget_res.capital_cny <= run_res.capital_cny * 0.5 and budget_res.served.sum() < run_res.served.sum()  # it binds
    dc, ac = _rule_ports(budget_res, cells, cap_dc, cap_ac)
    assert (budget_res.dc_ports == dc).all() and (budget_res.ac_ports == ac).all()


def test_plan_takes_the_same_port_capacities(monkeypatch):
    """``plan`` builds both of its methods with :func:`port_capacities` of the run: the nested
    capacitated plan (the default) and the multi-period model (with a budget)."""
    import importlib

    import pytest

    from evsiting.config.schema import load_config
    from evsiting.models.multiperiod import MultiPeriodSiting
    from evsiting.core.settings import configs_dir

    plan_mod = importlib.import_module("evsiting.runs.plan")
    seen = {}

    def spy_nested(*a, **kw):
        seen.update(kw["site_args"])
        raise RuntimeError("stop")

    def spy_multi(*a, **kw):
        seen.update(kw)
        raise RuntimeError("stop")

    monkeypatch.setattr(plan_mod, "staged_capacitated", spy_nested)
    monkeypatch.setattr(MultiPeriodSiting, "from_cost_matrix", spy_multi)
    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    cfg.candidates.per_county = 3
    cfg.impedance.method = "great_circle"
    cap_dc, cap_ac = port_capacities(load_parameters())
    assert plan_mod.plan_method(cfg, cfg.buildout) == "nested"
    with pytest.raises(RuntimeError):
        plan_mod.plan(cfg, years=[2025, 2026], write=False)
    assert seen["dc_port_kwh_day"] == cap_dc and seen["ac_port_kwh_day"] == cap_ac
    seen.clear()
    cfg.buildout.budget_cny = 5e7
    assert plan_mod.plan_method(cfg, cfg.buildout) == "multi_period"
    with pytest.raises(RuntimeError):
        plan_mod.plan(cfg, years=[2025, 2026], write=False)
    assert seen["dc_capacity_kwh"] == cap_dc and seen["ac_capacity_kwh"] == cap_ac
