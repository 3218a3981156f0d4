"""Scenario comparison: several run folders side by side.

Each run folder (written by ``evsiting run``) holds ``summary.json`` and ``manifest.json``;
the table takes the study-area totals: stations, DC/AC ports, coverage share, capital cost,
NEVs per public charger and unserved energy, with the run's year, adoption scenario and
service standard. Runs written before costs were reported get their cost from
``sites.geojson`` and the parameters in their manifest (:mod:`evsiting.sizing.costs`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from evsiting.core.errors import InputError

#: Columns of the comparison table.
COMPARE_COLUMNS = [
    "scenario_label", "run", "year", "scenario", "service_standard_min", "p", "nev_count", "stations",
    "ports_dc", "ports_ac", "ports_total", "power_kw", "coverage_share", "cost_cny", "nev_per_public_charger",
    "unserved_energy_kwh_day", "energy_kwh_day",
]


#: Per-zone figures added to the table for each urban zone of the runs (``<figure>_<zone>``).
ZONE_FIGURES = ("stations", "ports_per_station_median", "access_min_mean", "access_min_p95", "nev_within_standard_share")


def zone_totals(summary: dict) -> dict:
    """``<figure>_<zone>`` of :data:`ZONE_FIGURES` for each zone over the run's study area (the
    ``zones`` rows of prefecture ``all``, or of its one prefecture); {} for runs without them."""
    zones = summary.get("zones") or []
    rows = [z for z in zones if z.get("prefecture_adcode") is None] or zones
    return {f"{k}_{z['zone']}": z.get(k) for z in rows for k in ZONE_FIGURES}


def _nz(v: float) -> float:
    """``v`` with a negative zero made 0.0 (``-0.0`` in a CSV reads as a loss)."""
    return float(v) + 0.0


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("not a run folder: no summary.json/manifest.json (write one with 'evsiting run')", source=path.parent) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON at line {exc.lineno}: {exc.msg}", source=path) from None


def _cost_from_sites(run_dir: Path, manifest: dict) -> float | None:
    from evsiting.sizing.costs import station_cost
    from evsiting.runs.sweep import params_from_manifest

    path = run_dir / "sites.geojson"
    if not path.exists():
        return None
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    props = [f["properties"] for f in feats if f["properties"].get("facility_type", "chosen") in ("chosen", "required")]
    try:
        params = params_from_manifest(manifest)
        return float(station_cost([p["ports_dc"] for p in props], [p["ports_ac"] for p in props], params).sum())
    except (InputError, KeyError):  # no cost parameters in that run's table
        return None


def _block(s: dict, prefecture: int | None) -> dict:
    """The study-area totals, or the block of one prefecture (adcode) of a run's summary."""
    if prefecture is None:
        return s["total"]
    for b in s.get("prefectures", []):
        if int(b["adcode"]) == int(prefecture):
            return b
    raise KeyError(f"prefecture {prefecture}")


