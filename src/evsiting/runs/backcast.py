"""Back-cast: the same pipeline for Guizhou's fleet in past years, beside the public piles
counted or planned then (issue #13 item 6).

Kept apart from :mod:`evsiting.report.reality`, which the pipeline's outputs stage uses, because it
runs the pipeline itself.
"""

from __future__ import annotations

import pandas as pd

from evsiting.core.errors import blames_config
from evsiting.config.checks import config_parameters
from evsiting.runs.run import run
from evsiting.sizing.ports import size_stations
from evsiting.report.reality import BACKCAST_COMPARISONS, _backcast_why, backcast_fleet, load_observed


@blames_config
def backcast(cfg, years=(2021, 2023), *, prefecture: str | None = None, solver: str | None = None,
             time_limit: float | None = None, observed: pd.DataFrame | None = None,
             progress=lambda msg: None) -> dict:
    """Run the same pipeline for Guizhou's fleet in past years and compare it with the public
    piles counted or planned then (issue #13 item 6).

    Each year runs :func:`evsiting.runs.run.run` (``write=False``) with the config's model
    (its default, MCLP today) and the fleet of :func:`backcast_fleet`: 79,000 EVs at the end
    of 2021 (observed), the fleet projection's value for 2023 (projected). The run's public
    ports (DC + AC, bus depots excluded) and installed kW are compared with the observed
    Guizhou rows of the same year (``data/observed_charging.csv``): 26,000 public piles at
    the end of 2021; 38,000 piles and 1.6 GW planned by 2023 (2021-2023 action plan). For a
    prefecture the province figures are scaled by its share of the province's NEVs.

    Args:
        cfg: run config (not changed).
        years: calendar years.
        prefecture: restrict to one prefecture (as :func:`evsiting.runs.run.run`).
        solver, time_limit: passed to the run.

    Returns:
        dict: ``table`` (DataFrame, one row per year and comparison: ``year``, ``run_year``,
        ``nev_province``, ``nev_source``, ``nev_area``, ``area_share``, ``stations``,
        ``ports_dc``, ``ports_ac``, ``power_kw`` (the run's stations), ``served_share``,
        ``ports_rule_all_demand`` and ``power_kw_rule_all_demand`` (the port rule on all the
        area's public energy, served or not), ``metric``, ``run_value`` (the run's ports or
        kW), ``rule_all_demand`` (the same for all demand), ``observed_province``,
        ``observed_area``, ``observed_date``, ``run_over_observed``,
        ``rule_all_demand_over_observed``, ``why``, ``source``) and ``runs`` (per year: the fleet, the run's ``total`` and
        ``validation`` records).

    Raises:
        InputError: as :func:`backcast_fleet` and the pipeline.
    """
    obs = load_observed() if observed is None else observed
    params = config_parameters(cfg)
    rows, runs = [], []
    for year in years:
        fleet = backcast_fleet(int(year), cfg, obs)
        c = cfg.model_copy(deep=True)
        c.year = fleet["run_year"]
        c.demand.nev_total = fleet["nev_total"]
        kind = fleet["nev_source"].split(":", 1)[0]  # observed / projected; the whole text is in the table
        size = f"{fleet['nev_total']:,} NEVs" if fleet["nev_total"] else f"the {cfg.demand.scenario} projection"
        progress(f"back-cast {year}: {kind} fleet at the end of {year}, {size} in Guizhou")
        res = run(c, prefecture=prefecture, solver=solver, time_limit=time_limit, write=False, progress=progress)
        s, tot = res.summary, res.summary["total"]
        ports = tot["ports_dc"] + tot["ports_ac"]
        info = {
            "year": int(year), "run_year": fleet["run_year"], "nev_province": int(s["nev_province"]),
            "nev_source": fleet["nev_source"], "nev_area": int(tot["nev_count"]),
            "area_share": tot["nev_count"] / s["nev_province"] if s["nev_province"] else 0.0,
            "stations": int(tot["stations"]), "ports_dc": int(tot["ports_dc"]), "ports_ac": int(tot["ports_ac"]),
            "power_kw": float(tot["power_kw"]),
            "served_share": tot["energy_served_kwh_day"] / tot["energy_kwh_day"] if tot["energy_kwh_day"] else 0.0,
        }
        # The port rule on all the area's public energy (no per-site rounding or peak check):
        # what the fleet needs at the calibrated utilisation, whatever the stations reach.
        e, e_dc = float(res.cells["energy_kwh_day"].sum()), float(res.cells["energy_dc_kwh_day"].sum())
        rule = size_stations([e], params, dc_energy_kwh_day=[min(e_dc, e)])
        info["ports_rule_all_demand"] = int(rule["ports_dc"][0] + rule["ports_ac"][0])
        info["power_kw_rule_all_demand"] = float(rule["power_kw"][0])
        run_q = {"ports": ports, "power_kw": float(tot["power_kw"])}
        all_q = {"ports": info["ports_rule_all_demand"], "power_kw": info["power_kw_rule_all_demand"]}
        why_in = {**info, "kw_per_port": tot["power_kw"] / ports if ports else 0.0}
        for metric, quantity in BACKCAST_COMPARISONS:
            for o in obs[(obs["metric"] == metric) & (obs["scope"] == "Guizhou") & obs["date"].str.startswith(str(year))].itertuples():
                area_value = o.value * info["area_share"]
                rows.append({**info, "metric": metric, "unit": o.unit, "run_value": run_q[quantity],
                             "rule_all_demand": all_q[quantity],
                             "observed_province": o.value, "observed_area": area_value, "observed_date": o.date,
                             "run_over_observed": run_q[quantity] / area_value if area_value else None,
                             "rule_all_demand_over_observed": all_q[quantity] / area_value if area_value else None,
                             "why": _backcast_why(metric, why_in), "source": o.source})
        runs.append({**fleet, "model": s.get("model"), "total": tot, "validation": s.get("validation", [])})
    return {"table": pd.DataFrame(rows), "runs": runs}


