"""``evsiting demand project``: the province NEV fleet by year, segment and scenario."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from .common import echo_err, handle_errors


def _province_table(scenarios: list[str], years: list[int] | None, params, fleet):
    """Fleet + energy + province-aggregate port floor, one DataFrame for all scenarios."""
    import pandas as pd

    from ..demand.fleet import project_fleet, scenario_parameters
    from ..demand.segments import fleet_energy
    from evsiting.sizing.ports import ports_for_energy

    frames = []
    for s in scenarios:
        p = scenario_parameters(params, s, fleet)
        df = fleet_energy(project_fleet(s, years, params, fleet), p)
        dc = ports_for_energy(df["dc_kwh_day"], p.value("dc_charger_power_kw"), p.value("dc_utilisation_hours"))
        ac = ports_for_energy(df["ac_kwh_day"], p.value("ac_charger_power_kw"), p.value("ac_utilisation_hours"))
        depot = ports_for_energy(df["depot_kwh_day"], p.value("bus_depot_charger_power_kw"),
                                 p.value("bus_depot_utilisation_hours"))
        df["dc_ports_floor"], df["ac_ports_floor"], df["depot_ports_floor"] = dc, ac, depot
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    return out


def _print(df) -> None:
    from evsiting.report.references import compare_to_references

    for s, g in df.groupby("scenario", sort=False):
        piv = g.pivot(index="year", columns="segment", values="nev_stock")
        tot = g[g["segment"] == "total"].set_index("year")
        typer.echo(f"\nscenario {s}: NEV stock at the end of the year (vehicles), public energy and port floor")
        typer.echo(f"{'year':>6}{'private':>11}{'taxi':>9}{'logist.':>9}{'bus':>8}{'total':>11}{'NEV sales%':>11}"
                   f"{'public MWh/d':>13}{'DC ports':>10}{'AC ports':>10}{'depot':>8}")
        for y in piv.index:
            r, t = piv.loc[y], tot.loc[y]
            typer.echo(f"{y:>6}{r['private']:>11,}{r['taxi']:>9,}{r['logistics']:>9,}{r['bus']:>8,}{r['total']:>11,}"
                       f"{t['nev_sales_share']:>11.1%}{t['public_kwh_day'] / 1000:>13,.0f}{t['dc_ports_floor']:>10,}"
                       f"{t['ac_ports_floor']:>10,}{t['depot_ports_floor']:>8,}")
        last = tot.index.max()
        t = tot.loc[last]
        ref = compare_to_references(t["nev_stock"], t["dc_ports_floor"], t["ac_ports_floor"])
        typer.echo(f"  {last} against reference ratios (port floor = province energy / (power x hours), "
                   "before per-site rounding and the peak-hour check):")
        for r in ref.itertuples():
            typer.echo(f"    {r.reference:<58} run {r.run_value:8.1f}  ref {r.reference_value:6.1f}  ({r.note})")


def register(app: typer.Typer) -> None:
    """Add the ``demand`` sub-app (command ``project``) to ``app``."""
    demand = typer.Typer(help="NEV fleet projection and charging demand.", no_args_is_help=True)

    @demand.command("project")
    @handle_errors
    def project_cmd(
        scenario: str = typer.Option("base", "--scenario", "-s", help="low, base, high or all"),
        year: Optional[int] = typer.Option(None, "--year", "-y", help="Only this year (default: base year to fleet.last_year)"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="Run config for the fleet section and parameter overrides"),
        out: Path = typer.Option(Path("outputs"), "--out", help="Folder for fleet.csv"),
    ) -> None:
        """Project the province NEV fleet by segment, print it and write ``fleet.csv``.

        Columns of fleet.csv: year, scenario, segment (private, taxi, logistics, bus, total),
        nev_stock (vehicles), nev_sales_share, nev_sales (vehicles/year; the segments add up
        to the total; empty in the base year), energy_kwh_day, public_kwh_day, dc_kwh_day,
        ac_kwh_day, depot_kwh_day (kWh/day), dc_ports_floor, ac_ports_floor, depot_ports_floor
        (province energy / (power x hours), rounded up).
        """
        from evsiting.config.schema import FleetConfig, load_config
        from ..demand.fleet import SCENARIOS
        from evsiting.core.errors import InputError
        from evsiting.config.checks import config_parameters
        from evsiting.config.params import load_parameters

        if scenario != "all" and scenario not in SCENARIOS:
            raise InputError(f"unknown scenario '{scenario}'; expected low, base, high or all", field="--scenario")
        scenarios = list(SCENARIOS) if scenario == "all" else [scenario]
        if config is not None:
            cfg = load_config(config)
            params = config_parameters(cfg, label=str(config))
            fleet = cfg.fleet
        else:
            params, fleet = load_parameters(), FleetConfig()
        df = _province_table(scenarios, None if year is None else [year], params, fleet)
        _print(df)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "fleet.csv"
        tmp = out / ".fleet.csv.tmp"
        df.to_csv(tmp, index=False, float_format="%.6g")
        os.replace(tmp, path)
        echo_err(f"wrote {path}")

    app.add_typer(demand, name="demand")
