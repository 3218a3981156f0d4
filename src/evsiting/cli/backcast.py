"""``evsiting validate backcast CONFIG``: the run checked against Guizhou's past charging network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evsiting.cli.common import SOLVER_HELP, check_solver_option, echo_err, handle_errors, options_text


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command group to ``app``."""
    group = typer.Typer(help="Check the model against observed charging figures.", no_args_is_help=True)
    app.add_typer(group, name="validate")

    @group.command("backcast")
    @handle_errors
    def backcast_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/guizhou.yaml"),
        prefecture: Optional[str] = typer.Option(None, "--prefecture", "-p", help="Only this prefecture: English/pinyin, Chinese name or adcode"),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for the back-cast folder (default: the config's output_dir)"),
        years: str = typer.Option("2021,2023", "--years", help="Comma-separated years (default 2021,2023)"),
        solver: Optional[str] = typer.Option(None, "--solver", help=SOLVER_HELP),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Solver time limit per year, seconds"),
    ) -> None:
        """The same pipeline for Guizhou's 2021 and 2023 fleets, beside the piles counted or planned then.

        2021: 79,000 EVs (observed) against 26,000 public piles; 2023: the projected fleet against
        the 38,000 piles and 1.6 GW of the 2021-2023 plan. Writes backcast.csv, backcast.json,
        backcast.png and report.html."""
        from evsiting.config.inputs import resolve_inputs
        from evsiting.config.schema import load_config
        from evsiting.core.errors import InputError
        from evsiting.io.points import check_output_folder
        from evsiting.io.writers import atomic_dir, check_replaceable, write_json
        from evsiting.study.areas import Prefectures
        from evsiting.runs.backcast import backcast, backcast_chart, backcast_report
        from evsiting.report.reality import render_backcast

        check_solver_option(solver)
        if time_limit is not None and not 0 < time_limit < float("inf"):
            raise InputError(f"must be a finite number of seconds above 0, got {time_limit:g}", field="--time-limit")
        try:
            yrs = tuple(int(y) for y in years.split(",") if y.strip())
        except ValueError:
            raise InputError(f"expected years like 2021,2023, got {years!r}", field="--years") from None
        if not yrs:
            raise InputError("no years given", field="--years")
        cfg = load_config(config)
        inputs = resolve_inputs(cfg)
        base = Path(out or inputs.output_dir)
        field = "--out" if out else "output_dir"
        check_output_folder(base, field)
        prefs = Prefectures.from_csv(inputs.prefecture_population)
        slug = "" if prefecture is None else f"-{prefs.select(cfg.prefectures, prefecture)[0].slug}"
        target = base / f"{cfg.name}{slug}-backcast"
        check_replaceable(target, field)
        echo_err(f"evsiting validate backcast {config}" + options_text(prefecture=prefecture, out=out, years=years if years != "2021,2023" else None,
                                                                       solver=solver, time_limit=time_limit))
        res = backcast(cfg, yrs, prefecture=prefecture, solver=solver, time_limit=time_limit, progress=echo_err)
        table = res["table"]
        title = f"{target.name}: back-cast {', '.join(map(str, yrs))}"
        chart = backcast_chart(table, title) if not table.empty else None
        with atomic_dir(target) as tmp:
            if chart is not None:
                (tmp / "backcast.png").write_bytes(chart)
                (tmp / "report.html").write_text(backcast_report(table, res["runs"], title, chart), encoding="utf-8")
            table.to_csv(tmp / "backcast.csv", index=False, lineterminator="\n")
            write_json({"config": cfg.name, "prefecture": prefecture, "years": list(yrs),
                        "comparisons": table.to_dict(orient="records"), "runs": res["runs"]}, tmp / "backcast.json")
        typer.echo("\n" + render_backcast(table))
        typer.echo(f"outputs: {target}")
