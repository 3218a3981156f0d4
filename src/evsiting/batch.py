"""Many runs at once: the 9 prefectures of a config, or a sweep of scenario configs, on a
pool of local worker processes or on a Dask distributed cluster.

Each run is a :class:`Job` (a validated config, optionally one prefecture). A worker runs
:func:`evsiting.pipeline.run` into a private temporary folder and sends back the bytes of the
files it wrote; the caller writes them into ``<out_base>/<run-name>/`` atomically
(:func:`evsiting.outputs.atomic_dir`). So workers need the input data (``data:`` and
``shared:`` paths, i.e. the package and ``$EVSITING_SHARED_DIR``) but no shared file system
for the outputs, and the files are the same bytes whichever executor ran them.

A failing run (bad data, infeasible model, a crashed worker) becomes an :class:`Outcome`
with ``ok = False`` and its message; the other runs go on and their folders are written.

Executors:

- ``local``: :class:`concurrent.futures.ProcessPoolExecutor` with ``workers`` processes
  (default: the cores this process may use, ``os.sched_getaffinity``), started with
  ``spawn`` so that no solver or thread state is inherited. ``workers = 1`` runs the jobs one
  after another in this process.
- ``dask``: a :class:`dask.distributed.Client` connected to ``scheduler``
  (``tcp://host:8786``); without an address a :class:`dask.distributed.LocalCluster` of
  ``workers`` single-threaded worker processes is started and closed afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal

from .config import RunConfig
from .errors import EvsitingError, InputError
from .outputs import atomic_dir

Executor = Literal["local", "dask"]
EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class Job:
    """One pipeline run.

    Attributes:
        config: validated run config (its ``base_dir`` resolves relative paths on the worker).
        prefecture: one prefecture (English, Chinese or adcode) or None for the config's
            own study area.
        solver, time_limit: override ``config.solver`` (as ``evsiting run``).
    """

    config: RunConfig
    prefecture: str | None = None
    solver: str | None = None
    time_limit: float | None = None

    @property
    def label(self) -> str:
        """``<config name>`` or ``<config name>/<prefecture>`` for messages."""
        return self.config.name + (f"/{self.prefecture}" if self.prefecture else "")


@dataclass
class Outcome:
    """What one job produced.

    Attributes:
        job: the job.
        ok: the run finished and its files were returned.
        run_name: name of its output folder (``guizhou-zunyi``), None if it failed early.
        files: file name -> bytes (``sites.geojson``, ``demand.geojson``, ``summary.json``,
            ``manifest.json``).
        summary: the run's summary dict.
        error: one-line message when not ``ok``; ``error_type`` the exception class name.
        seconds: wall time on the worker.
        out_dir: where the files were written (set by :func:`run_jobs`).
    """

    job: Job
    ok: bool
    run_name: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    summary: dict | None = None
    error: str | None = None
    error_type: str | None = None
    seconds: float = 0.0
    out_dir: Path | None = None


def run_job(job: Job) -> Outcome:
    """Run one job in a private temporary folder and return its files (worker side).

    Never raises for a failed run: the exception becomes ``Outcome(ok=False, error=...)``
    (an :class:`~evsiting.errors.EvsitingError` as its message, anything else with its type
    and the last traceback line).
    """
    from .pipeline import run

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="evsiting-job-"))
    try:
        res = run(job.config, prefecture=job.prefecture, out_base=tmp, solver=job.solver, time_limit=job.time_limit)
        files = {p.name: p.read_bytes() for p in sorted(res.out_dir.iterdir()) if p.is_file()}
        return Outcome(job, True, res.out_dir.name, files, res.summary, seconds=time.perf_counter() - t0)
    except EvsitingError as exc:
        return Outcome(job, False, error=str(exc), error_type=type(exc).__name__, seconds=time.perf_counter() - t0)
    except Exception as exc:  # a bug or a library failure in one run must not stop the others
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        loc = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
        return Outcome(job, False, error=f"{type(exc).__name__}: {exc}{loc}", error_type=type(exc).__name__, seconds=time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def default_workers() -> int:
    """Cores this process may use (``os.sched_getaffinity``, else ``os.cpu_count``), >= 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _write(outcome: Outcome, out_base: Path) -> None:
    """Write a successful outcome's files into ``out_base/run_name`` atomically."""
    target = Path(out_base) / outcome.run_name
    with atomic_dir(target) as tmp:
        for name, data in outcome.files.items():
            (tmp / name).write_bytes(data)
    outcome.out_dir = target


