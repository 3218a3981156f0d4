"""``evsiting corridors CONFIG --stations N --range-km R``: intercity corridor stations (FRLM)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import SOLVER_HELP, check_solver_option, echo_err, handle_errors


def register(app: typer.Typer) -> None:
    """Add the ``corridors`` command to ``app``."""

    @app.command("corridors")
    @handle_errors
    def corridors_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML); its 'corridors' section gives the defaults"),
        p: Optional[int] = typer.Option(None, "--stations", "--p", help="Corridor stations to open (default: corridors.p); --p is the old name"),
        range_km: Optional[float] = typer.Option(None, "--range-km", help="Vehicle range, km (default: corridors.range_km or parameter corridor_range_km)"),
        level: Optional[str] = typer.Option(None, "--level", help="prefecture (9 seats) or county (88 seats)"),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for the run folder (default: the config's output_dir)"),
        solver: Optional[str] = typer.Option(None, "--solver", help=SOLVER_HELP),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Solver time limit, seconds"),
    ) -> None:
        """Choose corridor charging stations on the expressways so the most intercity round
        trips (gravity flows between seats) can be driven with the given range (FRLM)."""
        from evsiting.config.schema import load_config
        from evsiting.runs.corridors import run_corridors
        from evsiting.core.errors import InputError

        if p is not None and p < 0:
            raise InputError("must be a non-negative integer", field="--stations")
        if range_km is not None and not 0 < range_km < float("inf"):
            raise InputError("must be a positive number of km", field="--range-km")
        if time_limit is not None and not 0 < time_limit < float("inf"):
            raise InputError(f"must be a finite number of seconds above 0, got {time_limit:g}", field="--time-limit")
        check_solver_option(solver)
        cfg = load_config(config)
        echo_err(f"evsiting corridors {config}")
        res = run_corridors(cfg, p=p, range_km=range_km, level=level, out_base=out, solver=solver, time_limit=time_limit, progress=echo_err)
        s = res.summary
        typer.echo(f"\n{s['run']}: {s['seats']} {s['level']} seats, {s['pairs']} pairs ({s['pairs_reachable']} reachable), "
                   f"{s['candidates']} candidate sites, range {s['range_km']:g} km, beta {s['beta']:g}")
        typer.echo(f"p = {s['p']}: covered flow {s['covered_flow_share']:.1%} (exact, {s['solver']['status']}), "
                   f"{s['covered_flow_share_greedy']:.1%} (greedy), {s['covered_flow_share_all_open']:.1%} with every candidate open; "
                   f"{s['pairs_refuelable']} pairs refuelable")
        if res.out_dir:
            typer.echo(f"outputs: {res.out_dir}")
