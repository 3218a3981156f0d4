"""``evsiting plan CONFIG --years 2024:2030``: the staged build-out plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evsiting.report.warnings import standard_label
from .common import SOLVER_HELP, check_solver_option, echo_err, options_text, handle_errors


def _limit(r: dict) -> str:
    """The nested plan's binding constraint of a year, with the kWh/day it leaves unserved."""
    if r["binding"] == "none":
        return "nothing (all energy in reach served)"
    left = r["unserved_beyond_capacity_kwh_day"] + r["unserved_beyond_standard_kwh_day"]
    return f"{r['binding']} ({left:,.0f} kWh/day unserved)"


def _print_table(res) -> None:
    s = res.summary
    typer.echo(f"\n{s['run']}: {s['years'][0]}-{s['years'][-1]}, objective {s['objective']}, "
               f"service standard {standard_label(s)}, {s['candidates']:,} candidate sites")
    typer.echo(f"method: {s.get('method', '')}")
    binding = "binding" in (s["by_year"][0] if s["by_year"] else {})
    typer.echo(f"{'year':<6}{'NEVs':>11}{'stations':>10}{'new':>6}{'DC ports':>10}{'AC ports':>10}{'served':>9}{'spend CNY':>16}"
               + ("  what limits service" if binding else ""))
    for r in s["by_year"]:
        typer.echo(f"{r['year']:<6}{r['nev_study_area']:>11,.0f}{r['stations']:>10,}{r['stations_new']:>6,}{r['ports_dc']:>10,}"
                   f"{r['ports_ac']:>10,}{r['served_share']:>9.2%}{r['spend_cny']:>16,.0f}"
                   + (f"  {_limit(r)}" if binding else ""))
    for b in s.get("binding", []):
        if b["counties"]:
            more = f" and {len(b['counties']) - 8} more" if len(b["counties"]) > 8 else ""
            typer.echo(f"  {b['year']}: {b['constraint']} binds in {', '.join(b['counties'][:8])}{more}")
    m = s["solver"]
    typer.echo(f"solver {m['name']}: {m['status']}, objective {m['objective']:.6g}, bound {m['bound']:.6g}, "
               f"gap {m['gap']:.3g}, {m['runtime_s']:.1f} s" + (f" ({m['message']})" if m["message"] else ""))
    for line in s.get("warnings", []):
        typer.echo(f"warning: {line}")
    if res.out_dir:
        typer.echo(f"outputs: {res.out_dir}")


def _print_robust(res) -> None:
    """Console view of a robust plan: each scenario's years, then the regret table and bound."""
    from evsiting.runs.robust import regret_display

    s = res.summary
    r, sh = s["robust"], s["shared"]
    typer.echo(f"\n{s['run']}: {s['years'][0]}-{s['years'][-1]}, robust over {', '.join(s['scenarios'])} "
               f"({s['criterion']}), service standard {standard_label(s)}, {s['candidates']:,} candidate sites")
    typer.echo(f"shared {s['early_years'][0]}-{s['early_years'][-1]} (every scenario): {sh['stations']:,} stations, "
               f"{sh['ports_dc']:,} DC + {sh['ports_ac']:,} AC ports in {sh['year']}")
    for sc, rows in s["by_scenario"].items():
        typer.echo(f"\n{sc} scenario")
        typer.echo(f"{'year':<6}{'NEVs':>11}{'stations':>10}{'new':>6}{'DC ports':>10}{'AC ports':>10}{'served':>9}"
                   f"{'spend CNY':>16}  what limits service")
        for y in rows:
            typer.echo(f"{y['year']:<6}{y['nev_study_area']:>11,.0f}{y['stations']:>10,}{y['stations_new']:>6,}{y['ports_dc']:>10,}"
                       f"{y['ports_ac']:>10,}{y['served_share']:>9.2%}{y['spend_cny']:>16,.0f}  {_limit(y)}")
    typer.echo(f"\nregret of the robust plan against each scenario's own plan (CNY; stations {sh['year']} / {s['years'][-1]})")
    typer.echo(f"{'scenario':<10}{'weight':>7}{'own plan':>16}{'robust plan':>16}{'regret':>14}{'regret %':>10}"
               f"{'at most':>14}{'own st.':>12}{'robust st.':>12}")
    for g in regret_display(s):
        typer.echo(f"{g['scenario']:<10}{g['weight']:>7.3f}{g['own_cost_cny']:>16,.0f}{g['robust_cost_cny']:>16,.0f}"
                   f"{g['regret_cny']:>14,.0f}{100 * g['regret_share']:>9.2f}%{g['regret_max_cny']:>14,.0f}"
                   f"{g['own_shared']:>6,}/{g['own_last']:<5,}{g['robust_shared']:>6,}/{g['robust_last']:<5,}")
    typer.echo(f"cost of robustness: {r['cost_of_robustness_cny']:,.0f} CNY ({s['criterion']}; at most "
               f"{r['cost_of_robustness_max_cny']:,.0f} CNY against the own plans' proven bounds)")
    typer.echo(f"robust plan: {r['status']}, {r['message']}, {r['runtime_s']:.1f} s")
    for line in s.get("warnings", []):
        typer.echo(f"warning: {line}")
    if res.out_dir:
        typer.echo(f"outputs: {res.out_dir}")


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command to ``app``."""

    @app.command("plan")
    @handle_errors
    def plan_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/guizhou.yaml"),
        years: Optional[str] = typer.Option(None, "--years", help="Plan years, e.g. 2024:2030 (default: the config's buildout.years)"),
        prefecture: Optional[str] = typer.Option(None, "--prefecture", "-p", help="Only this prefecture: English/pinyin, Chinese name or adcode"),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for run folders (default: the config's output_dir)"),
        solver: Optional[str] = typer.Option(None, "--solver", help=SOLVER_HELP),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Time limit of the whole plan solve, seconds (nested plan: the last year gets 60 %)"),
        robust: bool = typer.Option(False, "--robust", help="One network for the early years (buildout.robust.early_until, default 2026) "
                                    "for every adoption scenario, the later years per scenario; prints the regret table (docs/robust.md)"),
    ) -> None:
        """Plan which stations to open and how many ports to add each year; writes buildout.geojson, buildout.csv and buildout.png."""
        from evsiting.runs.plan import parse_years, plan
        from evsiting.config.schema import load_config
        from evsiting.core.errors import InputError

        check_solver_option(solver)
        if time_limit is not None and not 0 < time_limit < float("inf"):
            raise InputError(f"must be a finite number of seconds above 0, got {time_limit:g}", field="--time-limit")
        yrs = parse_years(years) if years is not None else None
        cfg = load_config(config)
        echo_err(f"evsiting plan {config}" + options_text(years=years, prefecture=prefecture, out=out, solver=solver, time_limit=time_limit)
                 + (" --robust" if robust else ""))
        if robust:
            from evsiting.runs.robust import robust_plan

            _print_robust(robust_plan(cfg, years=yrs, prefecture=prefecture, out_base=out, time_limit=time_limit, progress=echo_err))
            return
        res = plan(cfg, years=yrs, prefecture=prefecture, out_base=out, solver=solver, time_limit=time_limit, progress=echo_err)
        _print_table(res)
