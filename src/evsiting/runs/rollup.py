"""Province roll-up of prefecture runs: are the nine local plans together enough for the
provincial target?

Reads the run folders of the prefecture runs (``summary.json``, ``sites.geojson``,
``demand.geojson``, as written by :func:`evsiting.runs.run.run`) and writes one folder with

- ``province_summary.json``: per prefecture and in total the NEVs, stations, DC and AC ports,
  power, NEVs covered and coverage share, energy served and unserved, NEVs per public charger
  and bus depots, the province NEV total against the target (``fleet_nev_stock_target``,
  700,000 in the parameter table, for ``fleet.target_year`` 2026) and the scenario year, and
  the reference ratios of the totals;
- ``province_summary.csv``: the same table, one row per prefecture and a ``total`` row;
- every GeoJSON layer present in all prefecture folders (``sites.geojson``,
  ``demand.geojson``, and others the pipeline writes), merged in adcode order (features copied
  unchanged, ids renumbered 0..n-1), with the QGIS style (``.qml``) of the first folder when
  it has one. Other formats (GeoPackage) are not merged;
- ``stations.csv`` and ``counties.csv`` of every prefecture run, one header and all rows, and
  the runs' ``zones`` and ``counties`` rows in ``province_summary.json``;
- ``map.png`` and ``report.html`` of the province (:mod:`evsiting.report.html`): every
  prefecture's stations over its demand cells, the totals, the prefecture table, every run's
  warnings and the validation of the totals.

Totals are sums of the prefecture values; coverage share and NEVs per public charger are
recomputed from the summed counts (not averaged). No timestamps, so the same folders give
the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from evsiting.report.warnings import run_warnings
from evsiting.core.errors import InputError
from evsiting.io.writers import atomic_dir, dumps_json
from evsiting.report.references import compare_to_references
from evsiting.report.reality import validate_summary
from evsiting.report.tables import stations_by_urban_population

#: Count fields of a prefecture block that add up to the province total.
SUM_FIELDS = ("nev_count", "energy_kwh_day", "stations", "ports_dc", "ports_ac", "power_kw", "nev_covered", "energy_served_kwh_day", "unserved_energy_kwh_day")
DEPOT_FIELDS = ("nev_buses", "depot_kwh_day", "ports_depot")
CSV_COLUMNS = ("adcode", "name_zh", "name_en", "run", "p") + SUM_FIELDS + ("coverage_share", "nev_per_public_charger") + DEPOT_FIELDS + ("stations_over_site_max", "warnings")


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise InputError("file not found", source=path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}", source=path) from None


def _ratios(block: dict) -> dict:
    nev, ports = block["nev_count"], block["ports_dc"] + block["ports_ac"]
    block["coverage_share"] = round(block["nev_covered"] / nev, 6) if nev else 0.0
    block["nev_per_public_charger"] = round(nev / ports, 3) if ports else None
    return block


def province_summary(summaries: list[dict], run_names: list[str], target_nev: float, target_year: int, missing: list[str] = ()) -> dict:
    """Combine prefecture run summaries.

    Args:
        summaries: ``summary.json`` dicts of prefecture runs (each with one prefecture).
        run_names: their folder names, same order.
        target_nev: the provincial NEV target (vehicles; parameter ``fleet_nev_stock_target``).
        target_year: the year of the target (``fleet.target_year``).
        missing: prefectures whose run failed (the roll-up is then marked incomplete).

    Returns:
        dict with ``year``, ``scenario``, ``complete``, ``missing``, ``target``,
        ``prefectures`` (sorted by adcode; each with ``stations_over_site_max`` and its number
        of ``warnings``), ``total``, ``reference_ratios``, ``validation``
        (:func:`evsiting.report.reality.validate_summary` of the total), ``stations_over_site_max``
        (sum over the runs), ``stations_by_urban_population``
        (:func:`evsiting.report.tables.stations_by_urban_population`, when the runs' rows carry
        ``urban_population``) and ``warnings``: every warning of every run
        (:func:`evsiting.report.warnings.run_warnings`), prefixed with its prefecture.

    Raises:
        InputError: no summaries, a summary without exactly one prefecture, runs of
            different years or scenarios, or a prefecture twice.
    """
    if not summaries:
        raise InputError("no prefecture runs to roll up", source="rollup")
    years = {s["year"] for s in summaries}
    scenarios = {s["scenario"] for s in summaries}
    if len(years) > 1 or len(scenarios) > 1:
        raise InputError(f"runs of different years {sorted(years)} or scenarios {sorted(scenarios)}", source="rollup")
    rows = []
    for s, name in zip(summaries, run_names):
        if len(s["prefectures"]) != 1:
            raise InputError(f"run '{name}' covers {len(s['prefectures'])} prefectures; the roll-up needs one per run", source="rollup")
        pref = s["prefectures"][0]
        depot = {k: 0 for k in DEPOT_FIELDS}
        for d in s.get("depots", []):
            for k in DEPOT_FIELDS:
                depot[k] += d[k]
        rows.append({"adcode": pref["adcode"], "name_zh": pref["name_zh"], "name_en": pref["name_en"], "run": name, "p": s.get("p"),
                     **{k: pref[k] for k in SUM_FIELDS}, "coverage_share": pref["coverage_share"],
                     "nev_per_public_charger": pref["nev_per_public_charger"], **depot,
                     "stations_over_site_max": int(s.get("stations_over_site_max") or 0),
                     "warnings": len(run_warnings(s))})
    rows.sort(key=lambda r: r["adcode"])
    codes = [r["adcode"] for r in rows]
    if len(set(codes)) != len(codes):
        raise InputError("a prefecture appears in more than one run", source="rollup")
    # numeric fields added to the run summary later (e.g. cost_cny) are summed too
    known = set(CSV_COLUMNS) | {"coverage_share", "nev_per_public_charger"}
    by_name = {s["prefectures"][0]["adcode"]: s for s in summaries}
    extra = [k for k, v in summaries[0]["prefectures"][0].items() if k not in known and isinstance(v, (int, float)) and not isinstance(v, bool)
             and all(isinstance(s["prefectures"][0].get(k), (int, float)) for s in summaries)]
    for r, s in zip(rows, [summaries[i] for i in sorted(range(len(summaries)), key=lambda i: summaries[i]["prefectures"][0]["adcode"])]):
        r.update({k: s["prefectures"][0][k] for k in extra})
    total = {"p": None if any(r["p"] is None for r in rows) else sum(r["p"] for r in rows)}
    for k in SUM_FIELDS + DEPOT_FIELDS + ("stations_over_site_max", "warnings") + tuple(extra):
        v = sum(r[k] for r in rows)
        total[k] = round(v, 3) if isinstance(v, float) else v
    _ratios(total)
    year, scenario = years.pop(), scenarios.pop()
    refs = compare_to_references(total["nev_count"], total["ports_dc"], total["ports_ac"]) if total["nev_count"] else None
    clock = [r["run"] for r, s in zip(rows, [summaries[i] for i in sorted(range(len(summaries)), key=lambda i: summaries[i]["prefectures"][0]["adcode"])])
             if not (s.get("determinism") or {}).get("deterministic", True)]
    urban = stations_by_urban_population(rows)
    out = {
        "year": year,
        "scenario": scenario,
        "complete": not missing,
        "missing": list(missing),
        # runs whose plan depends on the clock (stopped at a time limit): see their summary.json
        "determinism": {"deterministic": not clock, "runs_stopped_at_time_limit": clock},
        "target": {
            "nev_target": int(target_nev),
            "target_year": target_year,
            "scenario_year": year,
            "nev_total": total["nev_count"],
            "share_of_target": round(total["nev_count"] / target_nev, 6) if target_nev else None,
        },
        "summed_fields": list(SUM_FIELDS + DEPOT_FIELDS) + extra,
        "prefectures": rows,
        "total": total,
        "reference_ratios": [] if refs is None else refs.to_dict(orient="records"),
        "validation": validate_summary(total),
        "stations_over_site_max": total["stations_over_site_max"],
        "warnings": [f"{r['name_en']}: {w}" for r in rows for w in run_warnings(by_name[r["adcode"]])]
        + [f"no run for {m}: the roll-up is incomplete" for m in missing],
    }
    if urban is not None:
        out["stations_by_urban_population"] = urban
    return out


def summary_csv(summary: dict) -> str:
    """``province_summary.csv`` text: one row per prefecture and a ``total`` row."""
    buf = io.StringIO()
    cols = list(CSV_COLUMNS) + [k for k in summary.get("summed_fields", []) if k not in CSV_COLUMNS]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in summary["prefectures"]:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    tot = summary["total"]
    w.writerow({"adcode": "", "name_zh": "", "name_en": "total", "run": "", **{k: ("" if tot.get(k) is None else tot[k]) for k in cols if k in tot}})
    return buf.getvalue()


def merge_geojson(paths: list[Path]) -> str:
    """Concatenate the features of RFC 7946 files written by :func:`evsiting.io.writers.write_geojson`,
    renumbering ids; same layout (one feature per line)."""
    lines = []
    for path in paths:
        fc = _read_json(path)
        for f in fc.get("features", []):
            f = dict(f)
            f["id"] = len(lines)
            lines.append(json.dumps(f, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


def write_rollup(run_dirs: list[Path], out_dir: Path, target_nev: float, target_year: int, missing: list[str] = ()) -> dict:
    """Write the province roll-up of the prefecture folders ``run_dirs`` into ``out_dir``
    (atomically). See the module doc for the files.

    Returns:
        the province summary dict.

    Raises:
        InputError: a folder lacks ``summary.json`` or is malformed (see :func:`province_summary`).
    """
    run_dirs = [Path(d) for d in run_dirs]
    summaries = [_read_json(d / "summary.json") for d in run_dirs]
    summary = province_summary(summaries, [d.name for d in run_dirs], target_nev, target_year, missing)
    order = sorted(range(len(run_dirs)), key=lambda i: summaries[i]["prefectures"][0]["adcode"])
    for key in ("zones", "counties"):  # the prefecture runs' rows, in adcode order
        if all(key in summaries[i] for i in order):
            summary[key] = [r for i in order for r in summaries[i][key]]
    with atomic_dir(out_dir) as tmp:
        (tmp / "province_summary.json").write_text(dumps_json(summary), encoding="utf-8")
        (tmp / "province_summary.csv").write_text(summary_csv(summary), encoding="utf-8")
        layers = sorted(set.intersection(*[{p.name for p in d.glob("*.geojson")} for d in run_dirs]))
        for layer in layers:
            (tmp / layer).write_text(merge_geojson([run_dirs[i] / layer for i in order]), encoding="utf-8")
            style = run_dirs[order[0]] / (layer[: -len(".geojson")] + ".qml")
            if style.exists():
                (tmp / style.name).write_bytes(style.read_bytes())
        for table in ("stations.csv", "counties.csv"):  # one header, then every run's rows
            if all((d / table).exists() for d in run_dirs):
                texts = [(run_dirs[i] / table).read_text(encoding="utf-8-sig").splitlines(keepends=True) for i in order]
                body = texts[0][:1] + [line for t in texts for line in t[1:]]
                (tmp / table).write_text("".join(body), encoding="utf-8-sig")
        if "sites.geojson" in layers:
            write_province_report(tmp, summary, [run_dirs[i] for i in order], Path(out_dir).name)
    return summary


def write_province_report(folder: Path, summary: dict, run_dirs: list[Path], name: str = "province") -> None:
    """``map.png`` and ``report.html`` of the roll-up (:func:`evsiting.report.html.write_run_report`):
    the open stations of every prefecture run over their demand cells, the province totals,
    the prefecture table and every run's warnings."""
    import geopandas as gpd
    import pandas as pd

    from evsiting.report.html import write_run_report

    sites = gpd.GeoDataFrame(pd.concat([gpd.read_file(d / "sites.geojson") for d in run_dirs], ignore_index=True), crs="EPSG:4326")
    cells = None
    if all((d / "demand.geojson").exists() for d in run_dirs):
        cells = gpd.GeoDataFrame(pd.concat([gpd.read_file(d / "demand.geojson") for d in run_dirs], ignore_index=True), crs="EPSG:4326")
    stations = None
    if all((d / "stations.geojson").exists() for d in run_dirs):
        stations = gpd.GeoDataFrame(pd.concat([gpd.read_file(d / "stations.geojson") for d in run_dirs], ignore_index=True),
                                    crs="EPSG:4326")
    head = {"run": f"{name} (roll-up of {len(run_dirs)} prefecture runs)", "model": None, **summary}
    write_run_report(folder, head, None, sites, cells, warnings=summary.get("warnings", []), stations=stations)