def load_run(run_dir: str | Path, label: str | None = None, prefecture: int | None = None, year: int | None = None) -> dict:
    """One row of the comparison table from a run folder.

    Args:
        run_dir: folder with ``summary.json`` and ``manifest.json`` (a run, or a plan: then the
            row of ``year``, default its last year).
        label: row label (default: the folder name).
        prefecture: adcode: the row of that prefecture's part of a run over several.

    Raises:
        InputError: not a run folder or malformed files.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError("run folder not found", source=run_dir)
    s = _read_json(run_dir / "summary.json")
    m = _read_json(run_dir / "manifest.json")
    if "by_year" in s and "total" not in s:
        return _plan_row(s, label or run_dir.name, year)
    try:
        t = _block(s, prefecture)
        cost = t.get("cost_cny")
        if cost is None and prefecture is None:
            cost = _cost_from_sites(run_dir, m)
        ports = int(t["ports_dc"]) + int(t["ports_ac"])
        return {
            "scenario_label": label or run_dir.name,
            "run": s.get("run"),
            "year": s.get("year"),
            "scenario": s.get("scenario"),
            "service_standard_min": s.get("service_standard_min"),
            "p": s.get("p"),
            "nev_count": int(t["nev_count"]),
            "stations": int(t["stations"]),
            "ports_dc": int(t["ports_dc"]),
            "ports_ac": int(t["ports_ac"]),
            "ports_total": ports,
            "power_kw": float(t["power_kw"]),
            "coverage_share": float(t["coverage_share"]),
            "cost_cny": None if cost is None else round(float(cost), 2),
            "nev_per_public_charger": t.get("nev_per_public_charger"),
            "unserved_energy_kwh_day": _nz(t["unserved_energy_kwh_day"]),
            "energy_kwh_day": _nz(t["energy_kwh_day"]),
            **zone_totals(s if prefecture is None else {"zones": [z for z in s.get("zones") or []
                                                                  if z.get("prefecture_adcode") == int(prefecture)]}),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"summary.json lacks the study-area totals ({exc})", source=run_dir / "summary.json") from None


def _plan_row(s: dict, label: str, year: int | None) -> dict:
    """The row of a plan folder's year (``by_year``; default its last year)."""
    rows = {int(r["year"]): r for r in s["by_year"]}
    y = int(year) if year is not None and int(year) in rows else max(rows)
    r = rows[y]
    spend = sum(float(x["spend_cny"]) for x in s["by_year"] if int(x["year"]) <= y)
    ports = int(r["ports_dc"]) + int(r["ports_ac"])
    return {"scenario_label": label, "run": s.get("run"), "year": y, "scenario": s.get("scenario"),
            "service_standard_min": s.get("service_standard_min"), "p": None, "nev_count": int(r["nev_study_area"]),
            "stations": int(r["stations"]), "ports_dc": int(r["ports_dc"]), "ports_ac": int(r["ports_ac"]),
            "ports_total": ports, "power_kw": None, "coverage_share": None, "cost_cny": round(spend, 2),
            "nev_per_public_charger": round(int(r["nev_study_area"]) / ports, 3) if ports else None,
            "unserved_energy_kwh_day": _nz(float(r["demand_kwh_day"]) - float(r["served_kwh_day"])),
            "energy_kwh_day": _nz(r["demand_kwh_day"])}


def _sites_in(run_dir: Path, prefecture: int) -> int | None:
    """Candidate sites of a run folder in one prefecture (``sites.geojson``), or None."""
    path = Path(run_dir) / "sites.geojson"
    if not path.exists():
        return None
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    return sum(1 for f in feats if int(f["properties"].get("prefecture_adcode") or 0) == int(prefecture))


def _solver_slack(run_dir: Path) -> float | None:
    """CNY between a capacitated run's plan and its proven bound (``manifest.json``), or None."""
    try:
        m = json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8"))["solver"]
        return max(float(m["objective"]) - float(m["bound"]), 0.0)
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError):
        return None


def _pct(a: float, b: float) -> str:
    """``a`` against ``b`` in per cent, signed (one decimal below 10 %; never ``-0``)."""
    if not b:
        return "-"
    x = 100.0 * (a - b) / b
    text = f"{x:+.1f} %" if abs(x) < 10 else f"{x:+.0f} %"
    return "0 %" if text.lstrip("+-").strip(" %0.") == "" else text


