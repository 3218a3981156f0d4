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
        "service standard (min)": df["service_standard_min"].map(lambda v: f"{v:g}"),
        "NEVs": df["nev_count"].map(lambda v: f"{v:,}"),
        "stations": df["stations"].map(lambda v: f"{v:,}"),
        "DC ports": df["ports_dc"].map(lambda v: f"{v:,}"),
        "AC ports": df["ports_ac"].map(lambda v: f"{v:,}"),
        "coverage": df["coverage_share"].map(lambda v: f"{v:.1%}"),
        "cost (M CNY)": df["cost_cny"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v / 1e6:,.1f}"),
        "NEVs per charger": df["nev_per_public_charger"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}"),
        "unserved (kWh/day)": df["unserved_energy_kwh_day"].map(lambda v: f"{v:,.0f}"),
    }
    table = pd.DataFrame(rows).T
    table.columns = df["scenario_label"].tolist()
    return table.to_string()


def plot_comparison(df: pd.DataFrame, path: Path) -> Path:
    """Bar chart PNG: stations, ports, coverage (%) and cost (million CNY) per scenario."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    labels = df["scenario_label"].tolist()
    x = np.arange(len(df))
    fig = Figure(figsize=(max(7.0, 1.3 * len(df) + 3), 6), dpi=120)
    axes = fig.subplots(2, 2)
    panels = [
        ("stations", df["stations"], "tab:blue"),
        ("charging ports (DC + AC)", df["ports_total"], "tab:purple"),
        ("NEVs covered (%)", 100 * df["coverage_share"], "tab:green"),
        ("capital cost (million CNY)", df["cost_cny"].astype(float).fillna(0) / 1e6, "tab:red"),
    ]
    for ax, (title, values, color) in zip(axes.ravel(), panels):
        ax.bar(x, values, color=color)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    axes[1, 0].set_ylim(0, 100)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    return Path(path)


def write_comparison(df: pd.DataFrame, out_dir: Path, name: str = "comparison") -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.png`` into ``out_dir`` (created if needed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / f"{name}.csv"
    df.to_csv(csv, index=False, lineterminator="\n")
    png = plot_comparison(df, out_dir / f"{name}.png")
    return csv, png
