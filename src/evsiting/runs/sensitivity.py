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
the travel-time stage recomputes the travel times (the demand of the base is kept when no
earlier stage reads it; ``circuity_factor`` and ``local_road_speed_kmh`` rebuild both); one
read only by the model or the sizing keeps both. Travel times are also kept when a rebuilt demand
has the same demand points, NEVs and candidate sites as the base (an energy parameter such as
kWh/km changes the energy of the cells, not where the NEVs are). A side whose value equals the
base value is not solved again (it is the base plan). A capacitated solve starts from the base
plan's stations (routed at their integer port maxima for the variant's energy and trimmed) when
that plan is cheaper than the model's own LP-rounded start (:mod:`evsiting.models.capacitated`,
``start_stations``); its bound is the variant's own, so the gap is proven as in any run.

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

from evsiting.config.schema import RunConfig, config_from_dict
from evsiting.core.errors import EvsitingError, InputError
from evsiting.config.params import Parameters

#: Pseudo-parameters varied besides the rows of parameters.csv.
SCENARIO = "adoption_scenario"
STANDARD = "service_standard_min"
#: ``reused`` entry of a capacitated solve whose start plan was the base plan's stations
#: (routed and trimmed for the variant's energy and costs), cheaper than its own LP-rounded start
START_NOTE = "start: the base plan's stations"
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
    #: CPU seconds of the solve's process (all its threads): the wall time on a shared machine
    #: also counts the time other processes took
    cpu_seconds: float = 0.0

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
        self.stages: dict[str, set[str]] = {}


class _RecordingParameters(Parameters):
    """:class:`~evsiting.config.params.Parameters` that log each name read, with the stage reading it;
    copies made by :meth:`with_overrides` log into the same :class:`_ReadLog`."""

    def __init__(self, params: Parameters, log: _ReadLog):
        super().__init__({name: Parameters.__getitem__(params, name) for name in params}, params.path, params.overridden)
        self._log = log

    def __getitem__(self, name: str):
        p = super().__getitem__(name)
        if self._log.stage is not None:  # None: the base is done, variants are not recorded
            self._log.first.setdefault(name, self._log.stage)
            self._log.stages.setdefault(name, set()).add(self._log.stage)
        return p

    def with_overrides(self, overrides, source: str = "config", config: str | None = None) -> Parameters:
        """:meth:`Parameters.with_overrides`, not logged as a read (overriding a value is not reading it)."""
        stage, self._log.stage = self._log.stage, None  # overriding a value is not reading it
        try:
            out = super().with_overrides(overrides, source, config)
        finally:
            self._log.stage = stage
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
    if raw["model"].get("zone_standards"):  # the dump carries the one-zone default too: keep one of the two
        raw["model"].pop("service_standard_min", None)
    if v.kind == "scenario":
        raw["demand"]["scenario"] = v.value
    elif v.kind == "standard":  # one standard for every cell (a one-zone config)
        raw["model"]["service_standard_min"] = float(v.value)
        raw["model"].pop("zone_standards", None)
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


class _CachedTravel:
    """The run's travel-time provider with its columns kept per candidate site (id and point),
    per set of demand points and cutoff: a variant at the base's travel parameters computes
    only the columns of sites the base did not have (new gap-fill or capacity-fill sites).
    Used only for variants whose travel parameters are the base's."""

    def __init__(self, provider) -> None:
        self.provider = provider
        self._cols: dict[tuple, dict[str, object]] = {}
        self._info: dict[tuple, dict] = {}
        self.computed = 0  # site columns computed so far

    def times(self, demand, candidates, params, cutoff_min: float):
        """As :meth:`evsiting.stages.s4_travel.TravelProvider.times`, from the cache where it can."""
        import scipy.sparse as sp

        from evsiting.stages.s4_travel import TravelTimes

        h = hashlib.sha256(np.ascontiguousarray(np.c_[demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()]).tobytes())
        key = (h.hexdigest(), len(demand), float(cutoff_min))
        cols = self._cols.setdefault(key, {})
        names = [f"{i}@{x:.7f},{y:.7f}" for i, x, y in zip(candidates["site_id"].astype(str), candidates.geometry.x, candidates.geometry.y)]
        missing = [j for j, n in enumerate(names) if n not in cols]
        if missing:
            t = self.provider.times(demand, candidates.iloc[missing], params, cutoff_min)
            mat = t.matrix.tocsc()
            for k, j in enumerate(missing):
                cols[names[j]] = mat[:, k]
            self._info.setdefault(key, t.info)
            self.computed += len(missing)
        matrix = sp.hstack([cols[n] for n in names], format="csr") if names else sp.csr_matrix((len(demand), 0))
        return TravelTimes(matrix, dict(self._info[key]), cutoff_min)

    def graph(self, points):
        """The provider's road graph (network method), else None."""
        return self.provider.graph(points)