def one_answer_notes(dirs: list[Path], labels: list[str]) -> tuple[list[tuple[Path, str, int | None, int | None]], list[str]]:
    """For the runs of one prefecture among ``dirs``: the extra rows to compare (its part of
    each run over several prefectures, the same year of each plan) and, in figures, why the
    answers differ: service across the prefecture border and the candidate sites (the province
    run), the plan's coarser demand cells and nesting in later years.

    Returns:
        (extra rows as (folder, label, prefecture adcode, year), note lines).
    """
    sums = [json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in dirs]
    extra, notes = [], []
    for d, lab, s in zip(dirs, labels, sums):
        prefs = s.get("prefectures") or []
        if "total" not in s or len(prefs) != 1:
            continue
        own, code, name = s["total"], int(prefs[0]["adcode"]), prefs[0]["name_en"]
        for d2, lab2, s2 in zip(dirs, labels, sums):
            if d2 == d:
                continue
            if "total" in s2 and len(s2.get("prefectures") or []) > 1 and any(int(p["adcode"]) == code for p in s2["prefectures"]):
                part = _block(s2, code)
                extra.append((d2, f"{lab2} [{name}]", code, None))
                across = part.get("energy_served_in_other_prefectures_kwh_day")
                serves = part.get("energy_served_for_other_prefectures_kwh_day")
                line = (f"{name} {s.get('year')}: {lab} {own['stations']:,} stations / {own['ports_dc']:,} DC ports; its part of "
                        f"{lab2} {part['stations']:,} / {part['ports_dc']:,} ({_pct(part['stations'], own['stations'])}, "
                        f"{_pct(part['ports_dc'], own['ports_dc'])}). Causes: ")
                causes = []
                if across is not None:
                    causes.append(f"in {lab2} {across:,.0f} kWh/day of {name}'s {part['energy_kwh_day']:,.0f} is served at stations "
                                  f"across its border and its stations serve {serves:,.0f} kWh/day for its neighbours "
                                  f"(a one-prefecture run can do neither): net {across - serves:,.0f} kWh/day go across, "
                                  f"{_pct(part['energy_kwh_day'] - across + serves, part['energy_kwh_day'])} energy at {name}'s "
                                  f"stations against its own run")
                else:
                    causes.append(f"{lab2} predates the cross-border figures: rerun it to see them")
                n1, n2 = _sites_in(d, code), _sites_in(d2, code)
                if n1 is not None and n2 is not None:
                    causes.append(f"candidate sites in {name}: {n1:,} in {lab}, {n2:,} in {lab2} (the gap and capacity fill "
                                  "place sites for the whole study area)")
                slack = _solver_slack(d2)
                if slack is not None and own.get("cost_cny") is not None and part.get("cost_cny") is not None:
                    causes.append(f"{lab2}'s solve stopped within its proven gap: its plan may cost up to {slack / 1e6:,.1f} M CNY "
                                  f"more than the least over its whole study area, against {abs(part['cost_cny'] - own['cost_cny']) / 1e6:,.1f} "
                                  f"M CNY between the two answers for {name} (so station counts inside one prefecture are not "
                                  "pinned down by the province's optimum)")
                if own["nev_count"] != part["nev_count"]:
                    causes.append(f"NEVs {own['nev_count']:,} vs {part['nev_count']:,}")
                notes.append(line + "; ".join(causes))
            if "by_year" in s2 and "total" not in s2 and s2.get("study_prefectures") == [name]:
                rows = {int(r["year"]): r for r in s2["by_year"]}
                if int(s.get("year")) in rows:
                    r = rows[int(s["year"])]
                    extra.append((d2, f"{lab2} [{s['year']}]", None, int(s["year"])))
                    notes.append(f"{name} {s['year']}: {lab} {own['stations']:,} stations / {own['ports_dc']:,} DC ports; plan "
                                 f"{lab2} that year {int(r['stations']):,} / {int(r['ports_dc']):,} "
                                 f"({_pct(int(r['stations']), own['stations'])}, {_pct(int(r['ports_dc']), own['ports_dc'])}). "
                                 f"Causes: the plan's demand cells are H3 resolution {s2.get('h3_resolution')} (coarser cells, "
                                 f"fewer and larger candidate sites) and its {s['year']} network is the least-cost part of its "
                                 f"{max(rows)} network (built last year first), not the least-cost network for {s['year']} alone")
    return extra, notes


