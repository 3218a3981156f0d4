"""``evsiting run CONFIG``: the province or prefecture siting run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import echo_err, handle_errors


def _print_summary(res) -> None:
    s = res.summary
    tot = s["total"]
    typer.echo(f"\n{s['run']}: {s['year']}, MCLP with p = {s['p']} stations, {s['service_standard_min']:g}-min service standard")
    typer.echo(f"{'':14}{'NEVs':>9}{'stations':>10}{'DC ports':>10}{'AC ports':>10}{'coverage':>10}{'NEV/charger':>13}")
    rows = s["prefectures"] + [{"name_en": "Total", **tot}]
    for r in rows:
        ratio = "-" if r["nev_per_public_charger"] is None else f"{r['nev_per_public_charger']:.1f}"
        typer.echo(
            f"{r['name_en']:<14}{r['nev_count']:>9,}{r['stations']:>10,}{r['ports_dc']:>10,}{r['ports_ac']:>10,}"
            f"{r['coverage_share']:>10.1%}{ratio:>13}"
        )
    m = res.manifest["solver"]
    typer.echo(f"solver {m['name']}: {m['status']}, objective {m['objective']:.6g}, gap {m['gap']:.3g}, {m['runtime_s']:.1f} s")
    if res.out_dir:
        typer.echo(f"outputs: {res.out_dir}")


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to ``app``."""

    @app.command("run")
    @handle_errors
    def run_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/guizhou.yaml"),
        prefecture: Optional[str] = typer.Option(None, "--prefecture", "-p", help="Only this prefecture: English/pinyin, Chinese name or adcode"),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for run folders (default: the config's output_dir)"),
        solver: Optional[str] = typer.Option(None, "--solver", help="cbc or highs (default: the config's)"),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Solver time limit, seconds"),
    ) -> None:
        """Size and place chargers for the config's study area and write GeoJSON outputs."""
        from ..config import load_config
        from ..errors import InputError
        from ..pipeline import run

        if solver is not None and solver not in ("cbc", "highs"):
            raise InputError(f"unknown solver '{solver}'; expected cbc or highs", field="--solver")
        if time_limit is not None and time_limit <= 0:
            raise InputError("must be positive", field="--time-limit")
        cfg = load_config(config)
        echo_err(f"evsiting run {config}" + (f" --prefecture {prefecture}" if prefecture else ""))
        res = run(cfg, prefecture=prefecture, out_base=out, solver=solver, time_limit=time_limit, progress=echo_err)
        _print_summary(res)
