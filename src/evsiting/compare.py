"""Scenario comparison: several run folders side by side.

Each run folder (written by ``evsiting run``) holds ``summary.json`` and ``manifest.json``;
the table takes the study-area totals: stations, DC/AC ports, coverage share, capital cost,
NEVs per public charger and unserved energy, with the run's year, adoption scenario and
service standard. Runs written before costs were reported get their cost from
``sites.geojson`` and the parameters in their manifest (:mod:`evsiting.costs`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

#: Columns of the comparison table.
COMPARE_COLUMNS = [
    "scenario_label", "run", "year", "scenario", "service_standard_min", "p", "nev_count", "stations",
    "ports_dc", "ports_ac", "ports_total", "power_kw", "coverage_share", "cost_cny", "nev_per_public_charger",
    "unserved_energy_kwh_day", "energy_kwh_day",
]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("not a run folder: no summary.json/manifest.json (write one with 'evsiting run')", source=path.parent) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON at line {exc.lineno}: {exc.msg}", source=path) from None


def _cost_from_sites(run_dir: Path, manifest: dict) -> float | None:
    from .costs import station_cost
    from .sweep import params_from_manifest

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


def load_run(run_dir: str | Path, label: str | None = None) -> dict:
    """One row of the comparison table from a run folder.

    Args:
        run_dir: folder with ``summary.json`` and ``manifest.json``.
        label: row label (default: the folder name).

    Raises:
        InputError: not a run folder or malformed files.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError("run folder not found", source=run_dir)
    s = _read_json(run_dir / "summary.json")
    m = _read_json(run_dir / "manifest.json")
    try:
        t = s["total"]
        cost = t.get("cost_cny")
        if cost is None:
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
            "unserved_energy_kwh_day": float(t["unserved_energy_kwh_day"]),
            "energy_kwh_day": float(t["energy_kwh_day"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"summary.json lacks the study-area totals ({exc})", source=run_dir / "summary.json") from None


def compare_runs(run_dirs: list[str | Path], labels: list[str] | None = None) -> pd.DataFrame:
    """The comparison table (:data:`COMPARE_COLUMNS`), one row per run folder, in the given
    order. Labels default to the folder names, made unique with the parent folder's name.

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
    return pd.DataFrame([load_run(d, lab) for d, lab in zip(dirs, labels)], columns=COMPARE_COLUMNS)


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
        "coverage": df["coverage_share"].map(lambda v: f"{v:.1%}"),
        "cost (M CNY)": df["cost_cny"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v / 1e6:,.1f}"),
        "NEVs per charger": df["nev_per_public_charger"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}"),
        "unserved (kWh/day)": df["unserved_energy_kwh_day"].map(lambda v: _plain("{:,.0f}", v)),
    }
    table = pd.DataFrame(rows).T
    table.columns = df["scenario_label"].tolist()
    return table.to_string()


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
    """``map.png`` of a comparison: one map per run folder (its open stations over its demand
    cells, same port scale), each with its headline; None when a folder has no ``sites.geojson``."""
    import geopandas as gpd

    from .report import MapPanel, headline, map_png, open_sites

    panels = []
    for (_, row), d in zip(df.iterrows(), run_dirs):
        d = Path(d)
        if not (d / "sites.geojson").exists():
            return None
        s = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        sites = open_sites(gpd.read_file(d / "sites.geojson"))
        cells = gpd.read_file(d / "demand.geojson") if (d / "demand.geojson").exists() else None
        prefs = [int(p["adcode"]) for p in s.get("prefectures", [])]
        head = headline(s["total"], row["cost_cny"] if pd.notna(row["cost_cny"]) else None)
        panels.append(MapPanel(str(row["scenario_label"]), sites, cells, prefs, head))
    return map_png(panels, comparison_title(df))


def compare_report(df: pd.DataFrame, chart: bytes, map_bytes: bytes | None, warnings: dict[str, list[str]]) -> str:
    """``report.html`` of a comparison: the table, every run's warnings, the map and the chart."""
    from .report import image_html, page, table_html, warnings_html

    cols = [("scenario_label", "run"), ("year", "year"), ("scenario", "scenario"), ("service_standard_min", "standard (min)"),
            ("nev_count", "NEVs"), ("stations", "stations"), ("ports_dc", "DC ports"), ("ports_ac", "AC ports"),
            ("coverage_share", "NEVs within standard"), ("cost_cny", "cost CNY"), ("nev_per_public_charger", "NEVs per port"),
            ("unserved_energy_kwh_day", "unserved kWh/day")]
    rows = []
    for r in df.to_dict(orient="records"):
        r = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        r["coverage_share"] = f"{100 * r['coverage_share']:.1f} %"
        rows.append(r)
    lines = [f"{name}: {w}" for name, ws in warnings.items() for w in ws]
    sections = [("Runs side by side", table_html(rows, cols)), (f"Warnings ({len(lines)})", warnings_html(lines))]
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
    from .alerts import run_warnings
    from .outputs import MARKER
    from .report import write_bytes_atomic

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