def _failed(job: Job, exc: BaseException) -> Outcome:
    return Outcome(job, False, error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__)


def _iter_local(jobs: list[Job], workers: int) -> Iterable[tuple[int, Outcome]]:
    if workers == 1:
        for i, job in enumerate(jobs):
            yield i, run_job(job)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                yield i, fut.result()
            except Exception as exc:  # BrokenProcessPool: a worker died (out of memory, killed)
                yield i, _failed(jobs[i], exc)


def _iter_dask(jobs: list[Job], workers: int, scheduler: str | None) -> Iterable[tuple[int, Outcome]]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError:
        raise InputError("the dask executor needs dask[distributed] (pip install 'dask[distributed]')", field="--executor") from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise InputError(f"cannot connect to the Dask scheduler: {exc}", field="--scheduler") from None
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        with client:
            futures = [client.submit(run_job, job, pure=False) for job in jobs]
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in dask_completed(futures):
                i = index[fut.key]
                try:
                    yield i, fut.result()
                except Exception as exc:  # KilledWorker, lost connection
                    yield i, _failed(jobs[i], exc)
    finally:
        if cluster is not None:
            cluster.close()


def run_jobs(
    jobs: list[Job],
    out_base: Path | None = None,
    executor: Executor = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> list[Outcome]:
    """Run ``jobs`` in parallel and write each successful run's folder.

    Args:
        jobs: the runs.
        out_base: folder for the run folders; None = each job's ``config.output_dir``.
        executor: ``local`` (worker processes) or ``dask`` (distributed cluster).
        workers: worker processes (local, or a LocalCluster); default :func:`default_workers`.
        scheduler: Dask scheduler address (``tcp://host:8786``); only with ``dask``.
        progress: called with one line per finished job.

    Returns:
        One :class:`Outcome` per job, in the order of ``jobs`` (a folder is written as soon
        as its job finishes, so a later failure or interruption keeps it).

    Raises:
        InputError: unknown executor, bad ``workers``, ``scheduler`` without ``dask``, dask
            missing or the scheduler unreachable.
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor '{executor}'; expected local or dask", field="--executor")
    if workers is not None and workers < 1:
        raise InputError("must be at least 1", field="--workers")
    if scheduler and executor != "dask":
        raise InputError("a scheduler address needs --executor dask", field="--scheduler")
    workers = workers or default_workers()
    n_workers = min(workers, max(1, len(jobs)))
    it = _iter_dask(jobs, n_workers, scheduler) if executor == "dask" else _iter_local(jobs, n_workers)
    outcomes: list[Outcome | None] = [None] * len(jobs)
    done = 0
    for i, outcome in it:
        done += 1
        if outcome.ok:
            base = Path(out_base) if out_base is not None else jobs[i].config.path(jobs[i].config.output_dir)
            try:
                _write(outcome, base)
            except OSError as exc:
                outcome.ok, outcome.error, outcome.error_type = False, f"cannot write outputs: {exc}", type(exc).__name__
        outcome.files = {}  # written; don't keep the bytes
        state = f"ok in {outcome.seconds:.1f} s -> {outcome.out_dir}" if outcome.ok else f"FAILED: {outcome.error}"
        progress(f"[{done}/{len(jobs)}] {outcome.job.label}: {state}")
        outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


def prefecture_jobs(cfg: RunConfig, solver: str | None = None, time_limit: float | None = None) -> list[Job]:
    """One job per prefecture of ``cfg``'s study area (all 9 when ``prefectures: all``),
    in adcode order.

    Raises:
        InputError: the prefecture table is missing or a configured name is unknown.
    """
    from .areas import Prefectures

    prefs = Prefectures.from_csv(cfg.path(cfg.data.prefecture_population))
    chosen = prefs.select(cfg.prefectures)
    return [Job(cfg, p.name_en, solver, time_limit) for p in chosen]


@dataclass
class BatchResult:
    """Outcomes of :func:`run_batch` and the province roll-ups it wrote.

    Attributes:
        outcomes: one per job, in submission order.
        rollups: config name -> (roll-up folder, province summary dict), for configs run per
            prefecture with at least one successful prefecture.
        scenarios_csv: with several configs, ``scenarios_summary.csv`` (one row per config's
            roll-up totals) in the output folder (of the first config when ``out_base`` is None).
    """

    outcomes: list[Outcome]
    rollups: dict[str, tuple[Path, dict]] = field(default_factory=dict)
    scenarios_csv: Path | None = None

    @property
    def failed(self) -> list[Outcome]:
        """The outcomes that failed."""
        return [o for o in self.outcomes if not o.ok]


def rollup_dir_name(cfg: RunConfig) -> str:
    """Folder of a config's province roll-up: ``<name>-province``."""
    return f"{cfg.name}-province"


def run_batch(
    configs: list[RunConfig],
    per_prefecture: bool = True,
    out_base: Path | None = None,
    executor: Executor = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    solver: str | None = None,
    time_limit: float | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> BatchResult:
    """Run every config (a scenario sweep, or one config), each per prefecture or whole,
    all jobs on one executor, then write a province roll-up per config run per prefecture.

    Args:
        configs: validated configs; their ``name`` must differ (they name the folders).
        per_prefecture: one run per prefecture of each config (``--prefecture all``) plus a
            roll-up in ``<out>/<name>-province/`` (:mod:`evsiting.rollup`); False: one run
            per config over its own study area.
        out_base, executor, workers, scheduler, progress: as :func:`run_jobs`.
        solver, time_limit: override each config's solver settings.

    Returns:
        :class:`BatchResult`. A roll-up whose prefectures did not all succeed is written
        with ``complete: false`` and the failed prefectures under ``missing``.

    Raises:
        InputError: duplicate config names, an unknown prefecture in a config, or as
            :func:`run_jobs`.
    """
    from .params import load_parameters
    from .rollup import write_rollup

    names = [c.name for c in configs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"several configs are named {', '.join(dup)}; names must differ (they name the output folders)", field="name")
    jobs: list[Job] = []
    owner: list[int] = []  # config index of each job (outcomes come back as copies)
    for k, cfg in enumerate(configs):
        mine = prefecture_jobs(cfg, solver, time_limit) if per_prefecture else [Job(cfg, None, solver, time_limit)]
        jobs += mine
        owner += [k] * len(mine)
    outcomes = run_jobs(jobs, out_base, executor, workers, scheduler, progress)
    result = BatchResult(outcomes)
    if not per_prefecture:
        return result
    for k, cfg in enumerate(configs):
        mine = [o for o, c in zip(outcomes, owner) if c == k]
        ok = [o for o in mine if o.ok]
        if not ok:
            continue
        params = load_parameters(cfg.path(cfg.data.parameters)).with_overrides(cfg.parameters, "config parameters", cfg.source)
        base = Path(out_base) if out_base is not None else cfg.path(cfg.output_dir)
        target = base / rollup_dir_name(cfg)
        summary = write_rollup([o.out_dir for o in ok], target, params.value("fleet_nev_stock_target"), cfg.fleet.target_year,
                               missing=[o.job.prefecture for o in mine if not o.ok])
        progress(f"roll-up of {cfg.name}: {target}")
        result.rollups[cfg.name] = (target, summary)
    if len(configs) > 1 and result.rollups:
        first = configs[0]
        base = Path(out_base) if out_base is not None else first.path(first.output_dir)
        result.scenarios_csv = write_scenarios_csv(result.rollups, base / "scenarios_summary.csv")
        progress(f"scenarios: {result.scenarios_csv}")
    return result


SCENARIO_COLUMNS = ("config", "year", "scenario", "complete", "nev_target", "target_year", "nev_total", "share_of_target",
                    "stations", "ports_dc", "ports_ac", "power_kw", "coverage_share", "nev_per_public_charger", "unserved_energy_kwh_day")


def write_scenarios_csv(rollups: dict[str, tuple[Path, dict]], path: Path) -> Path:
    """One row per config of a sweep from its province roll-up (totals), in config-name
    order: ``scenarios_summary.csv`` for comparing scenarios (written atomically)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SCENARIO_COLUMNS, lineterminator="\n")
    w.writeheader()
    for name in sorted(rollups):
        s = rollups[name][1]
        t, g = s["total"], s["target"]
        row = {"config": name, "year": s["year"], "scenario": s["scenario"], "complete": s["complete"], **g, **t}
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in SCENARIO_COLUMNS})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return path
