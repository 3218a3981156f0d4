"""``evsiting sensitivity``: which assumptions move the plan, and which sites are open in every run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evsiting.cli.common import SOLVER_HELP, check_solver_option, echo_err, handle_errors


def _target(cfg, prefecture: str | None, out: Path | None) -> Path:
    """The sensitivity folder: ``--out`` or ``<output_dir>/<run>-sensitivity`` (``<run>`` is
    ``<name>`` or ``<name>-<prefecture slug>``).

    Raises:
        InputError: an unknown prefecture, or a folder that cannot be written or replaced.
    """
    from evsiting.config.inputs import resolve_inputs
    from evsiting.study.areas import Prefectures
    from evsiting.io.points import check_output_folder
    from evsiting.io.writers import check_replaceable

    name, inputs = cfg.name, resolve_inputs(cfg)
    if prefecture is not None:
        chosen = Prefectures.from_csv(inputs.prefecture_population).select(cfg.prefectures, prefecture)
        name = f"{cfg.name}-{chosen[0].slug}"
    field = "--out" if out is not None else "output_dir"
    target = out if out is not None else inputs.output_dir / f"{name}-sensitivity"
    check_output_folder(target.parent, field, [target.name])
    check_replaceable(target, field)
    return target


def register(app: typer.Typer) -> None:
    """Add the ``sensitivity`` command to ``app``."""

    @app.command("sensitivity")
    @handle_errors
    def sensitivity_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/prefectures/anshun.yaml"),
        prefecture: Optional[str] = typer.Option(None, "--prefecture", "-p", help="Only this prefecture: English/pinyin, Chinese name or adcode"),
        parameters: Optional[str] = typer.Option(None, "--parameters", help="Comma-separated names to vary (parameters.csv names, "
                                                 "adoption_scenario, service_standard_min); default: every parameter with a low "
                                                 "and a high that the run reads, the adoption scenarios and the service standard"),
        workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (default: cores available; 1: one after another in this process)"),
        executor: str = typer.Option("local", "--executor", help="local (worker processes) or dask"),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786); default: a local Dask cluster"),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: <output_dir>/<run>-sensitivity)"),
        solver: Optional[str] = typer.Option(None, "--solver", help=SOLVER_HELP),
        time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Solver time limit per solve, seconds"),
    ) -> None:
        """Solve the plan again with each assumption at its low and at its high value (one at a
        time), the adoption scenarios and the service standard; write sensitivity.csv, a
        tornado chart, the share of the runs in which each candidate site is open
        (sites.geojson, stability.png), checks of the physics and report.html."""
        from evsiting.config.schema import load_config
        from evsiting.runs.sensitivity import run_sensitivity, sensitivity_manifest, write_sensitivity
        from evsiting.config.checks import check_cli_numbers
        from evsiting.runs.sensitivity import check_options

        check_solver_option(solver)
        check_cli_numbers(time_limit, workers)
        check_options(executor, workers, scheduler)
        names = None if parameters is None else [n.strip() for n in parameters.split(",") if n.strip()]
        if names is not None and not names:
            from evsiting.core.errors import InputError

            raise InputError("no parameter names given", field="--parameters")
        cfg = load_config(config)
        target = _target(cfg, prefecture, out)  # fail now, not after the solves
        echo_err(f"evsiting sensitivity {config}{f' -p {prefecture}' if prefecture else ''}: base instance and plan")
        sens = run_sensitivity(cfg, prefecture, names=names, executor=executor, workers=workers, scheduler=scheduler,
                               solver=solver, time_limit=time_limit, progress=echo_err)
        manifest = sensitivity_manifest(sens, prefecture, names)
        write_sensitivity(sens, target, manifest)
        t = sens.timings
        typer.echo(f"{len(sens.results)} variants: {t['variants_solved']} solved ({t['variants_failed']} failed), "
                   f"{t['reused']['base plan']} the base plan; mean solve {t['mean_solve']} s ({t['mean_solve_cpu']} s CPU); total {t['total']:,.0f} s")
        typer.echo(f"outputs: {target}/sensitivity.csv, tornado.png, sites.geojson, stability.png, report.html")