def compare_runs(run_dirs: list[str | Path], labels: list[str] | None = None) -> pd.DataFrame:
    """The comparison table (:data:`COMPARE_COLUMNS`), one row per run folder, in the given
    order. Labels default to the folder names, made unique with the parent folder's name.
    Where one folder is a prefecture's run, rows follow for its part of each run over several
    prefectures and for its year of each plan, and ``df.attrs["notes"]`` says in figures why
    they differ (:func:`one_answer_notes`).

    Raises:
        InputError: no folders, labels of the wrong length, a folder that is not a run.
    """
    if not run_dirs:
        raise InputError("give at least one run folder", field="RUN_DIR")
    dirs = [Path(d) for d in run_dirs]
    if labels is None:
        names = [d.name for d in dirs]
        labels = [f"{d.parent.name}/{d.name}" if names.count(d.name) > 1 else d.name for d in dirs]
    elif len(labels) != len(dirs):
        raise InputError(f"{len(labels)} labels for {len(dirs)} run folders", field="--label")
    rows = [load_run(d, lab) for d, lab in zip(dirs, labels)]
    try:
        extra, notes = one_answer_notes(dirs, list(labels))
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError):
        extra, notes = [], []
    rows += [load_run(d, lab, prefecture=code, year=year) for d, lab, code, year in extra]
    cols = list(dict.fromkeys(k for r in rows for k in r if k not in COMPARE_COLUMNS))  # per-zone figures
    df = pd.DataFrame(rows, columns=COMPARE_COLUMNS + cols)
    df.attrs["notes"] = notes
    df.attrs["folders"] = dirs + [d for d, _, _, _ in extra]
    return df


def format_table(df: pd.DataFrame) -> str:
    """The table as aligned text (scenarios as columns, measures as rows)."""
    rows = {
        "year": df["year"].astype(str),
        "scenario": df["scenario"].astype(str),
        "service standard (min)": df["service_standard_min"].map(
            lambda v: "by zone" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:g}"),
        "NEVs": df["nev_count"].map(lambda v: f"{v:,}"),
        "stations": df["stations"].map(lambda v: f"{v:,}"),
        "DC ports": df["ports_dc"].map(lambda v: f"{v:,}"),
        "AC ports": df["ports_ac"].map(lambda v: f"{v:,}"),
        "coverage": df["coverage_share"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1%}"),
        "cost (M CNY)": df["cost_cny"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v / 1e6:,.1f}"),
        "NEVs per charger": df["nev_per_public_charger"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}"),
        "unserved (kWh/day)": df["unserved_energy_kwh_day"].map(lambda v: _plain("{:,.0f}", v)),
    }
    labels = {"stations": "stations", "ports_per_station_median": "ports/station (median)",
              "access_min_mean": "access min (mean)", "access_min_p95": "access min (95th pct)",
              "nev_within_standard_share": "NEVs within standard"}
    for col in df.columns[len(COMPARE_COLUMNS):]:
        fig = next(f for f in ZONE_FIGURES if col.startswith(f + "_"))
        fmt = "{:.1%}" if fig == "nev_within_standard_share" else "{:,.1f}" if fig.startswith("access") else "{:,.0f}"
        rows[f"{col[len(fig) + 1:]}: {labels[fig]}"] = df[col].map(lambda v, f=fmt: "-" if v is None or pd.isna(v) else f.format(v))
    table = pd.DataFrame(rows).T
    table.columns = df["scenario_label"].tolist()
    notes = df.attrs.get("notes") or []
    return table.to_string() + "".join(f"\nwhy they differ: {n}" for n in notes)


#: Panels of ``comparison.png``: (column, title, axis label, scale, value format, colour).
COMPARISON_PANELS = [
    ("stations", "Stations", "stations", 1.0, "{:,.0f}", "tab:blue"),
    ("ports_total", "Charging ports (DC + AC)", "ports", 1.0, "{:,.0f}", "tab:purple"),
    ("coverage_share", "NEVs within the service standard", "share of NEVs (%)", 100.0, "{:.1f} %", "tab:green"),
    ("cost_cny", "Capital cost", "million CNY", 1e-6, "{:,.1f}", "tab:red"),
    ("nev_per_public_charger", "NEVs per public charger", "NEVs per port", 1.0, "{:.1f}", "tab:orange"),
    ("unserved_energy_kwh_day", "Unserved public charging energy", "kWh/day", 1.0, "{:,.0f}", "tab:gray"),
]


def _plain(fmt: str, v: float) -> str:
    """``fmt.format(v)`` without a minus sign on a value that rounds to zero (``-0``)."""
    text = fmt.format(v)
    return fmt.format(0.0) if text.lstrip("-").strip("0.,% ") == "" else text


