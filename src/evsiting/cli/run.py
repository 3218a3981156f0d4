"""``evsiting run CONFIG``: the province or prefecture siting run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evsiting.report.warnings import run_warnings, standard_label
from evsiting.report.reality import render_validation
from evsiting.report.tables import urban_population_sentence
from .common import SOLVER_HELP, check_solver_option, echo_err, handle_errors, options_text


def _print_summary(res) -> None:
    s = res.summary
    tot = s["total"]
    idle = s.get("stations_without_demand_not_built", 0)
    no_gain = s.get("stations_adding_no_coverage_not_built", 0)
    notes = []
    if no_gain:
        notes.append(f"{no_gain} would add no coverage")
    if idle:
        notes.append(f"{idle} would be nobody's nearest station")
    note = f" ({' and '.join(notes)}: not built; {s['total']['stations']:,} built)" if notes else ""
    from evsiting.report.html import model_name

    model = model_name(s.get("model", "MCLP")) + (f" with p = {s['p']} stations" if "p" in s else f", {tot['stations']:,} stations")
    typer.echo(f"\n{s['run']}: {s['year']} {s.get('scenario', '')}, {model}{note}, service standard {standard_label(s)}")
    typer.echo(f"{'':14}{'NEVs':>9}{'stations':>10}{'DC ports':>10}{'AC ports':>10}{'coverage':>10}{'NEV/charger':>13}")
    rows = s["prefectures"] + [{"name_en": "Total", **tot}]
    for r in rows:
        ratio = "-" if r["nev_per_public_charger"] is None else f"{r['nev_per_public_charger']:.1f}"
        typer.echo(
            f"{r['name_en']:<14}{r['nev_count']:>9,}{r['stations']:>10,}{r['ports_dc']:>10,}{r['ports_ac']:>10,}"
            f"{r['coverage_share']:>10.1%}{ratio:>13}"
        )
    _print_urban(s)
    _print_zones(s)
    for line in cross_border_lines(s):
        typer.echo(line)
    if tot.get("existing_stations"):
        typer.echo(
            f"existing stations: {tot['existing_stations']:,} with {tot['ports_dc_existing']:,} DC + "
            f"{tot['ports_ac_existing']:,} AC ports installed; the plan adds {tot['ports_dc_added']:,} DC + "
            f"{tot['ports_ac_added']:,} AC ports in all"
        )
    dep = s.get("depots") or []
    if dep:
        typer.echo(
            f"bus depots (own facility class): {sum(d['nev_buses'] for d in dep):,} NEV buses, "
            f"{sum(d['ports_depot'] for d in dep):,} depot ports"
        )
    for r in ([] if s.get("validation") else s.get("reference_ratios", [])[:1]):  # the validation table below says it
        typer.echo(f"NEVs per public charger {r['run_value']:.1f} vs {r['reference_value']:g} ({r['reference']})")
    if "coverage_ceiling_share" in s:
        typer.echo(
            f"coverage ceiling of the candidate sites: {s['coverage_ceiling_share']:.1%} of NEVs are within "
            f"their standard ({standard_label(s)}) of any candidate (more stations cannot exceed it)"
        )
    _print_candidates(s)
    bw = s.get("building_weights") or {}
    if bw.get("used"):
        typer.echo(
            f"demand weights: building footprints, share {bw['share']:g}: {bw.get('footprints', 0):,} footprints, "
            f"{bw.get('footprint_area_m2', 0) / 1e6:,.3f} km², in {bw.get('cells_with_buildings', 0):,} demand cells"
        )
    if "unserved_by_county" in s:  # capacitated: beyond the standard, or beyond the sites' capacity
        by = s["unserved_by_county"]
        beyond_std = sum(c["beyond_standard_kwh_day"] for c in by)
        beyond_cap = sum(c["beyond_capacity_kwh_day"] for c in by)
        typer.echo(f"served public energy: {tot['energy_served_kwh_day']:,.0f} of {tot['energy_kwh_day']:,.0f} kWh/day "
                   f"({tot['energy_served_kwh_day'] / max(tot['energy_kwh_day'], 1e-9):.1%}); unserved: {beyond_std:,.0f} beyond the "
                   f"service standard of every candidate, {beyond_cap:,.0f} beyond what the sites in reach can hold"
                   + (f" ({len(by)} counties, listed in summary.json unserved_by_county)" if by else ""))
        cost = s.get("capital_cost_cny")
        if cost is not None:
            per_nev = cost / max(tot["nev_count"], 1)
            typer.echo(f"capital cost: {cost / 1e6:,.1f} M CNY ({per_nev:,.0f} CNY per NEV); every station within "
                       f"{s['site_max_ports']['dc']:g} DC / {s['site_max_ports']['ac']:g} AC ports"
                       + ("" if not s.get("stations_over_site_max") else " EXCEPT those flagged")
                       + power_line(s))
        if s.get("allocation_cny_per_kwh_min"):
            typer.echo(f"drivers' access cost: {s.get('access_cost_cny', 0) / 1e6:,.1f} M CNY over the stations' life "
                       f"({s['allocation_cny_per_kwh_min']:.4g} CNY per kWh/day and minute); total cost "
                       f"{(cost or 0) / 1e6 + s.get('access_cost_cny', 0) / 1e6:,.1f} M CNY")
    else:
        typer.echo(f"unserved public energy: {tot['unserved_energy_kwh_day']:,.0f} of {tot['energy_kwh_day']:,.0f} kWh/day (demand beyond the service standard)")
    if s.get("validation"):
        typer.echo("\n" + render_validation(s["validation"]) + "\n")
    m = res.manifest["solver"]
    if s.get("model") == "CapacitatedSiting" and s.get("budget_cny") is None:
        typer.echo(f"solver {m['name']}: {m['status']}: plan {m['objective'] / 1e6:,.2f} M CNY, no plan costs less than "
                   f"{m['bound'] / 1e6:,.2f} M CNY (proven gap {m['gap']:.3%}), {m['runtime_s']:.1f} s")
    else:
        typer.echo(f"solver {m['name']}: {m['status']}, objective {m['objective']:.6g}, gap {m['gap']:.3g}, {m['runtime_s']:.1f} s")
    for line in run_warnings(s):  # every warning of the run, also in summary.json and report.html
        typer.echo(f"warning: {line}")
    if res.out_dir:
        typer.echo(f"outputs: {res.out_dir}")


def zone_lines(zones: list[dict]) -> list[str]:
    """The console table of ``summary["zones"]``: per urban zone and prefecture, stations,
    ports per station (median, range), NEV-weighted access minutes (mean, 95th percentile) and
    km (straight line), and the share of NEVs within the zone's standard."""
    if not zones:
        return []
    out = ["access to the nearest built station, NEV-weighted (minutes; km in a straight line):",
           f"{'':14}{'zone':<7}{'NEVs':>9}{'stations':>9}{'ports/station':>15}{'min mean':>10}{'p95':>7}"
           f"{'km mean':>9}{'p95':>7}{'within std':>12}"]

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    for z in zones:
        ports = "-" if z["ports_per_station_median"] is None else (
            f"{z['ports_per_station_median']:g} ({z['ports_per_station_min']}-{z['ports_per_station_max']})")
        out.append(f"{str(z['prefecture']):<14}{z['zone']:<7}{z['nev_count']:>9,}{z['stations']:>9,}{ports:>15}"
                   f"{f(z['access_min_mean'], '.1f'):>10}{f(z['access_min_p95'], '.1f'):>7}{f(z['access_crow_km_mean'], '.1f'):>9}"
                   f"{f(z['access_crow_km_p95'], '.1f'):>7}{f(z['nev_within_standard_share'], '.1%'):>12}")
    return out


