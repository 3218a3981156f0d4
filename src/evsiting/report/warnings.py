"""The warnings of a run, as text lines that travel with its summary.

A run's warnings (``summary["warnings"]``) are computed from the summary itself, so that the
console, the province roll-up, the sweep tables and ``report.html`` say the same thing, and a
summary written before the list existed still gives its warnings (:func:`run_warnings`).
"""

from __future__ import annotations



def standard_label(summary: dict) -> str:
    """The run's service standard in words: ``15 min``, or ``by zone: core 1 km, urban 2 km,
    town 3 km, rural 15 min`` (``service_standard`` of the summary; older summaries have
    ``service_standard_min`` only)."""
    if summary.get("service_standard"):
        return str(summary["service_standard"])
    v = summary.get("service_standard_min")
    return f"{v:g} min" if isinstance(v, (int, float)) else "?"

def over_site_max_warning(stations: int, max_dc: float, max_ac: float) -> str | None:
    """The line for ``stations`` stations that need more ports than one site holds, or None."""
    if not stations:
        return None
    return (f"{stations:,} station(s) need more ports than one site holds ({max_dc:g} DC / {max_ac:g} AC, "
            "parameters site_max_*): with a coverage model (mclp, lscp, pmedian, pcenter) add candidate sites "
            "(candidates.per_county) or use the capacitated model (model.type: capacitated); with the capacitated "
            "model only an existing station whose installed ports exceed these maxima is flagged; see over_site_max "
            "in sites.geojson")


def unreached_warning(summary: dict) -> str | None:
    """The line for the demand cells no candidate reaches (``summary["candidates"]``), with
    the reasons and the cell with most NEVs, or None."""
    c = summary.get("candidates") or {}
    if not c.get("unreached_cells"):
        return None
    listed = c.get("unreached") or []
    reasons = sorted({u["reason"] for u in listed})
    first = listed[0] if listed else None
    most = (f"; most NEVs: {first['demand_id']} in {first.get('county_name', first.get('county_adcode'))} "
            f"({first['nev_count']:,} NEVs)") if first else ""
    return (f"{c['unreached_cells']:,} demand cell(s) with {c.get('unreached_nev', 0):,} NEVs are beyond "
            f"their service standard ({standard_label(summary)}) of every candidate ({'; '.join(reasons)}){most}; "
            "listed in summary.json (candidates.unreached)")


def run_warnings(summary: dict, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The warnings of a run summary (``summary.json`` of :func:`evsiting.runs.run.run`):
    stations over the site maximum, demand cells no candidate reaches, public energy the
    sites in reach cannot hold, a solve stopped short of the target gap, then ``extra`` (e.g.
    the candidate files' warnings). A summary that already holds ``warnings`` returns them
    (and ``extra`` after them, without repeats).

    Args:
        summary: a run's summary dict.
        extra: more lines, without the ``warning:`` prefix or with it (it is removed).

    Returns:
        list of lines without a ``warning:`` prefix, in that order.
    """
    out: list[str] = list(summary.get("warnings") or [])
    if "warnings" not in summary:
        mx = summary.get("site_max_ports") or {}
        line = over_site_max_warning(int(summary.get("stations_over_site_max") or 0), mx.get("dc", float("nan")), mx.get("ac", float("nan")))
        if line:
            out.append(line)
        line = unreached_warning(summary)
        if line:
            out.append(line)
        short = sum(float(u.get("beyond_capacity_kwh_day", 0.0)) for u in summary.get("unserved_by_county") or [])
        if short > 0.5:
            out.append(f"{short:,.0f} kWh/day of public charging energy is beyond what the sites in reach can hold "
                       "(summary.json unserved_by_county)")
    for line in extra:
        text = str(line)
        text = text[len("warning: "):] if text.startswith("warning: ") else text
        if text not in out:
            out.append(text)
    return out


def solver_warning(status: str | None, gap: float | None, target_gap: float | None) -> str | None:
    """The line for a solve that is not proven within ``target_gap`` (fraction), or None."""
    if status in ("optimal",):
        return None
    if status == "feasible" and gap is not None and target_gap is not None and gap <= target_gap + 1e-12:
        return None
    g = "" if gap is None else f", gap {gap:.2%}"
    return f"the solver stopped with status '{status}'{g}: the plan is not proven within the target gap"