def plot_comparison(df: pd.DataFrame, path: Path, title: str = "Scenarios compared") -> Path:
    """``comparison.png``: one bar panel per measure the ``compare`` command lists
    (:data:`COMPARISON_PANELS`: stations, ports, coverage %, cost in million CNY, NEVs per
    public charger, unserved kWh/day), each bar labelled with its value, the runs on the x axis,
    a figure title. A value a run lacks (cost, NEVs per charger) is drawn as no bar, labelled
    "n/a". Deterministic bytes.
    """
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    labels = df["scenario_label"].astype(str).tolist()
    x = np.arange(len(df))
    long = max((len(t) for t in labels), default=0) > 12 or len(df) > 4
    fig = Figure(figsize=(max(10.0, 1.2 * len(df) * 3 + 2), 7.4 if long else 6.8), dpi=110)
    axes = fig.subplots(2, 3)
    for ax, (col, title_, ylabel, scale, fmt, color) in zip(axes.ravel(), COMPARISON_PANELS):
        raw = pd.to_numeric(df[col], errors="coerce").astype(float) * scale
        values = raw.fillna(0.0).to_numpy()
        ax.bar(x, values, color=color, width=0.6)
        top = float(np.nanmax(raw)) if raw.notna().any() else 0.0
        ax.set_ylim(0, (100.0 * 1.12) if col == "coverage_share" else max(top * 1.18, 1.0))
        for xi, v in zip(x, raw):
            ax.annotate("n/a" if pd.isna(v) else _plain(fmt, v), (xi, 0 if pd.isna(v) else v), textcoords="offset points",
                        xytext=(0, 3), ha="center", va="bottom", fontsize=8)
        ax.set_title(title_, fontsize=9.5)
        ax.set_ylabel(ylabel, fontsize=8.5)
        ax.set_xticks(x, labels, rotation=25 if long else 0, ha="right" if long else "center", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return Path(path)


def comparison_title(df: pd.DataFrame) -> str:
    """The chart and report title: the runs compared, with what differs between them."""
    parts = []
    for col, name in (("year", "year"), ("scenario", "scenario"), ("service_standard_min", "standard (min)")):
        vals = [v for v in pd.unique(df[col]) if v is not None and not (isinstance(v, float) and np.isnan(v))]
        if len(vals) > 1:
            parts.append(f"{name}: " + " / ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals))
    labels = [str(v) for v in df["scenario_label"]]
    named = f": {' vs '.join(labels)}" if len(labels) <= 4 and sum(map(len, labels)) <= 70 else ""
    return f"{len(df)} runs compared{named}" + (f" ({'; '.join(parts)})" if parts else "")


def compare_map_png(df: pd.DataFrame, run_dirs: list[Path]) -> bytes | None:
    """``map.png`` of a comparison: one map per run folder (its stations, ``stations.geojson``,
    over its demand cells, same port scale, as the run's own map), each with its headline; a plan folder (no ``sites.geojson``) gets no
    panel; None when no folder has one."""
    import geopandas as gpd

    from evsiting.report.html import MapPanel, headline, map_png, open_sites

    panels = []
    for (_, row), d in zip(df.iterrows(), run_dirs):
        d = Path(d)
        if not (d / "sites.geojson").exists():  # a plan folder: no map panel of its own
            continue
        s = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        # the stations as the run's own map.png draws them (each of a site's stations at its own
        # position); a folder written before stations.geojson existed: its open sites
        sites = (gpd.read_file(d / "stations.geojson") if (d / "stations.geojson").exists()
                 else open_sites(gpd.read_file(d / "sites.geojson")))
        cells = gpd.read_file(d / "demand.geojson") if (d / "demand.geojson").exists() else None
        prefs = [int(p["adcode"]) for p in s.get("prefectures", [])]
        head = headline(s["total"], row["cost_cny"] if pd.notna(row["cost_cny"]) else None)
        panels.append(MapPanel(str(row["scenario_label"]), sites, cells, prefs, head))
    return map_png(panels, comparison_title(df)) if panels else None


def compare_report(df: pd.DataFrame, chart: bytes, map_bytes: bytes | None, warnings: dict[str, list[str]]) -> str:
    """``report.html`` of a comparison: the table, every run's warnings, the map and the chart."""
    from evsiting.report.html import image_html, page, table_html, warnings_html

    cols = [("scenario_label", "run"), ("year", "year"), ("scenario", "scenario"), ("service_standard_min", "standard (min)"),
            ("nev_count", "NEVs"), ("stations", "stations"), ("ports_dc", "DC ports"), ("ports_ac", "AC ports"),
            ("coverage_share", "NEVs within standard"), ("cost_cny", "cost CNY"), ("nev_per_public_charger", "NEVs per port"),
            ("unserved_energy_kwh_day", "unserved kWh/day")]
    zone_labels = {"stations": "stations", "ports_per_station_median": "ports per station (median)",
                   "access_min_mean": "access min (mean)", "access_min_p95": "access min (95th pct)",
                   "nev_within_standard_share": "NEVs within standard"}
    for c in df.columns[len(COMPARE_COLUMNS):]:  # per-zone figures
        fig = next(f for f in ZONE_FIGURES if c.startswith(f + "_"))
        cols.append((c, f"{c[len(fig) + 1:]}: {zone_labels[fig]}"))
    rows = []
    for r in df.to_dict(orient="records"):
        r = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        r["coverage_share"] = "-" if r["coverage_share"] is None else f"{100 * r['coverage_share']:.1f} %"
        for k in [k for k in r if k.startswith("nev_within_standard_share_") and r[k] is not None]:
            r[k] = f"{100 * r[k]:.1f} %"
        rows.append(r)
    lines = [f"{name}: {w}" for name, ws in warnings.items() for w in ws]
    sections = [("Runs side by side", table_html(rows, cols)), (f"Warnings ({len(lines)})", warnings_html(lines))]
    if df.attrs.get("notes"):
        sections.insert(1, ("Why the answers for one place and year differ", warnings_html(df.attrs["notes"]).replace(' class="warn"', "")))
    if map_bytes is not None:
        sections.append(("Map", image_html(map_bytes, "the runs' stations")))
    sections.append(("Chart", image_html(chart, "comparison chart")))
    return page(comparison_title(df), "evsiting compare", sections)


def write_comparison(df: pd.DataFrame, out_dir: Path, name: str = "comparison", run_dirs: list[Path] | None = None) -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.png`` into ``out_dir`` (created if needed), and with
    ``run_dirs`` (the compared folders, in ``df`` order) ``map.png`` and ``report.html``. Each
    file is written to a temporary file and renamed (the folder may be the working directory,
    so it is not replaced as a whole); the names are added to ``.evsiting-outputs`` when the
    folder is an evsiting output folder.

    Returns:
        (csv path, png path).
    """
    from evsiting.report.warnings import run_warnings
    from evsiting.io.writers import MARKER
    from evsiting.report.html import write_bytes_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / f"{name}.csv"
    write_bytes_atomic(csv, df.to_csv(index=False, lineterminator="\n"))
    png = out_dir / f"{name}.png"
    tmp = out_dir / f".{name}.png.partial"
    try:
        plot_comparison(df, tmp, comparison_title(df))
        chart = tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    write_bytes_atomic(png, chart)
    written = [csv.name, png.name]
    if run_dirs is not None:
        map_bytes = compare_map_png(df, run_dirs)
        warns = {}
        for label, d in zip(df["scenario_label"], run_dirs):
            try:
                warns[str(label)] = run_warnings(json.loads((Path(d) / "summary.json").read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                warns[str(label)] = []
        if map_bytes is not None:
            write_bytes_atomic(out_dir / "map.png", map_bytes)
            written.append("map.png")
        write_bytes_atomic(out_dir / "report.html", compare_report(df, chart, map_bytes, warns))
        written.append("report.html")
    marker = out_dir / MARKER
    if marker.is_file():  # an output folder: keep its list of evsiting's files complete
        names = sorted(set(marker.read_text(encoding="utf-8").split()) | set(written))
        write_bytes_atomic(marker, "".join(f"{n}\n" for n in names))
    return csv, png
