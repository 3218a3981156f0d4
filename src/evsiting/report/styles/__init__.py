"""QGIS styles (``.qml``) for the run layers, written next to each GeoJSON and into the
GeoPackage ``layer_styles`` table, so the outputs open in QGIS styled with no manual work.

Styles (files in this package):

- ``sites.qml`` (also ``stations``): categorised by ``facility_type`` (candidate grey, required
  = existing stations purple squares drawn on top, chosen = new stations blue circles: the
  colours of ``map.png``, :data:`evsiting.report.html.TYPE_COLOURS`), marker size 1.6 mm + 0.25 mm
  x sqrt(``ports_total``);
- ``demand.qml``: graduated by ``nev_count`` (fixed breaks shared by every run), cells with
  ``covered`` false hatched with a black outline;
- ``service_areas.qml``: a light grey wash (16 % opaque) with an outline;
- ``allocation.qml``: thin grey lines.

QGIS loads ``<name>.qml`` beside ``<name>.geojson`` as the layer's default style, and the
style row marked ``useAsDefault`` in a GeoPackage's ``layer_styles`` table (the schema QGIS
itself creates, registered in ``gpkg_contents`` as an attributes table).
"""

from __future__ import annotations

import contextlib
import sqlite3
from importlib import resources
from pathlib import Path

#: Layers that have a style.
STYLED_LAYERS = ("sites", "stations", "demand", "allocation", "service_areas")

#: Layers drawn with another layer's style file (``stations``: one row per station of the
#: open sites, same ``facility_type`` and ``ports_total`` fields as ``sites``).
STYLE_FILES = {"stations": "sites"}

#: ``layer_styles`` as QGIS creates it in a GeoPackage.
LAYER_STYLES_SQL = """
CREATE TABLE IF NOT EXISTS "layer_styles" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "f_table_catalog" TEXT(256),
    "f_table_schema" TEXT(256),
    "f_table_name" TEXT(256),
    "f_geometry_column" TEXT(256),
    "styleName" TEXT(30),
    "styleQML" TEXT,
    "styleSLD" TEXT,
    "useAsDefault" BOOLEAN,
    "description" TEXT,
    "owner" TEXT(30),
    "ui" TEXT(30),
    "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)
"""

#: Fixed ``update_time`` of the style rows (reproducible files; run times are in manifest.json).
FIXED_TIME = "2000-01-01T00:00:00.000Z"


def qml(layer: str) -> str:
    """The QML text of ``layer`` (one of :data:`STYLED_LAYERS`).

    Raises:
        KeyError: no style for ``layer``.
    """
    if layer not in STYLED_LAYERS:
        raise KeyError(f"no QGIS style for layer '{layer}'")
    return resources.files(__name__).joinpath(f"{STYLE_FILES.get(layer, layer)}.qml").read_text(encoding="utf-8")


def write_qml(layer: str, geojson_path: Path) -> Path:
    """Write the style of ``layer`` beside ``geojson_path`` (same basename, ``.qml``)."""
    path = Path(geojson_path).with_suffix(".qml")
    path.write_text(qml(layer), encoding="utf-8")
    return path


def add_gpkg_styles(gpkg: Path, layers: list[str] | None = None) -> list[str]:
    """Store the styles of ``layers`` (default: those of :data:`STYLED_LAYERS` present as
    feature tables) in the GeoPackage's ``layer_styles`` table as default styles.

    Existing default styles of those tables are replaced. Returns the styled table names.
    """
    with contextlib.closing(sqlite3.connect(gpkg)) as con, con:
        con.execute("PRAGMA synchronous = OFF")  # no disk sync per commit (see layers.write_geopackage)
        tables = {
            r[0]: r[1]
            for r in con.execute(
                "SELECT c.table_name, g.column_name FROM gpkg_contents c JOIN gpkg_geometry_columns g "
                "ON g.table_name = c.table_name WHERE c.data_type = 'features'"
            )
        }
        names = [n for n in (layers or STYLED_LAYERS) if n in tables and n in STYLED_LAYERS]
        con.execute(LAYER_STYLES_SQL)
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', ?, 0)",
            (FIXED_TIME,),
        )
        for name in names:
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (name,))
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                "styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, ?)",
                (name, tables[name], name, qml(name), f"evsiting default style of {name}", FIXED_TIME),
            )
    return names
