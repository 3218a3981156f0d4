"""Edge speeds and travel times for Chinese roads, with osmnx.

osmnx's ``add_edge_speeds`` parses numeric, ``|``-separated, list and mph ``maxspeed`` values
and imputes missing ones per ``highway`` class from ``hwy_speeds``; ``add_edge_travel_times``
turns ``length`` (m) and ``speed_kph`` (km/h) into ``travel_time`` (s). What osmnx lacks is
added here: China's implicit values (``CN:urban``, ``CN:rural``, ``CN:motorway``), which are
replaced by numbers before osmnx runs, and Chinese per-class defaults. Both are rows of
``data/road_speeds.csv`` (columns ``kind, key, speed_kmh, source``; ``kind`` is ``highway``,
``implicit`` or ``fallback``), each with its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd

from evsiting.core.errors import InputError
from evsiting.core.settings import data_dir


@dataclass(frozen=True)
class RoadSpeeds:
    """Speed table.

    Attributes:
        hwy_speeds: ``highway`` class -> km/h for edges without ``maxspeed`` (osmnx
            ``hwy_speeds``).
        implicit: implicit ``maxspeed`` value (``CN:urban``) -> km/h.
        fallback: km/h for classes absent from ``hwy_speeds`` with no ``maxspeed`` anywhere.
        path: the file read.
    """

    hwy_speeds: dict[str, float]
    implicit: dict[str, float]
    fallback: float
    path: Path | None = None


def load_road_speeds(path: str | Path | None = None) -> RoadSpeeds:
    """Read ``data/road_speeds.csv`` (or ``path``).

    Raises:
        InputError: missing file or column, non-positive speed, empty source, no fallback row.
    """
    path = Path(path) if path is not None else data_dir() / "road_speeds.csv"
    if not path.exists():
        raise InputError("file not found", source=path)
    df = pd.read_csv(path, dtype={"kind": str, "key": str, "source": str})
    for col in ("kind", "key", "speed_kmh", "source"):
        if col not in df.columns:
            raise InputError(f"missing column '{col}'", source=path)
    speeds = pd.to_numeric(df["speed_kmh"], errors="coerce")
    if speeds.isna().any() or (speeds <= 0).any():
        raise InputError("speed_kmh must be positive numbers", source=path, field="speed_kmh")
    if df["source"].isna().any() or (df["source"].str.strip() == "").any():
        raise InputError("every row needs a source", source=path, field="source")
    df = df.assign(speed_kmh=speeds.astype(float))
    fb = df.loc[df["kind"] == "fallback", "speed_kmh"]
    if len(fb) != 1:
        raise InputError("exactly one 'fallback' row is needed", source=path, field="kind")
    hwy = dict(zip(df.loc[df["kind"] == "highway", "key"], df.loc[df["kind"] == "highway", "speed_kmh"]))
    imp = dict(zip(df.loc[df["kind"] == "implicit", "key"], df.loc[df["kind"] == "implicit", "speed_kmh"]))
    return RoadSpeeds(hwy, imp, float(fb.iloc[0]), path)


def _map_implicit(value, implicit: dict[str, float]):
    if isinstance(value, list):
        return [_map_implicit(v, implicit) for v in value]
    if isinstance(value, str):
        key = value.strip()
        if key in implicit:
            return f"{implicit[key]:g}"
    return value


def map_implicit_maxspeeds(G: nx.MultiDiGraph, implicit: dict[str, float]) -> int:
    """Replace implicit ``maxspeed`` values (e.g. ``CN:urban``) by km/h numbers, in place.

    Values inside lists (simplified edges) are replaced too. Returns the number of edges changed.
    """
    changed = 0
    for _, _, data in G.edges(data=True):
        if "maxspeed" in data:
            new = _map_implicit(data["maxspeed"], implicit)
            if new != data["maxspeed"]:
                data["maxspeed"] = new
                changed += 1
    return changed


def add_speeds_and_times(G: nx.MultiDiGraph, speeds: RoadSpeeds | None = None) -> dict:
    """Add ``speed_kph`` (km/h) and ``travel_time`` (s) to every edge, in place, with osmnx.

    Order: implicit Chinese values mapped to numbers; then ``osmnx.routing.add_edge_speeds``
    with ``hwy_speeds`` and ``fallback`` from the table (an edge's own ``maxspeed`` wins;
    classes not in the table get the mean tagged speed of their class, else the fallback);
    then ``osmnx.routing.add_edge_travel_times``.

    Args:
        G: MultiDiGraph with ``length`` (m) and ``highway`` on every edge.
        speeds: the table (default :func:`load_road_speeds`).

    Returns:
        Coverage facts: ``edges``, ``edges_with_maxspeed`` (share with a usable tagged value),
        ``implicit_mapped``, and ``by_highway`` {class: [edges, share with maxspeed]}.

    Raises:
        InputError: the graph has no edges, or an edge lacks ``length``.
    """
    speeds = speeds or load_road_speeds()
    if G.number_of_edges() == 0:
        raise InputError("the road graph has no edges", source="network")
    mapped = map_implicit_maxspeeds(G, speeds.implicit)
    has_speed = {}
    for u, v, k, data in G.edges(keys=True, data=True):
        if "length" not in data:
            raise InputError(f"edge ({u}, {v}) has no length", source="network", field="length")
        ms = data.get("maxspeed")
        vals = ms if isinstance(ms, list) else [ms]
        has_speed[(u, v, k)] = any(isinstance(x, str) and ox.routing._clean_maxspeed(x) is not None for x in vals)
    ox.routing.add_edge_speeds(G, hwy_speeds=speeds.hwy_speeds, fallback=speeds.fallback)
    ox.routing.add_edge_travel_times(G)
    rows = []
    for u, v, k, data in G.edges(keys=True, data=True):
        hw = data.get("highway")
        hw = hw[0] if isinstance(hw, list) else hw
        rows.append((str(hw), has_speed[(u, v, k)]))
    df = pd.DataFrame(rows, columns=["highway", "tagged"])
    by = df.groupby("highway")["tagged"].agg(["size", "mean"])
    return {
        "edges": int(len(df)),
        "edges_with_maxspeed": round(float(df["tagged"].mean()), 4),
        "implicit_mapped": mapped,
        "by_highway": {h: [int(r["size"]), round(float(r["mean"]), 4)] for h, r in by.iterrows()},
    }


def edge_speed_array(G: nx.MultiDiGraph) -> np.ndarray:
    """(E,) ``speed_kph`` of every edge in ``G.edges`` order (km/h)."""
    return np.array([d["speed_kph"] for _, _, d in G.edges(data=True)], dtype=float)