def _cells_digest(cells, sites) -> str:
    """Every column of the demand cells and the candidate sites (ids, points, required)."""
    h = hashlib.sha256(pd.util.hash_pandas_object(cells.drop(columns="geometry"), index=False).to_numpy().tobytes())
    h.update(_digest(cells, sites).encode())
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
        self.provider = travel_provider(cfg.impedance, cfg.network, study.inputs)
        self.cached = _CachedTravel(self.provider)
        self.log.stage = "demand"
        self.demand = build_demand(self.study, year=cfg.year, demand=cfg.demand, fleet=cfg.fleet, model=cfg.model)
        self.log.stage = "candidates"
        self.cands = build_candidates(cfg.candidates, self.study, self.demand.cells, network=cfg.network)
        self.log.stage = "travel"
        self._reach_cache: dict = {}
        self.base_reached, _ = self._reach(cfg, self.demand, self.cands, self.demand.params, None)
        self.log.stage = "model"
        self.base_result: VariantResult | None = None  # set by solve(BASE), or given by the caller
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
        from evsiting.stages.instance import reach
        from evsiting.stages.s5_model import standard_of

        std = standard_of(cfg.model, demand.cells)
        std_key = float(std) if np.ndim(std) == 0 else hashlib.sha256(np.ascontiguousarray(std).tobytes()).hexdigest()
        key = (tuple(sorted((travel_key or {}).items())), std_key, _digest(demand.cells, cands.sites))
        if key in self._reach_cache:
            return self._reach_cache[key], True
        provider = self.provider if travel_key else self.cached  # the cache holds the base's travel parameters
        r = reach(cfg, provider, demand.cells, cands, params)  # the run's travel stage (gap fill, each cell's standard)
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

        t0, c0 = time.perf_counter(), time.process_time()
        cfg_v = variant_config(self.cfg, v)
        ov, reused = v.overrides, []
        if v.kind == "study":
            study = load_study(cfg_v, self.prefecture)
        else:
            study = replace(self.study, params=self.study.params.with_overrides(ov, "evsiting sensitivity")) if ov else self.study
        if v.kind in ("study", "demand", "scenario"):
            demand = build_demand(study, year=cfg_v.year, demand=cfg_v.demand, fleet=cfg_v.fleet, model=cfg_v.model)
            cands = build_candidates(cfg_v.candidates, study, demand.cells, network=cfg_v.network)
            if self._same_instance(v, demand, cands):
                return replace(self.base_result, variant=v, reused=("base plan (the same demand and candidates)",),
                               seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
        else:
            demand = replace(self.demand, params=self.demand.params.with_overrides(ov, "evsiting sensitivity")) if ov else self.demand
            cands = self.cands
            if v.kind != "base":
                reused.append("demand")
        retravel = self.rebuilds_travel(v)
        reached, hit = self._reach(cfg_v, demand, cands, demand.params, ov if retravel else None)
        res = self._solve_sized(cfg_v, v, study, demand, reached, reused=tuple(reused), t0=t0, retravel=retravel)
        if v.kind not in ("base", "travel", "standard") and not retravel:
            # sites the base instance does not have: their columns were computed (the same count
            # whichever worker solved it, so sensitivity.csv does not depend on the executor)
            base_ids = set(self.base_reached.candidates.sites["site_id"].astype(str))
            new = len(set(self._last_sites) - base_ids)
            res.reused += ("travel times" if hit or not new else f"travel times but {new:,} new sites",)
        res.cpu_seconds = time.process_time() - c0
        if v.kind == "base":
            self.base_result = res
            self.log.stage = None  # what the run reads is known now
        return res

    def rebuilds_travel(self, v: Variant) -> bool:
        """Whether variant ``v`` recomputes the travel times with its own value: a parameter the
        travel-time stage reads, also when an earlier stage read it first (``circuity_factor``
        and ``local_road_speed_kmh`` turn a zone's km standard into minutes in the demand stage
        and the distances into minutes in the travel-time stage: the base's travel times with
        the variant's standards would move the standards alone)."""
        return v.kind == "travel" or "travel" in self.log.stages.get(v.parameter, set())

    def _same_instance(self, v: Variant, demand, cands) -> bool:
        """A demand variant whose cells (every column) and candidate sites equal the base's,
        for a parameter that no later stage reads: the model gets the base's input, so its
        plan is the base plan."""
        if self.base_result is None or not self.base_result.ok or v.kind == "scenario":
            return False
        if not self.log.stages.get(v.parameter, set()) <= {"study", "demand", "candidates"}:
            return False
        if not hasattr(self, "_base_cells_digest"):
            self._base_cells_digest = _cells_digest(self.demand.cells, self.cands.sites)
        return _cells_digest(demand.cells, cands.sites) == self._base_cells_digest

    def _solve_sized(self, cfg_v, v, study, demand, reached, *, reused, t0, retravel: bool = False) -> VariantResult:
        from evsiting.stages.s4_fill import fill_capacity
        from evsiting.stages.s5_model import ModelInputs, solve_model, standard_of
        from evsiting.stages.s6_sizing import size_solution
        from evsiting.stages.s7_outputs import summarise

        params = demand.params
        if cfg_v.model.type == "capacitated":
            provider = self.provider if retravel else self.cached
            reached, _ = fill_capacity(cfg_v.model, provider, demand.cells, reached, params)
        cands, travel = reached.candidates, reached.travel
        self._last_sites = cands.sites["site_id"].astype(str).tolist()
        start = self._base_stations(cfg_v, v)
        solution = solve_model(cfg_v.model, ModelInputs(demand.cells, travel.matrix, cands.required, params, cands.sites,
                                                        start_stations=start), self.opts)
        if start is not None and (solution.result.stats or {}).get("outside_start") == "kept":
            reused += (START_NOTE,)
        stage = self.log.stage
        self.log.stage = "sizing" if stage is not None else None
        pref_names = {p.adcode: p.name_en for p in study.prefectures.items}
        sized = size_solution(solution, demand.cells, cands.sites, travel.matrix, params, standard_min=standard_of(cfg_v.model, demand.cells),
                              county_names=study.counties.set_index("adcode")["name_zh"], prefecture_names=pref_names)
        self.log.stage = stage
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

    def _base_stations(self, cfg_v, v: Variant) -> pd.Series | None:
        """Stations per ``site_id`` of the base plan, the start of a capacitated variant's solve
        (None for the base itself, other models, or a failed base)."""
        b = self.base_result
        if cfg_v.model.type != "capacitated" or v.kind == "base" or b is None or not b.ok or b.sites is None:
            return None
        return pd.Series(b.sites["stations"].to_numpy(dtype=float), index=b.sites["site_id"].astype(str).to_numpy())

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

def check_options(executor: str, workers: int | None, scheduler: str | None) -> None:
    """Check the executor options (as :func:`evsiting.runs.batch.map_jobs` would, but before any work).

    Raises:
        InputError: unknown executor, ``workers`` below 1, ``scheduler`` without ``dask``.
    """
    from evsiting.runs.batch import EXECUTORS

    if executor not in EXECUTORS:
        raise InputError(f"unknown executor '{executor}'; expected local or dask", field="--executor")
    if workers is not None and workers < 1:
        raise InputError(f"must be at least 1 worker process, got {workers}", field="--workers")
    if scheduler and executor != "dask":
        raise InputError("a scheduler address needs --executor dask", field="--scheduler")


def check_names(params: Parameters, names: Sequence[str] | None) -> None:
    """Check the ``--parameters`` names against the parameter table.

    Raises:
        InputError: an unknown name (with "did you mean"), or a named parameter without a low
            and a high (``field`` ``--parameters``).
    """
    import difflib

    extra = [SCENARIO, STANDARD]
    for n in names or ():
        if n not in params and n not in extra:
            close = difflib.get_close_matches(n, list(params) + extra, n=1)
            raise InputError(f"no parameter named '{n}'" + (f" (did you mean '{close[0]}'?)" if close else ""), field="--parameters")
        p = params[n] if n in params else None
        if p is not None and (p.low is None or p.high is None):
            raise InputError(f"parameter '{n}' has no low and high in {params.path}", field="--parameters")


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
    rec = pipe.params  # read without logging: what the run itself read is the record
    params = Parameters({n: Parameters.__getitem__(rec, n) for n in rec}, rec.path)
    check_names(params, names)
    table = {n: params[n] for n in params}
    out: list[Variant] = []
    skipped: dict[str, str] = {}
    for name, p in table.items():
        if p.low is None or p.high is None or name == STANDARD or (names is not None and name not in names):
            continue
        kind = pipe.stage_of(name)
        if kind is None:
            skipped[name] = ("not read by the stages that build this plan (demand, candidates, travel times, model, "
                             "sizing); another model, method, command or the run's summary uses it")
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
        if getattr(pipe.cfg.model, "zone_standards", False):  # the zone rows (standard_*_km/_min) vary them
            skipped[STANDARD] = "the run sets each cell's standard by its urban zone: the standard_* rows vary them"
        elif lo is None or hi is None:
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
    #: the base plan (a worker's pipeline gives it for a variant whose input equals the base's)
    base: VariantResult | None = None
    #: parameter -> the stages that read it in the base run (a worker's pipeline solves no base)
    reads: tuple[tuple[str, tuple[str, ...]], ...] = ()

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
        pipe = _PIPELINES[key]
        if pipe.base_result is None:
            pipe.base_result = job.base
            pipe.log.stages = {k: set(v) for k, v in job.reads}
            pipe.log.stage = None
        return pipe.solve(job.variant)
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
    #: the base run's service standard in words (``15 min``, ``by zone: core 1 km, ...``)
    standard: str = ""

    def table(self) -> pd.DataFrame:
        """``sensitivity.csv``: the base row, then one row per variant (:data:`CSV_COLUMNS`)."""
        return pd.DataFrame([r.row() for r in [self.base, *self.results]], columns=CSV_COLUMNS)


def _progress_line(k: int, n: int, r: VariantResult) -> str:
    if not r.ok:
        return f"[{k}/{n}] {r.variant.label}: FAILED: {r.error}"
    reuse = f"; reused {', '.join(r.reused)}" if r.reused else ""
    gap = "" if r.gap is None else f", gap {r.gap:.2%}"
    return (f"[{k}/{n}] {r.variant.label}: {r.stations:,} stations, {r.ports_dc:,} DC + {r.ports_ac:,} AC ports, "
            f"{r.capital_cny / 1e6:,.1f} M CNY ({r.status}{gap}), {r.seconds:.1f} s ({r.cpu_seconds:.1f} s CPU){reuse}")


def run_sensitivity(cfg: RunConfig, prefecture: str | None = None, *, names: Sequence[str] | None = None,
                    executor: str = "local", workers: int | None = None, scheduler: str | None = None,
                    solver: str | None = None, time_limit: float | None = None,
                    progress: Callable[[str], None] = lambda m: None) -> Sensitivity:
    """Solve the base plan here, then every variant (:func:`variants`) on the batch executor
    (:func:`evsiting.runs.batch.map_jobs`: worker processes, or Dask); ``workers = 1`` solves them
    in this process on the base's pipeline.

    Returns:
        :class:`Sensitivity` (failed variants are kept with their error).

    Raises:
        InputError: bad config or data, an unknown ``names`` entry, a bad executor option.
        InfeasibleError, SolverError: the BASE plan cannot be solved (a variant's failure is
            its result's ``error``).
    """
    from evsiting.runs.batch import Outcome, default_workers, map_jobs

    from evsiting.config.inputs import resolve_inputs
    from evsiting.config.params import load_parameters

    t0 = time.perf_counter()
    check_options(executor, workers, scheduler)  # the options and names before the long stages
    check_names(load_parameters(resolve_inputs(cfg).parameters), names)
    pipe = RunPipeline(cfg, prefecture, solver=solver, time_limit=time_limit)
    progress(f"  base instance: {len(pipe.demand.cells):,} cells, {pipe.demand.nev_total:,} NEVs, "
             f"{len(pipe.base_reached.candidates.sites):,} candidate sites: {time.perf_counter() - t0:.1f} s")
    base = pipe.solve(BASE)
    progress(_progress_line(0, 0, base).replace("[0/0] ", "  "))
    todo, skipped = variants(pipe, names)
    t_prep = time.perf_counter() - t0
    same = [v for v in todo if _same_as_base(v)]
    reads = tuple(sorted((k, tuple(sorted(v))) for k, v in pipe.log.stages.items()))
    jobs = [SensitivityJob(cfg, prefecture, v, solver, time_limit, base, reads) for v in todo if not _same_as_base(v)]
    n_workers = min(workers or default_workers(), max(1, len(jobs)))
    progress(f"  {len(todo)} variants of {len({v.parameter for v in todo})} parameters; {len(jobs)} to solve on "
             f"{executor if executor == 'dask' else 'this process' if n_workers == 1 else f'{n_workers} worker processes'}"
             + (f"; {len(same)} equal to the base value (the base plan)" if same else ""))
    if n_workers == 1 and executor == "local":
        _PIPELINES.clear()
        _PIPELINES[_pipeline_key(cfg, prefecture, solver, time_limit)] = pipe
    results: dict[Variant, VariantResult] = {v: replace(base, variant=v, reused=("base plan (the value equals the base value)",), seconds=0.0,
                                                          cpu_seconds=0.0) for v in same}
    try:
        for k, (i, r) in enumerate(map_jobs(jobs, solve_job, executor, workers, scheduler), start=1):
            if isinstance(r, Outcome):  # the worker died
                r = VariantResult(jobs[i].variant, False, error=r.error or "the worker process died")
            results[jobs[i].variant] = r
            progress(_progress_line(k, len(jobs), r))
    finally:
        _PIPELINES.clear()
    ordered = [results[v] for v in todo]
    solved = [r for r in ordered if r.ok and not any(x.startswith("base plan") for x in r.reused)]
    solve_s, solve_cpu = [r.seconds for r in solved], [r.cpu_seconds for r in solved]
    timings = {"base_instance_and_solve": round(t_prep, 3), "base_solve": round(base.seconds, 3),
               "variants_solved": len(jobs), "variants_failed": sum(not r.ok for r in ordered),
               "mean_solve": round(float(np.mean(solve_s)), 3) if solve_s else None,
               "max_solve": round(float(np.max(solve_s)), 3) if solve_s else None,
               "mean_solve_cpu": round(float(np.mean(solve_cpu)), 3) if solve_cpu else None,
               "max_solve_cpu": round(float(np.max(solve_cpu)), 3) if solve_cpu else None,
               "reused": {what: sum(any(x.startswith(what) for x in r.reused) for r in ordered)
                          for what in ("demand", "travel times", "base plan", START_NOTE)},
               "workers": n_workers, "executor": executor, "total": round(time.perf_counter() - t0, 3)}
    from evsiting.stages.s2_demand import standards_summary

    return Sensitivity(pipe.run_name, cfg, base, ordered, skipped, pipe.candidate_sites(), pipe.adcodes, pipe.record(), timings,
                       standard=standards_summary(cfg.model, pipe.params)["service_standard"])


# --------------------------------------------------------------------------- site stability

def site_stability(runs: Sequence[pd.DataFrame], candidates: pd.DataFrame | None = None) -> pd.DataFrame:
    """For every candidate site, the share of the runs in which it is open and its port range.

    Args:
        runs: one frame per successful run (the base included) of its open sites, with
            ``site_id``, ``ports`` (DC + AC) and, for sites not in ``candidates``, ``lon``/``lat``.
        candidates: every candidate site (``site_id``, ``lon``, ``lat``, optional ``name``,
            ``source``); sites open in a run but not listed are added.

    Returns:
        one row per site, sorted by ``open_share`` (descending) then ``site_id``: ``site_id``,
        ``lon``, ``lat``, ``name``, ``source``, ``runs``, ``runs_open``, ``open_share`` (0..1),
        ``ports_min``/``ports_max`` (ports over the runs in which it is open; NaN if never
        open).

    Raises:
        ValueError: no runs.
    """
    if not runs:
        raise ValueError("site_stability needs at least one run")
    opened = pd.concat([r.assign(run=k) for k, r in enumerate(runs)], ignore_index=True)
    cols = ["site_id", "lon", "lat", "name", "source"]
    cand = (candidates if candidates is not None else pd.DataFrame(columns=cols)).reindex(columns=cols)
    extra = opened.loc[~opened["site_id"].isin(cand["site_id"])].drop_duplicates("site_id").reindex(columns=cols)
    sites = pd.concat([cand, extra], ignore_index=True) if len(extra) else cand.copy()
    per = opened.groupby("site_id").agg(runs_open=("run", "nunique"), ports_min=("ports", "min"), ports_max=("ports", "max"))
    out = sites.merge(per, left_on="site_id", right_index=True, how="left")
    out["runs"] = len(runs)
    out["runs_open"] = out["runs_open"].fillna(0).astype(int)
    out["open_share"] = (out["runs_open"] / len(runs)).round(6)
    out = out.sort_values(["open_share", "site_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    return out[cols + ["runs", "runs_open", "open_share", "ports_min", "ports_max"]]


# --------------------------------------------------------------------------- physics checks

#: (what should hold, parameter, measure, sign, what can break it): raising the parameter from
#: low to high must move the measure in the direction of ``sign`` (+1 up, -1 down) or leave it
#: unchanged. Only the site cost's is guaranteed at proven optima (a higher fixed cost per
#: station never gives an optimal plan more stations); the others are what a planner expects,
#: and a break is shown with its likely cause, not hidden.
PHYSICS = (
    ("adoption up gives ports up", SCENARIO, "ports", +1,
     "more NEVs in some cells and fewer in others (the scenarios reshape the fleet by year), or a solve's gap"),
    ("adoption up gives ports up (2026 NEV stock target)", "fleet_nev_stock_target", "ports", +1,
     "as for the scenarios: the fitted fleet curve, or a solve's gap"),
    ("DC utilisation hours up give ports down", "dc_utilisation_hours", "ports", -1,
     "the port type that is cheaper per kWh/day takes the other's energy: DC ports that deliver more each "
     "take the AC energy too"),
    ("AC utilisation hours up give ports down", "ac_utilisation_hours", "ports", -1,
     "the port type that is cheaper per kWh/day takes the other's energy: at low AC hours an AC port costs more "
     "per kWh/day than a DC port, so the AC energy goes to fewer, larger DC ports"),
    ("a dearer station gives fewer stations", "site_cost", "stations", -1,
     "cannot at proven optima; a solve stopped at its gap"),
    ("a dearer station gives larger stations (ports per station)", "site_cost", "ports_per_station", +1,
     "the port mix changed between DC and AC, or a solve's gap"),
    ("a tighter standard gives more stations", STANDARD, "stations", -1,
     "the candidate sites differ between standards (the gap fill adds sites per standard), or a solve's gap"),
)
#: With zone standards the one-standard check above is not run (``service_standard_min`` is not
#: varied); each zone's standard row is checked instead.
ZONE_PHYSICS = tuple(
    (f"a tighter {zone} standard gives more stations", f"standard_{zone}_{unit}", "stations", -1,
     "the candidate sites differ between standards (the gap fill adds sites per standard), or a solve's gap")
    for zone, unit in (("core", "km"), ("urban", "km"), ("town", "km"), ("rural", "min")))


def _measure(row: dict, measure: str) -> float | None:
    if row.get("stations") is None or (isinstance(row.get("stations"), float) and math.isnan(row["stations"])):
        return None
    ports = float(row["ports_dc"]) + float(row["ports_ac"])
    if measure == "ports":
        return ports
    if measure == "ports_per_station":
        return ports / float(row["stations"]) if row["stations"] else None
    return float(row[measure])


def _order_key(row: dict, k: int) -> tuple:
    """Where a run lies along its parameter: its numeric value (the base row's ``base_value`` is
    taken from the varied rows), else low < base < high (the adoption scenarios)."""
    v = row.get("value")
    try:
        return (0, float(v), k)
    except (TypeError, ValueError):
        return (1, float(k), k)


def physics_checks(table: pd.DataFrame) -> list[dict]:
    """The checks of :data:`PHYSICS` on ``sensitivity.csv`` rows (the base row and the low and
    high rows of each parameter); when the run varied the zones' standards instead of one
    standard, :data:`ZONE_PHYSICS` replaces the one-standard check.

    Returns:
        one dict per check: ``check``, ``parameter``, ``measure``, ``low``/``base``/``high``
        (the measure of each run, None when not run), ``result`` (``holds``; ``within the gap``:
        it moves the wrong way by less, relatively, than the largest relative gap of the three
        solves, so the solves cannot tell; ``BROKEN``; ``not run``: the parameter was not varied
        or a side failed), ``gaps`` (the solves' relative gaps), ``can_break_by`` (what can
        break it).
    """
    rows = {(r["parameter"], r["side"]): r for r in table.to_dict(orient="records")}
    out = []
    zoned = not any(p == STANDARD for p, _ in rows) and any(p == z[1] for p, _ in rows for z in ZONE_PHYSICS)
    checks = [c for c in PHYSICS if not (zoned and c[1] == STANDARD)] + (list(ZONE_PHYSICS) if zoned else [])
    for text, param, measure, sign, why in checks:
        lo, hi = rows.get((param, "low")), rows.get((param, "high"))
        base = rows.get(("base", "base"))
        ref = lo or hi
        if base is not None and ref is not None:  # the base row at the parameter's base value
            base = {**base, "value": ref.get("base_value")}
        vals = [None if r is None else _measure(r, measure) for r in (lo, base, hi)]
        if any(v is None for v in vals):
            result = "not run"
        else:  # in the order of the parameter's value (a base outside low..high is put in its place)
            xs = [_order_key(r, k) for k, r in enumerate((lo, base, hi))]
            ys = [y for _, y in sorted(zip(xs, vals), key=lambda t: t[0])]
            worst = max([-sign * (b - a) / max(abs(a), abs(b), 1e-9) for a, b in zip(ys, ys[1:])] + [0.0])
            tol = max([float(g) for g in (r.get("gap") for r in (lo, base, hi)) if g is not None and not pd.isna(g)] + [0.0])
            result = "holds" if worst <= 1e-9 else "within the gap" if worst <= tol else "BROKEN"
        gaps = [None if r is None else r.get("gap") for r in (lo, base, hi)]
        out.append({"check": text, "parameter": param, "measure": measure, "low": vals[0], "base": vals[1], "high": vals[2],
                    "result": result, "gaps": gaps, "can_break_by": why})
    return out


# --------------------------------------------------------------------------- figures

#: The tornado's panels: (column of sensitivity.csv, axis label, scale).
TORNADO_PANELS = (("capital_cny", "capital cost, change from the base (million CNY)", 1e-6),
                  ("stations", "stations, change from the base", 1.0))


def swings(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per varied parameter: the change of ``column`` from the base at its low and high side
    and the swing (largest minus smallest of low, base, high), largest swing first (ties by
    name); a failed side is NaN.

    Returns:
        columns ``parameter``, ``low_value``, ``high_value``, ``low``, ``high``, ``swing``.
    """
    base = table.loc[table["side"] == "base", column]
    b = float(base.iloc[0]) if len(base) else math.nan
    rows = []
    for name, g in table[table["side"] != "base"].groupby("parameter", sort=False):
        side = {r["side"]: r for r in g.to_dict(orient="records")}
        d = {s: (float(side[s][column]) - b if s in side and side[s][column] is not None and not pd.isna(side[s][column])
                 else math.nan) for s in ("low", "high")}
        vals = [0.0] + [x for x in d.values() if not math.isnan(x)]
        rows.append({"parameter": name, "low_value": side.get("low", {}).get("value"), "high_value": side.get("high", {}).get("value"),
                     "low": d["low"], "high": d["high"], "swing": max(vals) - min(vals)})
    out = pd.DataFrame(rows, columns=["parameter", "low_value", "high_value", "low", "high", "swing"])
    return out.sort_values(["swing", "parameter"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def _fmt_value(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "?"
    if isinstance(v, str):
        return v
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"


def gap_target(cfg: RunConfig) -> float:
    """The relative gap every solve of the sensitivity aims at: ``solver.mip_gap``, else the
    capacitated model's default (:data:`evsiting.stages.s5_model.CAPACITATED_MIP_GAP`, 0.5 %),
    else 0 (the coverage models solve to proven optimality)."""
    from evsiting.stages.s5_model import CAPACITATED_MIP_GAP

    if cfg.solver.mip_gap is not None:
        return float(cfg.solver.mip_gap)
    return CAPACITATED_MIP_GAP if cfg.model.type == "capacitated" else 0.0


def _above(gap, target: float):
    """Whether a relative gap (a number or a Series) is above the gap ``target``."""
    return gap > target * (1 + 1e-6) + 1e-9


def above_target(table: pd.DataFrame, target: float) -> pd.DataFrame:
    """Rows of ``sensitivity.csv`` whose solve ended above the gap ``target`` (stopped at the
    time limit): their change from the base carries up to that much of the objective as noise."""
    return table[_above(pd.to_numeric(table["gap"], errors="coerce"), target)]


def tornado_png(table: pd.DataFrame, title: str, *, gap_target: float | None = None) -> bytes:
    """``tornado.png``: two panels (capital cost, stations), one bar per varied parameter from
    the base to its low side (blue) and to its high side (orange), sorted by swing, each panel
    on its own order; labels ``name (low / high)``, with ``[gap up to x %]`` when a side's
    solve ended above twice ``gap_target`` (its bar may be that much noise). Parameters whose
    both sides solved and changed neither measure are left out (the title counts them).
    Deterministic bytes."""
    from matplotlib.figure import Figure

    from evsiting.report.html import _png

    still = [p for p in table.loc[table["side"] != "base", "parameter"].unique()
             if all(swings(table, col).set_index("parameter").loc[p, "swing"] == 0 for col, _, _ in TORNADO_PANELS)
             and not table.loc[table["parameter"] == p, "status"].eq("").any()]
    table = table[~table["parameter"].isin(still)]
    n = max(1, table.loc[table["side"] != "base", "parameter"].nunique())
    gaps = pd.to_numeric(table["gap"], errors="coerce").groupby(table["parameter"]).max()
    loose = {p: g for p, g in gaps.items() if gap_target is not None and g > 2 * gap_target + 1e-9}
    height = max(3.2, 1.6 + 0.24 * n)
    fig = Figure(figsize=(13.0, height), dpi=110)
    axes = fig.subplots(1, 2)
    for ax, (col, label, scale) in zip(axes, TORNADO_PANELS):
        sw = swings(table, col).iloc[::-1]
        y = np.arange(len(sw))
        ax.barh(y, np.nan_to_num(sw["low"].to_numpy(float) * scale), color="tab:blue", label="low value")
        ax.barh(y, np.nan_to_num(sw["high"].to_numpy(float) * scale), color="tab:orange", alpha=0.85, label="high value")
        failed = sw["low"].isna() | sw["high"].isna()
        ax.set_yticks(y, [f"{p} ({_fmt_value(lo)} / {_fmt_value(hi)})" + (" [a side failed]" if f else "")
                          + (f" [gap up to {100 * loose[p]:.1f} %]" if p in loose else "")
                          for p, lo, hi, f in zip(sw["parameter"], sw["low_value"], sw["high_value"], failed)], fontsize=7)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(label, fontsize=8.5)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.6, len(sw) - 0.4)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, ["parameter at its low value", "parameter at its high value"], loc="lower center", ncol=2, fontsize=8,
               frameon=False)
    note = f"; {len(still)} parameters that change neither are not drawn (see report.html)" if still else ""
    fig.suptitle(title + f"\nbars: change from the base plan; sorted by swing (largest at the top){note}", fontsize=10)
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1))
    return _png(fig)


#: Sites open in fewer than this share of the runs are drawn as small dots (most are sites that
#: only one or two variants have, e.g. the gap fill of a tighter standard).
RARE_SHARE = 0.1


def stability_png(stab: pd.DataFrame, adcodes: Sequence[int], title: str) -> bytes:
    """``stability.png``: every candidate site on the study area's prefecture and county
    boundaries (EPSG:32648), coloured by the share of the runs in which it is open and sized by
    its most ports in a run (sites open in under :data:`RARE_SHARE` of the runs: small dots;
    never open: grey crosses), with a scale bar and a north arrow."""
    import geopandas as gpd
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from evsiting.report.html import _boundaries, _north_arrow, _png, _scale_bar
    from evsiting.core.settings import PROJECTED_CRS, WGS84

    pts = gpd.GeoDataFrame(stab, geometry=gpd.points_from_xy(stab["lon"], stab["lat"]), crs=WGS84).to_crs(PROJECTED_CRS)
    fig = Figure(figsize=(9.0, 8.0), dpi=110)
    ax = fig.subplots()
    try:
        pref, cty = _boundaries(adcodes)
        cty.boundary.plot(ax=ax, color="0.75", lw=0.5)
        pref.boundary.plot(ax=ax, color="0.3", lw=1.0)
    except Exception:  # boundaries are decoration; a map without them still shows the sites
        pref = None
    never = pts["runs_open"] == 0
    rare = ~never & (pts["open_share"] < RARE_SHARE)
    ax.scatter(pts.geometry.x[never], pts.geometry.y[never], s=8, c="0.7", marker="x", lw=0.7, label="never open", zorder=3)
    ax.scatter(pts.geometry.x[rare], pts.geometry.y[rare], s=6, c="#b2182b", alpha=0.35, lw=0, zorder=3,
               label=f"open in fewer than {RARE_SHARE:.0%} of the runs ({int(rare.sum())})")
    opened = pts[~never & ~rare].sort_values("open_share")
    pmax = float(opened["ports_max"].max()) if len(opened) else 1.0
    sizes = 12 + 140 * np.sqrt(opened["ports_max"].to_numpy(float) / max(pmax, 1.0))
    sc = ax.scatter(opened.geometry.x, opened.geometry.y, s=sizes, c=opened["open_share"].to_numpy(float) * 100, cmap="RdYlGn",
                    norm=Normalize(0, 100), edgecolors="black", linewidths=0.4, zorder=4)
    every = opened["open_share"] >= 1 - 1e-9
    ax.scatter(opened.geometry.x[every], opened.geometry.y[every], s=sizes[every.to_numpy()] + 60, facecolors="none",
               edgecolors="black", linewidths=1.2, zorder=5, label=f"open in every run ({int(every.sum())})")
    cb = fig.colorbar(sc, ax=ax, shrink=0.7)
    cb.set_label("share of the runs in which the site is open (%)")
    xmin, ymin, xmax, ymax = (pref.total_bounds if pref is not None and len(pref) else pts.total_bounds)
    pad = 0.03 * max(xmax - xmin, ymax - ymin, 1.0)
    ax.set_xlim(xmin - pad, xmax + pad)
    ax.set_ylim(ymin - pad, ymax + pad)
    _scale_bar(ax, xmin - pad, xmax + pad, ymin - pad, ymax + pad)
    _north_arrow(ax)
    ax.set_aspect("equal")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper left", fontsize=8, title=f"size: most ports in a run (largest {pmax:,.0f})", title_fontsize=7.5)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


# --------------------------------------------------------------------------- report and folder

def _headline(sens: Sensitivity, stab: pd.DataFrame) -> str:
    """The report's first paragraph: what moves the answer most, and the no-regret sites."""
    from evsiting.report.html import _esc

    tab = sens.table()
    parts = []
    for col, what, fmt in (("capital_cny", "capital cost", lambda x: f"{x / 1e6:,.1f} M CNY"), ("stations", "the number of stations", lambda x: f"{x:,.0f}")):
        top = swings(tab, col).head(3)
        items = [f"{r.parameter} (swing {fmt(r.swing)})" for r in top.itertuples() if r.swing > 0]
        if items:
            parts.append(f"The assumptions that move {what} most: {', '.join(items)}.")
    every = int((stab["open_share"] >= 1 - 1e-9).sum())
    parts.append(f"{every} sites are open in every run; build these first.")
    target = gap_target(sens.cfg)
    loose = above_target(tab, target)
    if len(loose):
        g = pd.to_numeric(loose["gap"])
        parts.append(f"{len(loose)} of the {len(tab)} solves stopped at their time limit above the gap target of "
                     f"{100 * target:.2g} % (gaps {100 * g.min():.2f}-{100 * g.max():.2f} %, median {100 * g.median():.2f} %): "
                     "a change from the base smaller than its solves' gaps may be noise (see \"Failed or short solves\").")
    return "".join(f"<p><b>{_esc(p)}</b></p>" for p in parts)


def sensitivity_report(sens: Sensitivity, stab: pd.DataFrame, checks: list[dict], tornado: bytes, stability: bytes) -> str:
    """``report.html`` of a sensitivity folder (self-contained: :func:`evsiting.report.html.page`):
    the headline, the base plan, the tornado, the sites open in every run with the stability
    map, the physics checks (a broken one flagged), every solve, and what was not varied."""
    from evsiting.report.html import _esc, image_html, kv_table, page, table_html, warnings_html

    b, t = sens.base, sens.timings
    tab = sens.table()
    base_kv = [("stations", f"{b.stations:,}"), ("DC / AC ports", f"{b.ports_dc:,} / {b.ports_ac:,}"),
               ("capital cost", f"{b.capital_cny / 1e6:,.1f} M CNY"), ("public energy served", f"{100 * (b.served_share or 0):.1f} %"),
               ("NEVs per port", f"{b.nev_per_port}"), ("solver", f"{b.status}, gap {100 * (b.gap or 0):.2f} %"),
               ("solves", f"{len(sens.results)} variants ({t['variants_solved']} solved, {t['variants_failed']} failed, "
                          f"{t['reused']['base plan']} the base plan: the base value, or the same demand), executor {t['executor']}, {t['workers']} worker(s)"),
               ("time", f"{t['total']:,.0f} s in all; mean solve {t['mean_solve']} s ({t.get('mean_solve_cpu')} s CPU), "
                        f"longest {t['max_solve']} s ({t.get('max_solve_cpu')} s CPU)"),
               ("reused", f"demand kept in {t['reused']['demand']} solves, travel times in {t['reused']['travel times']}")]
    broken = [f"{c['check']}: {c['parameter']} low {_fmt_value(c['low'])}, base {_fmt_value(c['base'])}, high "
              f"{_fmt_value(c['high'])} ({c['measure']}; solver gaps {', '.join('?' if g is None else f'{100 * g:.2f} %' for g in c['gaps'])}); "
              f"can break by: {c['can_break_by']}"
              for c in checks if c["result"] == "BROKEN"]
    failed = [f"{r.variant.label}: {r.error}" for r in sens.results if not r.ok]
    target = gap_target(sens.cfg)
    short = [f"{r.variant.label}: {r.status}, gap {100 * r.gap:.2f} %"
             + (f" (above the gap target of {100 * target:.2g} %: stopped at the time limit)" if _above(r.gap, target) else "")
             for r in [sens.base, *sens.results]
             if r.ok and r.gap is not None and (r.status not in ("optimal", "feasible") or _above(r.gap, target))]
    every = stab[stab["open_share"] >= 1 - 1e-9]
    first_rows = [{"site": r["site_id"], "name": r.get("name"), "source": r.get("source"),
                   "ports": f"{_fmt_value(r['ports_min'])}-{_fmt_value(r['ports_max'])}"} for r in every.to_dict(orient="records")]
    check_rows = [{**c, "low": _fmt_value(c["low"]), "base": _fmt_value(c["base"]), "high": _fmt_value(c["high"])} for c in checks]
    runs = [{**r, "capital_cny": None if pd.isna(r["capital_cny"]) else f"{r['capital_cny'] / 1e6:,.1f} M",
             "served_share": None if pd.isna(r["served_share"]) else f"{100 * r['served_share']:.1f} %",
             "gap": None if pd.isna(r["gap"]) else f"{100 * r['gap']:.2f} %"} for r in tab.to_dict(orient="records")]
    run_cols = [(c, c.replace("_", " ")) for c in CSV_COLUMNS if c not in ("unit", "error")]
    not_varied = [f"{k}: {v}" for k, v in sorted(sens.skipped.items())]
    sw = {col: swings(tab, col).set_index("parameter")["swing"] for col, _, _ in TORNADO_PANELS}
    ok_both = {r.variant.parameter for r in sens.results if r.ok}
    still = sorted(p for p in ok_both if all(sw[col].get(p, 1) == 0 for col in sw))
    method = ("One parameter at a time is set to its low and then its high value (the low and high columns of "
              "data/parameters.csv), the others kept, and the plan solved again with the run's model and gap target; "
              "the adoption scenarios (low/high) and the service standard likewise. Demand and candidates are rebuilt only "
              "for parameters the demand stage reads, travel times only for those the travel-time stage reads or when the "
              "demand points or candidate sites changed. A capacitated solve starts from the base plan's stations, routed for "
              "the variant, when that is cheaper than the model's own LP-rounded start; the bound and the gap are the variant's own.")
    sections = [
        ("In short", _headline(sens, stab)),
        ("The base plan and the solves", kv_table(base_kv)),
        ("Which assumptions move the answer", image_html(tornado, "tornado: change of capital cost and stations per parameter")
         + (f"<p>No effect on the capital cost or the stations of this run ({len(still)}): {_esc(', '.join(still))}.</p>" if still else "")),
        (f"Sites to build first ({len(every)} open in every one of the {int(stab['runs'].iloc[0]) if len(stab) else 0} runs)",
         f"<p>{len(every)} sites are open in every run; build these first. {int((stab['open_share'] >= 0.9).sum())} are open in at "
         f"least 90 % of the runs; {int((stab['runs_open'] == 0).sum())} candidate sites are open in none.</p>"
         + image_html(stability, "map of the candidate sites by the share of runs in which they are open")
         + table_html(first_rows, [("site", "site"), ("name", "name"), ("source", "source"), ("ports", "ports (least-most)")])),
        (f"Checks of the physics ({len(broken)} broken, {sum(c['result'] == 'within the gap' for c in checks)} within the solver gap)", table_html(check_rows, [("check", "check"), ("parameter", "parameter"),
         ("measure", "measure"), ("low", "low"), ("base", "base"), ("high", "high"), ("result", "result"),
         ("can_break_by", "what can break it")])
         + warnings_html(broken)),
        (f"Failed or short solves ({len(failed) + len(short)})", warnings_html(failed + short)),
        ("Every solve (sensitivity.csv)", table_html(runs, run_cols)),
        ("How, and what was not varied", f"<p>{_esc(method)}</p>" + warnings_html(not_varied).replace('class="warn"', "")),
    ]
    std = sens.standard or f"{sens.cfg.model.service_standard_min:g} min"
    return page(f"{sens.run_name}: sensitivity", f"{sens.cfg.year}, {sens.cfg.demand.scenario} scenario, "
                f"service standard {std}, {sens.cfg.model.type} model", sections)


def stability_geojson(stab: pd.DataFrame):
    """``sites.geojson`` of the sensitivity folder: :func:`site_stability` as WGS84 points."""
    import geopandas as gpd

    from evsiting.core.settings import WGS84

    cols = [c for c in stab.columns if c not in ("lon", "lat")]
    return gpd.GeoDataFrame(stab[cols], geometry=gpd.points_from_xy(stab["lon"], stab["lat"]), crs=WGS84)


def write_sensitivity(sens: Sensitivity, out_dir: Path, manifest: dict) -> Path:
    """Write the sensitivity folder atomically (:func:`evsiting.io.writers.atomic_dir`):
    ``sensitivity.csv``, ``tornado.png``, ``sites.geojson``, ``stability.png``, ``report.html``,
    ``manifest.json`` (``manifest`` plus the checks, the stability counts and the timings).

    Raises:
        InputError: ``out_dir`` exists and is not an earlier output folder.
    """
    from evsiting.io.writers import atomic_dir, write_geojson, write_json

    tab = sens.table()
    runs = [r.sites for r in [sens.base, *sens.results] if r.ok and r.sites is not None]
    stab = site_stability(runs, sens.candidates)
    checks = physics_checks(tab)
    title = f"{sens.run_name}: one-at-a-time sensitivity ({len(sens.results)} variants)"
    tornado = tornado_png(tab, title, gap_target=gap_target(sens.cfg))
    stability = stability_png(stab, sens.adcodes, f"{sens.run_name}: share of the {len(runs)} runs in which each candidate site is open")
    manifest = {**manifest, "checks": checks, "stability": {"runs": len(runs), "open_in_every_run": int((stab["open_share"] >= 1 - 1e-9).sum()),
                "never_open": int((stab["runs_open"] == 0).sum()), "candidates": len(stab)},
                "sensitivity": {**manifest.get("sensitivity", {}), "timings_s": sens.timings, "not_varied": sens.skipped},
                "timings_s": {**manifest.get("timings_s", {}), **{k: v for k, v in sens.timings.items() if isinstance(v, float)}}}
    with atomic_dir(Path(out_dir)) as tmp:
        tab.to_csv(tmp / "sensitivity.csv", index=False, lineterminator="\n")
        (tmp / "tornado.png").write_bytes(tornado)
        (tmp / "stability.png").write_bytes(stability)
        write_geojson(stability_geojson(stab), tmp / "sites.geojson")  # RFC 7946, null never NaN
        (tmp / "report.html").write_text(sensitivity_report(sens, stab, checks, tornado, stability), encoding="utf-8")
        write_json(manifest, tmp / "manifest.json")
    return Path(out_dir)


def sensitivity_manifest(sens: Sensitivity, prefecture: str | None, names: Sequence[str] | None) -> dict:
    """``manifest.json`` of a sensitivity (as :meth:`evsiting.stages.context.RunContext.manifest`):
    config, data files, base parameters, travel times, solver, the variants and which stage
    reads each varied parameter, package versions."""
    from evsiting.stages.context import RunContext

    ctx = RunContext(Path("."), "--out", write=False)
    return ctx.manifest(
        sens.cfg, f"{sens.run_name}-sensitivity", prefecture_option=prefecture, **sens.record,
        solver={"name": sens.cfg.solver.name, "time_limit_s": sens.cfg.solver.time_limit_s, "mip_gap": sens.cfg.solver.mip_gap},
        sensitivity={"parameters_option": list(names) if names is not None else None,
                     "variants": [{"parameter": r.variant.parameter, "side": r.variant.side, "value": r.variant.value,
                                   "kind": r.variant.kind, "seconds": round(r.seconds, 3), "cpu_seconds": round(r.cpu_seconds, 3)}
                                  for r in sens.results]},
    )