def cross_border_lines(s: dict) -> list[str]:
    """For a run over several prefectures, the energy each prefecture's cells draw from stations
    across its border and its stations serve for its neighbours: why a prefecture's part of a
    province run differs from its own run (where neither can happen)."""
    prefs = s.get("prefectures") or []
    if len(prefs) < 2 or not any("energy_served_in_other_prefectures_kwh_day" in p for p in prefs):
        return []
    out = ["service across prefecture borders (kWh/day; none in a one-prefecture run, one reason its own run differs):"]
    for p in prefs:
        out.append(f"  {p['name_en']:<12} its cells served in other prefectures {p['energy_served_in_other_prefectures_kwh_day']:>10,.0f}"
                   f"  its stations serve other prefectures {p['energy_served_for_other_prefectures_kwh_day']:>10,.0f}"
                   f"  of {p['energy_kwh_day']:,.0f}")
    return out


def _print_urban(s: dict) -> None:
    """Stations per prefecture against the census urban population (a run or roll-up over
    several prefectures)."""
    u = s.get("stations_by_urban_population")
    if u:
        typer.echo(urban_population_sentence(u))


def power_line(s: dict) -> str:
    """The console's words on the per-station power limit of a capacitated run."""
    lim = s.get("station_power_limit_kw")
    if lim is None or "power_limit" not in s:
        return ""
    if s["power_limit"]:
        return f" and {lim:,.0f} kW of grid connection (model.power_limit)"
    over = s.get("stations_over_power_limit", 0)
    return (f"; not limited to {lim:,.0f} kW a station (model.power_limit: false): its ports would need {over:,} more "
            "stations' grid connections" if over else "")


