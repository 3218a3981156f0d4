"""``evsiting sweep`` (trade-off curves) and ``evsiting compare`` (scenarios side by side)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import SOLVER_HELP, check_solver_option, echo_err, handle_errors, options_text


def sweep_warning_lines(df, kind: str) -> list[str]:
    """The sweep's warnings, each once on one line: rows with the same warning (up to its
    leading count) share a line that lists the values, with their counts where they differ."""
    import re

    groups: dict[str, list[tuple[float, str | None]]] = {}
    for v, w in zip(df["value"], df["warnings"]):
        for line in (w.split("; ") if isinstance(w, str) and w else []):
            m = re.match(r"^([\d,]+) (.*)$", line)
            key, n = (m.group(2), m.group(1)) if m else (line, None)
            groups.setdefault(key, []).append((v, n))
    name = "p" if kind == "p" else "budget"
    out = []
    for key, rows in groups.items():
        if all(n is None for _, n in rows) or len({n for _, n in rows}) == 1:
            head = "" if rows[0][1] is None else f"{rows[0][1]} "
            out.append(f"{name} = {', '.join(f'{v:g}' for v, _ in rows)}: {head}{key}")
        else:
            out.append(f"{key[:1].upper()}{key[1:]} (count by {name}: {', '.join(f'{v:g}: {n}' for v, n in rows)})")
    return out


def register(app: typer.Typer) -> None:
    """Add the ``sweep`` and ``compare`` commands to ``app``."""

    @app.command("sweep")
    @handle_errors
    def sweep_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/prefectures/anshun.yaml"),
        p: Optional[str] = typer.Option(None, "--stations", "--p", help="Numbers of stations p (MCLP): START:STOP:STEP (e.g. 10:200:10) or a list 10,20,50; --p is the old name"),
        budget: Optional[str] = typer.Option(None, "--budget", help="Budgets in CNY: START:STOP:STEP or a list (e.g. 5e7:5e8:5e7)"),
        prefecture: Optional[str] = typer.Option(None, "--prefecture", "-p", help="Only this prefecture: English/pinyin, Chinese name or adcode"),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: <output_dir>/<run>-sweep-p or -sweep-budget)"),
        solver: Optional[str] = typer.Option(None, "--solver", help=SOLVER_HELP),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Solver time limit per value, seconds"),
    ) -> None:
        """Solve for each number of stations (--stations, MCLP) or budget (--budget, the
        capacitated model) and write tradeoff.csv and tradeoff.png: coverage share and cost
        against the swept value."""
        from evsiting.runs import sweep
        from evsiting.config.schema import load_config
        from evsiting.core.errors import InputError

        if (p is None) == (budget is None):
            raise InputError("give exactly one of --stations (--p) and --budget", field="--stations")
        check_solver_option(solver)
        if time_limit is not None and not 0 < time_limit < float("inf"):
            raise InputError(f"must be a finite number of seconds above 0, got {time_limit:g}", field="--time-limit")
        kind = "p" if p is not None else "budget"
        values = sweep.parse_values(p, integer=True, option="--stations") if kind == "p" else sweep.parse_values(budget, option="--budget")
        from evsiting.config.inputs import resolve_inputs
        from evsiting.io.points import check_output_folder

        cfg = load_config(config)
        if out is not None:  # fail now, not after the long stages
            check_output_folder(out.parent, "--out")
        else:
            check_output_folder(resolve_inputs(cfg).output_dir, "output_dir")
        option = "--stations" if kind == "p" else "--budget"
        echo_err(f"evsiting sweep {config} {option} {p or budget}" + options_text(prefecture=prefecture, out=out, solver=solver, time_limit=time_limit)
                 + ": preparing demand, candidates and travel times")
        df, target, inp = sweep.run_sweep(cfg, kind, values, prefecture=prefecture, out=out, solver=solver,
                                     time_limit=time_limit, progress=echo_err)
        cols = ["value", "stations", "ports_dc", "ports_ac", "coverage_share", "cost_cny", "status"]
        cols += [c for c in ("stations_over_site_max",) if c in df.columns]
        if kind == "budget":  # what the budget model maximises: the public energy served
            cols.insert(cols.index("coverage_share"), "energy_served_kwh_day")
        show = df[cols].copy()
        if kind == "budget":
            show["value"] = show["value"].map(lambda v: f"{v / 1e6:,.1f} M")
            share = df["energy_served_kwh_day"] / df["energy_kwh_day"].where(df["energy_kwh_day"] > 0)
            show["energy_served_kwh_day"] = share.map(lambda v: f"{v:.1%}")
        show["coverage_share"] = show["coverage_share"].map(lambda v: f"{v:.1%}")
        show["cost_cny"] = show["cost_cny"].map(lambda v: f"{v / 1e6:,.1f} M")
        show = show.rename(columns={"value": "budget CNY" if kind == "budget" else kind, "stations_over_site_max": "over max",
                                    "energy_served_kwh_day": "energy served", "coverage_share": "NEVs covered",
                                    "cost_cny": "cost CNY"})
        typer.echo(show.to_string(index=False))
        for f in inp.files:  # the data files' warnings (a candidate file's dropped rows ...), once
            for line in f.get("warnings", []):
                typer.echo(line if line.startswith("warning: ") else f"warning: {line}")
        if "warnings" in df.columns:
            for line in sweep_warning_lines(df, kind):
                typer.echo(f"warning: {line}")
        typer.echo(f"outputs: {target}/tradeoff.csv, tradeoff.png")

    @app.command("compare")
    @handle_errors
    def compare_cmd(
        run_dirs: List[Path] = typer.Argument(..., help="Run folders written by 'evsiting run'"),
        out: Path = typer.Option(Path("."), "--out", help="Folder for comparison.csv, comparison.png, map.png and report.html"),
        label: Optional[List[str]] = typer.Option(None, "--label", help="Column label per run folder (repeat; default: folder names)"),
    ) -> None:
        """Print and write a table of scenarios side by side (stations, ports, coverage,
        cost, NEVs per charger, unserved energy), a bar chart with a panel for each, a map per
        run and a self-contained report.html."""
        from evsiting.runs.compare import compare_runs, format_table, write_comparison

        df = compare_runs(run_dirs, label or None)
        typer.echo(format_table(df))
        csv, png = write_comparison(df, out, run_dirs=list(run_dirs))
        typer.echo(f"outputs: {csv}, {png}, {out / 'map.png'}, {out / 'report.html'}")