#: Short labels of the back-cast's comparisons (chart and report).
BACKCAST_LABELS = {"public_piles": "public piles (counted)", "planned_piles": "piles (planned)",
                   "planned_power_kw": "public kW (planned)"}


def backcast_chart(table: pd.DataFrame, title: str) -> bytes:
    """``backcast.png``: one bar group per year and comparison, the run's stations, the port
    rule on all the area's demand and the observed (or planned) figure scaled to the area, each
    bar labelled with its value. Deterministic PNG bytes.

    Args:
        table: :func:`backcast`'s ``table``.
        title: figure title.
    """
    import io

    import numpy as np
    from matplotlib.figure import Figure

    rows = table.to_dict(orient="records")
    fig = Figure(figsize=(max(6.0, 2.6 * len(rows) + 1.5), 5.0), dpi=110)
    ax = fig.subplots()
    x = np.arange(len(rows))
    bars = (("run_value", "run: stations built", "#1f4e9c"), ("rule_all_demand", "port rule on all demand", "#8fb3de"),
            ("observed_area", "observed or planned (area share)", "#555555"))
    width = 0.26
    for k, (col, label, colour) in enumerate(bars):
        vals = [float(r[col]) / (r["observed_area"] or 1.0) for r in rows]  # as a ratio to the observed figure
        pos = x + (k - 1) * width
        ax.bar(pos, vals, width, label=label, color=colour)
        for xi, v, r in zip(pos, vals, rows):
            ax.annotate(f"{float(r[col]):,.0f}", (xi, v), textcoords="offset points", xytext=(0, 2), ha="center", va="bottom",
                        fontsize=7)
    ax.axhline(1.0, color="#333333", lw=0.7, ls="--")
    ax.set_xticks(x, [f"{r['year']}: {BACKCAST_LABELS.get(r['metric'], r['metric'])}" for r in rows], fontsize=8)
    ax.set_ylabel("relative to the observed figure (observed = 1)")
    ax.set_ylim(0, max(1.2, max((float(r["run_value"]) / (r["observed_area"] or 1.0) for r in rows), default=1.0) * 1.25,
                       max((float(r["rule_all_demand"]) / (r["observed_area"] or 1.0) for r in rows), default=1.0) * 1.25))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def backcast_report(table: pd.DataFrame, runs: list[dict], title: str, chart: bytes) -> str:
    """``report.html`` of a back-cast folder: the caveat, the comparison table with why the
    figures differ and its sources, the fleet of each year and the chart (self-contained)."""
    from evsiting.report.html import caveat_html, image_html, page, table_html

    cols = [("year", "year"), ("metric", "compared"), ("nev_area", "NEVs (area)"), ("stations", "stations"),
            ("run_value", "run"), ("rule_all_demand", "port rule, all demand"), ("observed_area", "observed (area share)"),
            ("observed_date", "date"), ("run_over_observed", "run / observed"), ("why", "why they differ"), ("source", "source")]
    rows = [{**r, "metric": BACKCAST_LABELS.get(r["metric"], r["metric"])} for r in table.to_dict(orient="records")]
    fleets = [(str(r["year"]), r["nev_source"]) for r in runs]
    from evsiting.report.html import kv_table

    sections = [("The run beside the past", table_html(rows, cols)), ("Fleet of each year", kv_table(fleets)),
                ("Chart", image_html(chart, "back-cast chart"))]
    lines = ("The back-cast runs today's model on a past fleet: the demand positions come from the same census kernel "
             "around county seats, not from where the piles were built.",
             "Observed figures are province totals scaled by the area's share of the province's NEVs.")
    return page(title, "evsiting validate backcast: the same pipeline for Guizhou's past fleet, beside the public piles "
                "counted or planned then", sections, caveat_html(lines))
