"""Many runs at once: the 9 prefectures of a config, or a sweep of scenario configs, on a
pool of local worker processes or on a Dask distributed cluster.

Each run is a :class:`Job` (a validated config, optionally one prefecture). A worker runs
:func:`evsiting.runs.run.run` into a private temporary folder and sends back the bytes of the
files it wrote; the caller writes them into ``<out_base>/<run-name>/`` atomically
(:func:`evsiting.io.writers.atomic_dir`). So workers need the input data (``data:`` and
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

import contextlib
import os
import signal
import shutil
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal

from evsiting.config.schema import RunConfig
from evsiting.core.errors import EvsitingError, InputError, blames_config
from evsiting.io.writers import atomic_dir

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
    #: name of the run's output folder when known before the run (``<name>-<slug>``)
    run_name: str | None = None

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
    (an :class:`~evsiting.core.errors.EvsitingError` as its message, anything else with its type
    and the last traceback line).
    """
    from evsiting.runs.run import run

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


class Staging:
    """Outputs of a batch held back until every run has finished: each is written into a
    hidden folder ``.evsiting-batch-<pid>-*`` inside its output folder (same file system, so
    :func:`evsiting.io.writers.commit` moves it in place with renames), then all are committed at
    once, or discarded (an error, Ctrl-C) leaving the previous outputs as they were.

    A batch killed outright leaves its staging folder, which the next batch in that output
    folder removes (:meth:`sweep`).
    """

    PREFIX = ".evsiting-batch-"

    def __init__(self) -> None:
        self.dirs: dict[Path, Path] = {}      # output folder -> its staging folder
        self.created: list[Path] = []         # output folders that did not exist before
        self.pairs: list[tuple[Path, Path]] = []

    @classmethod
    def sweep(cls, base: Path) -> None:
        """Remove the staging folders in ``base`` of batches whose process is gone."""
        from evsiting.io.writers import _pid_alive

        base = Path(base)
        if not base.is_dir():
            return
        for p in base.glob(f"{cls.PREFIX}*"):
            pid = p.name[len(cls.PREFIX):].split("-", 1)[0]
            if p.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)

    def path(self, target: Path) -> Path:
        """Where to write what goes to ``target`` (a folder or a file) at commit."""
        target = Path(target)
        base = target.parent
        if base not in self.dirs:
            missing = [q for q in [base, *base.parents] if not q.exists()]
            base.mkdir(parents=True, exist_ok=True)
            self.created += missing
            self.sweep(base)
            self.dirs[base] = Path(tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-", dir=base))
        staged = self.dirs[base] / target.name
        self.pairs.append((staged, target))
        return staged

    def commit(self) -> list[Path]:
        """Move every staged output in place (:func:`evsiting.io.writers.commit`); returns the
        targets written."""
        from evsiting.io.writers import commit

        written = commit([(st, t) for st, t in self.pairs if st.exists()])
        self.created = []  # they hold outputs now
        return written

    def discard(self) -> None:
        """Remove the staging folders (and the output folders this batch created, when empty)."""
        for d in self.dirs.values():
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = {}
        for q in self.created:  # deepest first
            try:
                q.rmdir()
            except OSError:
                pass
        self.created = []


def _write(outcome: Outcome, out_base: Path, staging: Staging | None = None) -> None:
    """Write a successful outcome's files into ``out_base/run_name``: atomically, or into
    ``staging`` until :meth:`Staging.commit` (``outcome.out_dir`` is then the staged folder)."""
    target = Path(out_base) / outcome.run_name
    if staging is not None:
        folder = staging.path(target)
        folder.mkdir()
        for name, data in outcome.files.items():
            (folder / name).write_bytes(data)
        outcome.out_dir = folder
        return
    with atomic_dir(target) as tmp:
        for name, data in outcome.files.items():
            (tmp / name).write_bytes(data)
    outcome.out_dir = target


def _failed(job: Job, exc: BaseException) -> Outcome:
    return Outcome(job, False, error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__)


def _worker_init() -> None:
    """In each worker process: Ctrl-C (sent by the terminal to the whole process group) is
    the parent's to handle, so workers ignore it (no traceback per worker); SIGTERM, which the
    parent sends to stop them, ends a worker at once after stopping its CBC process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stop)


def _worker_stop(signum, frame) -> None:  # pragma: no cover - runs in a worker process
    try:
        from evsiting.models._core import stop_solver_processes

        stop_solver_processes(timeout=2.0)
    finally:
        os._exit(128 + signum)


def _iter_local(jobs: list, workers: int, fn: Callable = run_job) -> Iterable[tuple[int, object]]:
    """``(index, fn(job))`` as the jobs finish, on ``workers`` spawned processes (``fn`` a
    module-level function, so a worker can import it; :func:`run_job` by default)."""
    if workers == 1:
        for i, job in enumerate(jobs):
            yield i, fn(job)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
    try:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                yield i, fut.result()
            except Exception as exc:  # BrokenProcessPool: a worker died (out of memory, killed)
                yield i, _failed(jobs[i], exc)
    except BaseException:  # Ctrl-C, SIGTERM, an error writing: stop the workers now, not after their runs
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _iter_dask(jobs: list, workers: int, scheduler: str | None, fn: Callable = run_job) -> Iterable[tuple[int, object]]:
    """As :func:`_iter_local` on a Dask cluster (``scheduler``, or a LocalCluster of ``workers``)."""
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
            futures = [client.submit(fn, job, pure=False) for job in jobs]
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


def map_jobs(jobs: list, fn: Callable, executor: Executor = "local", workers: int | None = None,
             scheduler: str | None = None) -> Iterable[tuple[int, object]]:
    """``(index, fn(job))`` for each of ``jobs`` as they finish, on the batch executors (worker
    processes or Dask; ``workers = 1`` runs them in this process, in order). ``fn`` must be a
    module-level function; a worker that dies yields an :class:`Outcome` with ``ok = False``
    instead of ``fn``'s result.

    Raises:
        InputError: unknown executor, ``workers`` below 1, ``scheduler`` without ``dask``, dask
            missing or the scheduler unreachable.
    """
    _check_executor(executor, workers, scheduler)
    n = min(workers or default_workers(), max(1, len(jobs)))
    return _iter_dask(jobs, n, scheduler, fn) if executor == "dask" else _iter_local(jobs, n, fn)


def _check_executor(executor: str, workers: int | None, scheduler: str | None) -> None:
    """The executor options of a batch: a known executor, at least 1 worker, a scheduler only
    with Dask.

    Raises:
        InputError: naming ``--executor``, ``--workers`` or ``--scheduler``.
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor '{executor}'; expected local or dask", field="--executor")
    if workers is not None and workers < 1:
        raise InputError("must be at least 1", field="--workers")
    if scheduler and executor != "dask":
        raise InputError("a scheduler address needs --executor dask", field="--scheduler")


def run_jobs(
    jobs: list[Job],
    out_base: Path | None = None,
    executor: Executor = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    *, progress: Callable[[str], None] = lambda msg: None,
    staging: Staging | None = None,
) -> list[Outcome]:
    """Run ``jobs`` in parallel and write each successful run's folder (into ``staging`` when
    given, to be committed by the caller once all have finished).

    Args:
        jobs: the runs.
        out_base: folder for the run folders; None = each job's ``config.output_dir``.
        executor: ``local`` (worker processes) or ``dask`` (distributed cluster).
        workers: worker processes (local, or a LocalCluster); default :func:`default_workers`.
        scheduler: Dask scheduler address (``tcp://host:8786``); only with ``dask``.
        progress: called with one line per finished job.

        staging: hold the folders back (:class:`Staging`); None: write each atomically as
            soon as its job finishes.

    Returns:
        One :class:`Outcome` per job, in the order of ``jobs``.

    Raises:
        InputError: unknown executor, bad ``workers``, ``scheduler`` without ``dask``, dask
            missing or the scheduler unreachable.
    """
    _check_executor(executor, workers, scheduler)
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
                _write(outcome, base, staging)
            except OSError as exc:
                outcome.ok, outcome.error, outcome.error_type = False, f"cannot write outputs: {exc}", type(exc).__name__
        outcome.files = {}  # written; don't keep the bytes
        where = "held until every run has finished" if staging is not None else f"-> {outcome.out_dir}"
        state = f"ok in {outcome.seconds:.1f} s, {where}" if outcome.ok else f"FAILED: {outcome.error}"
        progress(f"[{done}/{len(jobs)}] {outcome.job.label}: {state}")
        outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


@blames_config
def prefecture_jobs(cfg: RunConfig, solver: str | None = None, time_limit: float | None = None) -> list[Job]:
    """One job per prefecture of ``cfg``'s study area (all 9 when ``prefectures: all``),
    in adcode order.

    Raises:
        InputError: the prefecture table is missing or a configured name is unknown.
    """
    from evsiting.config.inputs import resolve_inputs
    from evsiting.study.areas import Prefectures

    prefs = Prefectures.from_csv(resolve_inputs(cfg).prefecture_population)
    chosen = prefs.select(cfg.prefectures)
    return [Job(cfg, p.name_en, solver, time_limit, f"{cfg.name}-{p.slug}") for p in chosen]


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
    *, scheduler: str | None = None,
    solver: str | None = None,
    time_limit: float | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> BatchResult:
    """Run every config (a scenario sweep, or one config), each per prefecture or whole,
    all jobs on one executor, then write a province roll-up per config run per prefecture.

    Args:
        configs: validated configs; their ``name`` must differ (they name the folders).
        per_prefecture: one run per prefecture of each config (``--prefecture all``) plus a
            roll-up in ``<out>/<name>-province/`` (:mod:`evsiting.runs.rollup`); False: one run
            per config over its own study area.
        out_base, executor, workers, scheduler, progress: as :func:`run_jobs`.
        solver, time_limit: override each config's solver settings.

    Every config passes the validation layer and every folder to be replaced is checked
    before any run. The folders are then written only once every run has finished, all at
    once (:class:`Staging`, :func:`evsiting.io.writers.commit`): an error or Ctrl-C before that
    leaves the previous prefecture folders, roll-ups and ``scenarios_summary.csv`` byte for
    byte as they were, so a roll-up always describes the folders beside it.

    Returns:
        :class:`BatchResult`. A roll-up whose prefectures did not all succeed is written
        with ``complete: false`` and the failed prefectures under ``missing`` (their previous
        folders, if any, are kept and not part of the roll-up).

    Raises:
        InputError: duplicate config names, an unknown prefecture in a config, a bad input of
            the validation layer, a folder that is not an earlier output, or as :func:`run_jobs`.
        KeyboardInterrupt: Ctrl-C/SIGTERM; nothing was written (the workers are stopped).
    """
    from evsiting.io.writers import check_replaceable
    from evsiting.config.checks import check_output
    from evsiting.runs.rollup import write_rollup
    from evsiting.stages.context import checked_inputs

    names = [c.name for c in configs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"several configs are named {', '.join(dup)}; names must differ (they name the output folders)", field="name")
    field_ = "--out" if out_base is not None else "output_dir"
    jobs: list[Job] = []
    owner: list[int] = []  # config index of each job (outcomes come back as copies)
    checked = []  # each config's checked files and parameters
    for k, cfg in enumerate(configs):
        # the validation layer, and every folder this batch will replace, before any run
        checked.append(checked_inputs(cfg, out_base))
        base = checked[-1].base
        mine = prefecture_jobs(cfg, solver, time_limit) if per_prefecture else [Job(cfg, None, solver, time_limit, cfg.name)]
        targets = [j.run_name for j in mine] + ([rollup_dir_name(cfg)] if per_prefecture else [])
        check_output(base, field_, targets)
        for name in targets:
            check_replaceable(base / name, field_)
        jobs += mine
        owner += [k] * len(mine)
    staging = Staging()
    try:
        outcomes = run_jobs(jobs, out_base, executor, workers, scheduler, progress=progress, staging=staging)
        result = BatchResult(outcomes)
        rollups: dict[str, tuple[Path, dict]] = {}
        if per_prefecture:
            for k, cfg in enumerate(configs):
                mine = [o for o, c in zip(outcomes, owner) if c == k]
                ok = [o for o in mine if o.ok]
                if not ok:
                    continue
                params = checked[k].params
                target = _base(cfg, out_base) / rollup_dir_name(cfg)
                summary = write_rollup([o.out_dir for o in ok], staging.path(target), params.value("fleet_nev_stock_target"),
                                       cfg.fleet.target_year, missing=[o.job.prefecture for o in mine if not o.ok])
                rollups[cfg.name] = (target, summary)
            if len(configs) > 1 and rollups:
                csv_path = _base(configs[0], out_base) / "scenarios_summary.csv"
                write_scenarios_csv(rollups, staging.path(csv_path))
                result.scenarios_csv = csv_path
        written = staging.commit()  # every folder at once, only now
    finally:
        staging.discard()
    for o in outcomes:  # the staged folders are in place now
        if o.ok:
            o.out_dir = _base(o.job.config, out_base) / o.run_name
    result.rollups = rollups
    kept = [f"{o.job.label}" for o in outcomes if not o.ok]
    by_base: dict[Path, list[str]] = {}
    for w in written:
        by_base.setdefault(w.parent, []).append(w.name)
    for base, names_ in by_base.items():
        progress(f"wrote {len(names_)} output(s) in {base}, all at once after the last run, each replacing its previous "
                 f"version: {', '.join(names_)}")
    if kept:
        progress(f"not written (the run failed; any previous folder is kept and is not in the roll-up): {', '.join(kept)}")
    return result


def _base(cfg: RunConfig, out_base: Path | None) -> Path:
    """The folder holding ``cfg``'s run folders: ``out_base`` or the config's ``output_dir``."""
    from evsiting.stages.context import output_base

    return output_base(cfg, out_base)[0]


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