def _print_zones(s: dict) -> None:
    for line in zone_lines(s.get("zones") or []):
        typer.echo(line)


def _print_candidates(s: dict) -> None:
    """The candidate sites by source, the gap fill, and the cells no candidate reaches."""
    c = s.get("candidates")
    if not c:
        return
    by = ", ".join(f"{n:,} {src}" for src, n in c["by_source"].items())
    typer.echo(f"candidate sites: {c['total']:,} ({by}); the gap fill added {c['gap_fill_added']:,} "
               f"(ceiling {c['coverage_ceiling_before_gap_fill']:.1%} without them)"
               + (f"; the capacity fill added {c['capacity_fill_added']:,} at cells whose energy the sites in reach "
                  "could not hold" if c.get("capacity_fill_added") else ""))
    names = {str(r["adcode"]): r["name_en"] for r in s.get("prefectures", [])}
    low = [f"{names.get(str(a), a)} {v:.1%}" for a, v in c.get("coverage_ceiling_by_prefecture", {}).items() if v < 1]
    if low:
        typer.echo(f"coverage ceiling below 100%: {', '.join(low)}")


def _print_batch(res) -> None:
    """Print the roll-ups and failures of a batch (evsiting.runs.batch.run_batch)."""
    for name, (folder, s) in res.rollups.items():
        tot, tgt = s["total"], s["target"]
        typer.echo(f"\n{name}: province roll-up of {len(s['prefectures'])} prefecture runs, {s['year']} ({s['scenario']})")
        typer.echo(f"{'':14}{'NEVs':>9}{'stations':>10}{'DC ports':>10}{'AC ports':>10}{'coverage':>10}{'NEV/charger':>13}"
                   f"{'over max':>10}{'warnings':>10}")
        for r in s["prefectures"] + [{"name_en": "Total", **tot}]:
            ratio = "-" if r["nev_per_public_charger"] is None else f"{r['nev_per_public_charger']:.1f}"
            typer.echo(f"{r['name_en']:<14}{r['nev_count']:>9,}{r['stations']:>10,}{r['ports_dc']:>10,}{r['ports_ac']:>10,}{r['coverage_share']:>10.1%}{ratio:>13}"
                       f"{r.get('stations_over_site_max', 0):>10,}{r.get('warnings', 0):>10,}")
        typer.echo(f"target: {tgt['nev_target']:,} NEVs by {tgt['target_year']}; scenario {tgt['scenario_year']}: {tgt['nev_total']:,} ({tgt['share_of_target']:.1%})")
        _print_urban(s)
        if s.get("validation"):
            typer.echo(render_validation(s["validation"], why=False))
        for line in s.get("warnings", []):  # every warning of the prefecture runs
            typer.echo(f"warning: {line}")
        if not s["complete"]:
            typer.echo(f"INCOMPLETE: no run for {', '.join(s['missing'])}")
        typer.echo(f"outputs: {folder}")
    if res.failed:
        for o in res.failed:
            typer.echo(f"failed: {o.job.label}: {o.error}", err=True)
        typer.echo(f"error: {len(res.failed)} of {len(res.outcomes)} runs failed; the others were written", err=True)
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to ``app``."""

    @app.command("run")
    @handle_errors
    def run_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/guizhou.yaml"),
        prefecture: Optional[str] = typer.Option(None, "--prefecture", "-p", help="Only this prefecture: English/pinyin, Chinese name or adcode"),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for run folders (default: the config's output_dir)"),
        solver: Optional[str] = typer.Option(None, "--solver", help=SOLVER_HELP),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Solver time limit, seconds"),
        executor: str = typer.Option("local", "--executor", help="With --prefecture all: local (worker processes) or dask"),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)"),
        workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (default: cores available)"),
    ) -> None:
        """Size and place chargers for the config's study area and write GeoJSON outputs.

        ``--prefecture all`` runs each prefecture in parallel and writes a province roll-up."""
        from evsiting.config.checks import check_cli_numbers
        from evsiting.config.schema import load_config
        from evsiting.core.errors import InputError
        from evsiting.runs.run import run

        check_solver_option(solver)
        check_cli_numbers(time_limit, workers)
        cfg = load_config(config)
        if (prefecture or "").strip().lower() == "all" or executor != "local" or scheduler or workers:
            from evsiting.runs.batch import run_batch

            per_pref = (prefecture or "").strip().lower() == "all"
            if not per_pref:
                raise InputError("--executor, --scheduler and --workers go with --prefecture all "
                                 "(one run on a cluster: evsiting batch --whole CONFIG --executor dask)", field="--prefecture")
            echo_err(f"evsiting run {config} --prefecture all --executor {executor}"
                     + options_text(out=out, solver=solver, time_limit=time_limit, workers=workers))
            res = run_batch([cfg], per_prefecture=True, out_base=out, executor=executor, workers=workers,
                            scheduler=scheduler, solver=solver, time_limit=time_limit, progress=echo_err)
            _print_batch(res)
            return
        echo_err(f"evsiting run {config}" + options_text(prefecture=prefecture, out=out, solver=solver, time_limit=time_limit))
        res = run(cfg, prefecture=prefecture, out_base=out, solver=solver, time_limit=time_limit, progress=echo_err)
        _print_summary(res)

    @app.command("batch")
    @handle_errors
    def batch_cmd(
        configs: list[Path] = typer.Argument(..., help="Scenario configs, e.g. configs/scenarios/*.yaml"),
        whole: bool = typer.Option(False, "--whole", help="One run per config over its study area instead of one per prefecture plus a roll-up"),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for run folders (default: each config's output_dir)"),
        solver: Optional[str] = typer.Option(None, "--solver", help=SOLVER_HELP),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Solver time limit, seconds"),
        executor: str = typer.Option("local", "--executor", help="local (worker processes) or dask"),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (default: a LocalCluster)"),
        workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (default: cores available)"),
    ) -> None:
        """Run a scenario sweep (several configs, e.g. configs/scenarios/*.yaml): every config
        per prefecture with a province roll-up each, all runs on one executor."""
        from evsiting.runs.batch import run_batch
        from evsiting.config.schema import load_config
        from evsiting.config.checks import check_cli_numbers

        check_solver_option(solver)
        check_cli_numbers(time_limit, workers)
        cfgs = [load_config(c) for c in configs]
        echo_err(f"evsiting batch: {len(cfgs)} configs, executor {executor}")
        res = run_batch(cfgs, per_prefecture=not whole, out_base=out, executor=executor, workers=workers,
                        scheduler=scheduler, solver=solver, time_limit=time_limit, progress=echo_err)
        if whole:
            for o in res.outcomes:
                if o.ok:
                    t = o.summary["total"]
                    typer.echo(f"{o.run_name}: {t['nev_count']:,} NEVs, {t['stations']:,} stations, coverage {t['coverage_share']:.1%} -> {o.out_dir}")
        _print_batch(res)
