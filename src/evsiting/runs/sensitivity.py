"""One-at-a-time sensitivity of a plan (issue #21): which assumptions move the answer, and which
candidate sites are open whatever the assumptions.

Every parameter of ``data/parameters.csv`` with a ``low`` and a ``high`` that the run reads is
set to its low and then its high value, the others kept at their values (one-at-a-time), and the
plan is solved again; so are the adoption scenarios (``demand.scenario`` low/high: the ``low``/
``high`` column of ``fleet.scenario_parameters`` together, :mod:`evsiting.demand.fleet`) and the
service standard (row ``service_standard_min``: the config's standard is the base, the row's
low/high the range).

Reuse. The base run records which stage first reads each parameter (:class:`RunPipeline`): a
parameter read by the demand or candidate stage rebuilds demand and candidates; one read by
the travel-time stage recomputes the travel times (the demand of the base is kept); one read
only by the model or the sizing keeps both. Travel times are also kept when a rebuilt demand
has the same demand points, NEVs and candidate sites as the base (an energy parameter such as
kWh/km changes the energy of the cells, not where the NEVs are). A side whose value equals the
base value is not solved again (it is the base plan). The capacitated model takes no start
plan from outside, so each solve starts from the model's own LP-rounded incumbent
(:mod:`evsiting.models.capacitated`), not from the base plan.

Outputs (``<output_dir>/<run>-sensitivity/``, written atomically once every solve finished):
``sensitivity.csv`` (one row per solve, :data:`CSV_COLUMNS`), ``tornado.png``, ``sites.geojson``
(every candidate site with ``open_share``, ``runs_open``, ``ports_min``, ``ports_max``),
``stability.png``, ``report.html`` (self-contained) and ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import math
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from evsiting.config import RunConfig, config_from_dict
from evsiting.errors import EvsitingError, InputError
from evsiting.params import Parameters

#: Pseudo-parameters varied besides the rows of parameters.csv.
SCENARIO = "adoption_scenario"
STANDARD = "service_standard_min"
#: Columns of ``sensitivity.csv`` (no solve times: the same input gives the same bytes).
CSV_COLUMNS = ["parameter", "side", "value", "base_value", "unit", "kind", "stations", "ports_dc", "ports_ac",
               "capital_cny", "served_share", "nev_per_port", "status", "gap", "reused", "error"]
#: The reuse class of each pipeline stage that first reads a parameter.
STAGE_KIND = {"study": "study", "demand": "demand", "candidates": "demand", "travel": "travel", "model": "model",
              "sizing": "model"}
KIND_TEXT = {"study": "study data and demand", "demand": "demand and candidates", "travel": "travel times",
             "model": "sizing and costs only", "scenario": "demand (adoption scenario)", "standard": "travel times and model",
             "base": "base"}


@dataclass(frozen=True)
class Variant:
    """One solve of the sensitivity.

    Attributes:
        parameter: a parameters.csv name, :data:`SCENARIO`, :data:`STANDARD` or ``base``.
        side: ``low``, ``high`` or ``base``.
        value: the value solved (the parameter's unit; minutes for the standard; the scenario
            name for :data:`SCENARIO`).
        kind: reuse class: ``study``, ``demand``, ``travel``, ``model``, ``scenario``,
            ``standard`` or ``base`` (what must be rebuilt, see the module doc).
        base_value: the value of the base run.
        unit: the parameter's unit.
    """

    parameter: str
    side: str
    value: float | str
    kind: str
    base_value: float | str = ""
    unit: str = ""

    @property
    def label(self) -> str:
        """``site_cost high (1e+06 CNY)`` for progress lines."""
        if self.kind == "base":
            return "base"
        v = self.value if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.parameter} {self.side} ({v}{' ' + self.unit if self.unit else ''})"

    @property
    def overrides(self) -> dict[str, float]:
        """``{parameter: value}`` for a parameters.csv row, else empty."""
        return {self.parameter: float(self.value)} if self.kind in ("study", "demand", "travel", "model") else {}


BASE = Variant("base", "base", "", "base")


@dataclass
class VariantResult:
    """What one solve gave (picklable: it comes back from worker processes).

    Attributes:
        variant: the :class:`Variant`.
        ok: solved; else ``error`` says why.
        stations, ports_dc, ports_ac: totals of the plan (a run's ``summary.json`` ``total``).
        capital_cny: capital cost of the plan, CNY.
        served_share: public charging energy served / public energy of the study area.
        nev_per_port: NEVs per public port (DC + AC).
        status, gap: the solver's status and relative gap.
        reused: what came from the base instead of being rebuilt (``demand``, ``travel times``,
            ``base plan``).
        sites: the plan's open sites: ``site_id``, ``lon``, ``lat`` (WGS84), ``ports``
            (DC + AC), ``stations``.
        seconds: wall time of the solve on its worker.
    """

    variant: Variant
    ok: bool
    stations: int | None = None
    ports_dc: int | None = None
    ports_ac: int | None = None
    capital_cny: float | None = None
    served_share: float | None = None
    nev_per_port: float | None = None
    status: str = ""
    gap: float | None = None
    reused: tuple[str, ...] = ()
    sites: pd.DataFrame | None = None
    seconds: float = 0.0
    error: str = ""

    def row(self) -> dict:
        """The row of ``sensitivity.csv`` (:data:`CSV_COLUMNS`)."""
        v = self.variant
        return {"parameter": v.parameter, "side": v.side, "value": v.value, "base_value": v.base_value, "unit": v.unit,
                "kind": v.kind, "stations": self.stations, "ports_dc": self.ports_dc, "ports_ac": self.ports_ac,
                "capital_cny": self.capital_cny, "served_share": self.served_share, "nev_per_port": self.nev_per_port,
                "status": self.status, "gap": self.gap, "reused": "; ".join(self.reused), "error": self.error}


# --------------------------------------------------------------------------- the pipeline calls

class _ReadLog:
    """Which pipeline stage first read each parameter (shared by the copies of
    :class:`_RecordingParameters`)."""

    def __init__(self) -> None:
        self.stage = "study"
        self.first: dict[str, str] = {}


class _RecordingParameters(Parameters):
    """:class:`~evsiting.params.Parameters` that log each name read, with the stage reading it;
    copies made by :meth:`with_overrides` log into the same :class:`_ReadLog`."""

    def __init__(self, params: Parameters, log: _ReadLog):
        super().__init__({name: Parameters.__getitem__(params, name) for name in params}, params.path, params.overridden)
        self._log = log

    def __getitem__(self, name: str):
        p = super().__getitem__(name)
        self._log.first.setdefault(name, self._log.stage)
        return p

    def with_overrides(self, overrides, source: str = "config", config: str | None = None) -> Parameters:
        out = super().with_overrides(overrides, source, config)
        return self if out is self else _RecordingParameters(out, self._log)


def variant_config(cfg: RunConfig, v: Variant) -> RunConfig:
    """``cfg`` with the change of ``v``: a ``parameters:`` override, ``demand.scenario`` or
    ``model.service_standard_min`` (validated as a config file is).

    Raises:
        InputError: the changed config is invalid (e.g. a standard above 240 min).
    """
    if v.kind == "base":
        return cfg
    raw = cfg.model_dump(mode="json")
    if v.kind == "scenario":
        raw["demand"]["scenario"] = v.value
    elif v.kind == "standard":
        raw["model"]["service_standard_min"] = float(v.value)
    else:
        raw["parameters"] = {**(raw.get("parameters") or {}), **v.overrides}
    return config_from_dict(raw, source=cfg.source, base_dir=cfg.base_dir)


def _digest(cells, sites) -> str:
    """What the travel times of a demand depend on besides the travel parameters: the demand
    points, their NEVs and the candidate sites."""
    h = hashlib.sha256()
    for arr in (cells["demand_id"].astype(str).to_numpy(), cells["nev_count"].to_numpy(), cells["lon"].to_numpy(),
                cells["lat"].to_numpy(), sites["site_id"].astype(str).to_numpy(), sites.geometry.x.to_numpy(),
                sites.geometry.y.to_numpy(), sites["required"].to_numpy()):
        h.update(np.ascontiguousarray(arr).tobytes() if arr.dtype != object else "\x00".join(arr).encode())
    return h.hexdigest()


class RunPipeline:
    """The ONLY place that calls the run pipeline (:mod:`evsiting.stages`): the base instance
    of a config (study, demand, candidates, travel times) built once, and one variant solved on
    it, rebuilding only what the variant changes (module doc).

    Args:
        cfg: the validated run config; prefecture: one prefecture or None.
        solver, time_limit: override ``cfg.solver`` (the MIP gap is the config's).

    Raises:
        InputError: as the study, demand, candidate and travel-time stages.
    """

    def __init__(self, cfg: RunConfig, prefecture: str | None = None, *, solver: str | None = None,
                 time_limit: float | None = None):
        from evsiting.stages.s1_study import load_study
        from evsiting.stages.s2_demand import build_demand
        from evsiting.stages.s3_candidates import build_candidates
        from evsiting.stages.s4_travel import travel_provider
        from evsiting.stages.s5_model import SolveOptions

        self.cfg, self.prefecture = cfg, prefecture
        self.opts = SolveOptions(solver or cfg.solver.name, time_limit if time_limit is not None else cfg.solver.time_limit_s,
                                 cfg.solver.mip_gap)
        self.log = _ReadLog()
        study = load_study(cfg, prefecture)
        self.study = replace(study, params=_RecordingParameters(study.params, self.log))
        self.run_name = study.run_name(cfg, prefecture)
        self.provider = travel_provider(cfg)
        self.log.stage = "demand"
        self.demand = build_demand(cfg, self.study)
        self.log.stage = "candidates"
        self.cands = build_candidates(cfg, self.study, self.demand.cells)
        self.log.stage = "travel"
        self._reach_cache: dict = {}
        self.base_reached, _ = self._reach(cfg, self.demand, self.cands, self.demand.params, None)
        self.log.stage = "model"
        if cfg.demand.building_weights is not None and cfg.demand.building_weights.share is None:
            self.log.first.setdefault("demand_building_share", "study")  # read while loading the study

    @property
    def params(self) -> Parameters:
        """The base run's parameters (scenario applied)."""
        return self.demand.params

    @property
    def adcodes(self) -> list[int]:
        """Adcodes of the study's prefectures."""
        return [p.adcode for p in self.study.chosen]

    def stage_of(self, name: str) -> str | None:
        """The reuse class (:data:`STAGE_KIND`) of a parameter read by the base run, None if the
        run never read it (call after solving the base)."""
        stage = self.log.first.get(name)
        return None if stage is None else STAGE_KIND[stage]

    def _reach(self, cfg, demand, cands, params, travel_key):
        from evsiting.stages.s4_travel import reach_all_cells
        from evsiting.stages.s5_model import travel_cutoff_min

        std = cfg.model.service_standard_min
        key = (tuple(sorted((travel_key or {}).items())), std, _digest(demand.cells, cands.sites))
        if key in self._reach_cache:
            return self._reach_cache[key], True
        r = reach_all_cells(self.provider, demand.cells, cands, params, travel_cutoff_min(cfg.model), std)
        if not self._reach_cache:  # the base's, kept for every variant that does not change it
            self._reach_cache[key] = r
        return r, False

    def solve(self, v: Variant) -> VariantResult:
        """Solve variant ``v`` (the base with :data:`BASE`).

        Raises:
            InputError, InfeasibleError, SolverError: as the stages of a run.
        """
        from evsiting.stages.s1_study import load_study
        from evsiting.stages.s2_demand import build_demand
        from evsiting.stages.s3_candidates import build_candidates

        t0 = time.perf_counter()
        cfg_v = variant_config(self.cfg, v)
        ov, reused = v.overrides, []
        if v.kind == "study":
            study = load_study(cfg_v, self.prefecture)
        else:
            study = replace(self.study, params=self.study.params.with_overrides(ov, "evsiting sensitivity")) if ov else self.study
        if v.kind in ("study", "demand", "scenario"):
            demand = build_demand(cfg_v, study)
            cands = build_candidates(cfg_v, study, demand.cells)
        else:
            demand = replace(self.demand, params=self.demand.params.with_overrides(ov, "evsiting sensitivity")) if ov else self.demand
            cands = self.cands
            if v.kind != "base":
                reused.append("demand")
        reached, hit = self._reach(cfg_v, demand, cands, demand.params, ov if v.kind == "travel" else None)
        if hit and v.kind != "base":
            reused.append("travel times")
        return self._solve_sized(cfg_v, v, study, demand, reached, reused=tuple(reused), t0=t0)

    def _solve_sized(self, cfg_v, v, study, demand, reached, *, reused, t0) -> VariantResult:
        from evsiting.stages.s5_model import ModelInputs, fill_capacity, solve_model
        from evsiting.stages.s6_sizing import size_solution
        from evsiting.stages.s7_outputs import summarise

        params = demand.params
        if cfg_v.model.type == "capacitated":
            reached, _ = fill_capacity(cfg_v.model, self.provider, demand.cells, reached, params)
        cands, travel = reached.candidates, reached.travel
        solution = solve_model(cfg_v.model, ModelInputs(demand.cells, travel.matrix, cands.required, params, cands.sites), self.opts)
        self.log.stage = "sizing"
        pref_names = {p.adcode: p.name_en for p in study.prefectures.items}
        sized = size_solution(solution, demand.cells, cands.sites, travel.matrix, params, standard_min=cfg_v.model.service_standard_min,
                              county_names=study.counties.set_index("adcode")["name_zh"], prefecture_names=pref_names)
        self.log.stage = "model"
        tot = summarise(sized.cells, sized.sites, study.chosen)["total"]
        s = sized.sites
        sites = pd.DataFrame({"site_id": s["site_id"].astype(str).to_numpy(), "lon": s.geometry.x.to_numpy(),
                              "lat": s.geometry.y.to_numpy(), "ports": (s["ports_dc"] + s["ports_ac"]).to_numpy(dtype=int),
                              "stations": s["stations"].to_numpy(dtype=int) if "stations" in s.columns else 1})
        energy = float(tot["energy_kwh_day"])
        res = solution.result
        return VariantResult(v, True, int(tot["stations"]), int(tot["ports_dc"]), int(tot["ports_ac"]),
                             round(float(s["cost_cny"].sum()), 2),
                             round(float(tot["energy_served_kwh_day"]) / energy, 6) if energy > 0 else None,
                             tot.get("nev_per_public_charger"), res.status, None if res.gap is None else round(float(res.gap), 6),
                             reused, sites, time.perf_counter() - t0)

    def candidate_sites(self) -> pd.DataFrame:
        """The base run's candidate sites: ``site_id``, ``lon``, ``lat`` (WGS84), ``name``,
        ``source``."""
        s = self.base_reached.candidates.sites
        return pd.DataFrame({"site_id": s["site_id"].astype(str).to_numpy(), "lon": s.geometry.x.to_numpy(),
                             "lat": s.geometry.y.to_numpy(), "name": s["name"].to_numpy() if "name" in s.columns else None,
                             "source": s["source"].to_numpy() if "source" in s.columns else None})

    def record(self) -> dict:
        """The manifest's records of the base: ``data_files``, ``parameters``, ``impedance``."""
        return {"data_files": self.study.files, "parameters": self.params.to_frame().to_dict(orient="records"),
                "impedance": self.base_reached.travel.info}


# --------------------------------------------------------------------------- the variants

def variants(pipe: RunPipeline, names: Sequence[str] | None = None) -> tuple[list[Variant], dict[str, str]]:
    """The low and high variants of every parameter with a low and a high that the base run
    read (or of ``names``), then the adoption scenarios and the service standard.

    Args:
        pipe: the pipeline, with the base already solved (it knows what the run read).
        names: parameters.csv names, :data:`SCENARIO`, :data:`STANDARD`; None: all.

    Returns:
        (the variants in parameters.csv order, {parameter: why it is not varied} for the
        parameters with a low and a high that are left out).

    Raises:
        InputError: an unknown name (with "did you mean"), or a named parameter without a low
            and a high (``field`` ``--parameters``).
    """
    import difflib

    params = pipe.params
    table = {p.name: p for p in (params[n] for n in params)}
    extra = [SCENARIO, STANDARD]
    if names is not None:
        for n in names:
            if n not in table and n not in extra:
                close = difflib.get_close_matches(n, list(table) + extra, n=1)
                raise InputError(f"no parameter named '{n}'" + (f" (did you mean '{close[0]}'?)" if close else ""), field="--parameters")
            if n in table and (table[n].low is None or table[n].high is None):
                raise InputError(f"parameter '{n}' has no low and high in {params.path}", field="--parameters")
    out: list[Variant] = []
    skipped: dict[str, str] = {}
    for name, p in table.items():
        if p.low is None or p.high is None or name == STANDARD or (names is not None and name not in names):
            continue
        kind = pipe.stage_of(name)
        if kind is None:
            skipped[name] = "not read by this run (another model, method or command uses it)"
            continue
        if p.low == p.high == p.value:
            skipped[name] = "low = high = value"
            continue
        out += [Variant(name, side, float(getattr(p, side)), kind, p.value, p.unit) for side in ("low", "high")]
    if names is None or SCENARIO in names:
        base = pipe.cfg.demand.scenario
        out += [Variant(SCENARIO, side, side, "scenario", base) for side in ("low", "high")]
    if names is None or STANDARD in names:
        std = table.get(STANDARD)
        lo, hi = (std.low, std.high) if std is not None else (None, None)
        if lo is None or hi is None:
            skipped[STANDARD] = f"no row '{STANDARD}' with a low and a high in {params.path}"
        else:
            b = pipe.cfg.model.service_standard_min
            out += [Variant(STANDARD, side, float(x), "standard", b, "min") for side, x in (("low", lo), ("high", hi))]
    return out, skipped


def _same_as_base(v: Variant) -> bool:
    """The variant's value is the base value (a low or high equal to the value): its plan is the base plan."""
    return v.value == v.base_value


@dataclass(frozen=True)
class SensitivityJob:
    """One variant to solve on a worker: the config, prefecture and solver overrides (the
    worker builds or reuses its :class:`RunPipeline` for them) and the variant."""

    config: RunConfig
    prefecture: str | None
    variant: Variant
    solver: str | None = None
    time_limit: float | None = None

    @property
    def label(self) -> str:
        """The variant's label, for messages."""
        return self.variant.label


#: Worker-side pipelines, by (config, prefecture, solver, time limit): built once per process.
_PIPELINES: dict[tuple, RunPipeline] = {}


def _pipeline_key(cfg: RunConfig, prefecture, solver, time_limit) -> tuple:
    return (cfg.model_dump_json(), str(cfg.base_dir), prefecture, solver, time_limit)


def solve_job(job: SensitivityJob) -> VariantResult:
    """Solve one job (worker side): the process's pipeline for the job's config is built on
    its first job and reused. Never raises for a failed solve: the error is the result's
    ``error``."""
    t0 = time.perf_counter()
    try:
        key = _pipeline_key(job.config, job.prefecture, job.solver, job.time_limit)
        if key not in _PIPELINES:
            _PIPELINES.clear()
            _PIPELINES[key] = RunPipeline(job.config, job.prefecture, solver=job.solver, time_limit=job.time_limit)
        return _PIPELINES[key].solve(job.variant)
    except EvsitingError as exc:
        return VariantResult(job.variant, False, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)
    except Exception as exc:  # a bug or a library failure in one solve must not stop the others
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        loc = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
        return VariantResult(job.variant, False, error=f"{type(exc).__name__}: {exc}{loc}", seconds=time.perf_counter() - t0)


@dataclass
class Sensitivity:
    """A finished sensitivity: the base, every variant's result (in variant order), the
    parameters left out and why, and the pipeline's records for the manifest."""

    run_name: str
    cfg: RunConfig
    base: VariantResult
    results: list[VariantResult]
    skipped: dict[str, str]
    candidates: pd.DataFrame
    adcodes: list[int]
    record: dict
    timings: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """``sensitivity.csv``: the base row, then one row per variant (:data:`CSV_COLUMNS`)."""
        return pd.DataFrame([r.row() for r in [self.base, *self.results]], columns=CSV_COLUMNS)


def _progress_line(k: int, n: int, r: VariantResult) -> str:
    if not r.ok:
        return f"[{k}/{n}] {r.variant.label}: FAILED: {r.error}"
    reuse = f"; reused {', '.join(r.reused)}" if r.reused else ""
    gap = "" if r.gap is None else f", gap {r.gap:.2%}"
    return (f"[{k}/{n}] {r.variant.label}: {r.stations:,} stations, {r.ports_dc:,} DC + {r.ports_ac:,} AC ports, "
            f"{r.capital_cny / 1e6:,.1f} M CNY ({r.status}{gap}), {r.seconds:.1f} s{reuse}")


def run_sensitivity(cfg: RunConfig, prefecture: str | None = None, *, names: Sequence[str] | None = None,
                    executor: str = "local", workers: int | None = None, scheduler: str | None = None,
                    solver: str | None = None, time_limit: float | None = None,
                    progress: Callable[[str], None] = lambda m: None) -> Sensitivity:
    """Solve the base plan here, then every variant (:func:`variants`) on the batch executor
    (:func:`evsiting.batch.map_jobs`: worker processes, or Dask); ``workers = 1`` solves them
    in this process on the base's pipeline.

    Returns:
        :class:`Sensitivity` (failed variants are kept with their error).

    Raises:
        InputError: bad config or data, an unknown ``names`` entry, a bad executor option.
        InfeasibleError, SolverError: the BASE plan cannot be solved (a variant's failure is
            its result's ``error``).
    """
    from evsiting.batch import Outcome, default_workers, map_jobs

    t0 = time.perf_counter()
    pipe = RunPipeline(cfg, prefecture, solver=solver, time_limit=time_limit)
    progress(f"  base instance: {len(pipe.demand.cells):,} cells, {pipe.demand.nev_total:,} NEVs, "
             f"{len(pipe.base_reached.candidates.sites):,} candidate sites: {time.perf_counter() - t0:.1f} s")
    base = pipe.solve(BASE)
    progress(_progress_line(0, 0, base).replace("[0/0] ", "  "))
    todo, skipped = variants(pipe, names)
    t_prep = time.perf_counter() - t0
    same = [v for v in todo if _same_as_base(v)]
    jobs = [SensitivityJob(cfg, prefecture, v, solver, time_limit) for v in todo if not _same_as_base(v)]
    n_workers = min(workers or default_workers(), max(1, len(jobs)))
    progress(f"  {len(todo)} variants of {len({v.parameter for v in todo})} parameters; {len(jobs)} to solve on "
             f"{executor if executor == 'dask' else 'this process' if n_workers == 1 else f'{n_workers} worker processes'}"
             + (f"; {len(same)} equal to the base value (the base plan)" if same else ""))
    if n_workers == 1 and executor == "local":
        _PIPELINES.clear()
        _PIPELINES[_pipeline_key(cfg, prefecture, solver, time_limit)] = pipe
    results: dict[Variant, VariantResult] = {v: replace(base, variant=v, reused=("base plan",), seconds=0.0) for v in same}
    try:
        for k, (i, r) in enumerate(map_jobs(jobs, solve_job, executor, workers, scheduler), start=1):
            if isinstance(r, Outcome):  # the worker died
                r = VariantResult(jobs[i].variant, False, error=r.error or "the worker process died")
            results[jobs[i].variant] = r
            progress(_progress_line(k, len(jobs), r))
    finally:
        _PIPELINES.clear()
    ordered = [results[v] for v in todo]
    solve_s = [r.seconds for r in ordered if r.ok and "base plan" not in r.reused]
    timings = {"base_instance_and_solve": round(t_prep, 3), "base_solve": round(base.seconds, 3),
               "variants_solved": len(jobs), "variants_failed": sum(not r.ok for r in ordered),
               "mean_solve": round(float(np.mean(solve_s)), 3) if solve_s else None,
               "max_solve": round(float(np.max(solve_s)), 3) if solve_s else None,
               "reused": {what: sum(what in r.reused for r in ordered) for what in ("demand", "travel times", "base plan")},
               "workers": n_workers, "executor": executor, "total": round(time.perf_counter() - t0, 3)}
    return Sensitivity(pipe.run_name, cfg, base, ordered, skipped, pipe.candidate_sites(), pipe.adcodes, pipe.record(), timings)
