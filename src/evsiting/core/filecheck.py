"""Checks of input files by their kind and content, not their name: a path that is a folder,
a config that is not UTF-8 or holds duplicate keys or an alias cycle, a table given where
polygons are needed, a CSV with two columns of one name, GeoJSON coordinates written as text.

Every check raises :class:`~evsiting.core.errors.InputError` naming the file and the config key
(dotted, as the user wrote it). Imports nothing of evsiting but :mod:`evsiting.core.errors`, so the
config loader and the readers can all use it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from evsiting.core.errors import InputError

#: Kinds :func:`sniff` tells apart, described for messages.
KINDS = {
    "empty": "an empty file",
    "csv": "a comma-separated table (CSV)",
    "tsv": "a tab-separated table (TSV)",
    "ssv": "a semicolon-separated table",
    "text": "a text table without separators",
    "json": "JSON/GeoJSON",
    "gpkg": "a GeoPackage (SQLite)",
    "zip": "a ZIP archive",
    "shp": "a Shapefile",
    "fgb": "a FlatGeobuf",
    "pbf": "an OSM PBF",
    "osm": "OSM XML",
    "graphml": "GraphML",
    "xml": "XML",
    "bz2": "a bzip2 archive",
    "gzip": "a gzip archive",
    "binary": "a binary file of unknown format",
}
_BINARY_SUFFIXES = {".pbf": "pbf", ".gpkg": "gpkg", ".shp": "shp", ".fgb": "fgb", ".zip": "zip", ".bz2": "bz2"}
#: Text tables (no geometry).
TABLES = frozenset({"csv", "tsv", "ssv", "text"})
#: Files geopandas reads as layers with geometries.
VECTORS = frozenset({"json", "gpkg", "zip", "shp", "fgb"})
#: Road-network files (``bz2`` is taken as a compressed OSM XML).
NETWORKS = frozenset({"pbf", "osm", "bz2", "graphml"})


def check_file_kind(path: Path, what: str = "a file", source: object | None = None, field: str | None = None,
                    missing: str = "file not found") -> Path:
    """Check that ``path`` exists and is a regular file (not a folder, not a dangling link).

    Args:
        path: the resolved path.
        what: what the file should be, for the message (e.g. ``"a config file (YAML)"``).
        source, field: the config file and dotted key that name ``path``; None: the path itself.
        missing: the message when nothing is there.

    Raises:
        InputError: naming ``source`` (else ``path``), ``field`` and ``path``.
    """
    path = Path(path)
    named = source is not None
    src = source if named else path
    where = f": '{path}'" if named else ""
    if path.is_symlink() and not path.exists():
        raise InputError(f"{missing}{where} (a link to '{path.readlink()}', which does not exist)", source=src, field=field)
    if not path.exists():
        raise InputError(f"{missing}{where}", source=src, field=field)
    if path.is_dir():
        raise InputError(f"'{path}' is a folder; expected {what}", source=src, field=field)
    if not path.is_file():
        raise InputError(f"'{path}' is not a regular file (a device or a pipe); expected {what}", source=src, field=field)
    return path


def _decode_head(head: bytes) -> str | None:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return head.decode(enc)
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut by the end of the sample
                try:
                    return head[: exc.start].decode(enc)
                except UnicodeDecodeError:
                    pass
    return None


def sniff(path: Path, size: int = 65536) -> str:
    """The kind of a file from its first bytes (a key of :data:`KINDS`), whatever its name.

    Raises:
        InputError: the file cannot be opened.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(size)
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", source=path) from None
    if not head.strip():
        return "empty"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "shp"
    if head.startswith(b"fgb"):
        return "fgb"
    if b"OSMHeader" in head[:64]:
        return "pbf"
    text = _decode_head(head)
    if text is None or "\x00" in text:
        # an unknown binary named like a binary format is a damaged file of that format: the
        # reader names its own error ("cannot read OSM PBF: ...")
        return _BINARY_SUFFIXES.get(Path(path).suffix.lower(), "binary")
    t = text.lstrip()
    if t.startswith(("{", "[")):
        return "json"
    if t.startswith("<"):
        low = t[:8000].lower()
        return "graphml" if "<graphml" in low else "osm" if "<osm" in low else "xml"
    first = t.splitlines()[0]
    for sep, kind in ((",", "csv"), ("\t", "tsv"), (";", "ssv")):
        if sep in first:
            return kind
    return "text"


def expect_kind(path: Path, allowed: frozenset[str] | set[str], expected: str, field: str | None = None) -> str:
    """:func:`sniff` ``path`` and refuse a kind not in ``allowed``.

    Args:
        expected: what the file should be, for the message (e.g. ``"polygons: GeoJSON,
            GeoPackage, Shapefile or an .osm.pbf"``).
        field: the config key naming the file.

    Returns:
        The kind.

    Raises:
        InputError: naming the file, ``field``, the kind found and the kind expected.
    """
    kind = sniff(path)
    if kind not in allowed:
        extra = ""
        if kind in TABLES and not (allowed & TABLES):
            extra = " (a table has no geometry)"
        raise InputError(f"the file is {KINDS[kind]}{extra}, whatever its name says; expected {expected}", source=path, field=field)
    return kind


def csv_header(path: Path, sep: str = ",") -> list[str]:
    """The column names of a text table (UTF-8 or GB18030), as written.

    Raises:
        InputError: the header holds the same column name twice (pandas would rename the second
            silently), naming the column and both positions.
    """
    with open(path, "rb") as f:
        raw = f.readline()
    text = _decode_head(raw) or raw.decode("latin-1")
    names = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        key = name.strip()
        if key in seen and key:
            raise InputError(f"the header has two columns named '{key}' (columns {seen[key]} and {i}); column names must be unique",
                             source=path, field=key)
        seen.setdefault(key, i)
    return names


def _leaves(coords: Any):
    if isinstance(coords, list):
        for c in coords:
            yield from _leaves(c)
    else:
        yield coords


def check_geojson_coordinates(path: Path) -> None:
    """Refuse GeoJSON coordinates that are not numbers (``"106.1"`` in quotes, ``true``,
    ``null`` inside a position): readers would drop those features with a warning only.

    A file that is not valid JSON is left to the reader (which names the parse error).

    Raises:
        InputError: naming the file, the feature (1-based) and the value.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    if not isinstance(data, dict):
        return
    feats = data.get("features") if data.get("type") == "FeatureCollection" else [data] if data.get("type") == "Feature" else None
    if not isinstance(feats, list):
        return
    for i, feat in enumerate(feats, start=1):
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(geom, dict):
            continue
        parts = geom.get("geometries") if geom.get("type") == "GeometryCollection" else [geom]
        for g in parts if isinstance(parts, list) else []:
            coords = g.get("coordinates") if isinstance(g, dict) else None
            if coords is None:
                continue
            for v in _leaves(coords):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    hint = "; write numbers without quotes" if isinstance(v, str) else ""
                    raise InputError(f"feature {i}: coordinates must be numbers, got {v!r}{hint}", source=path, field="geometry")
                if not math.isfinite(v):
                    raise InputError(f"feature {i}: coordinates must be finite, got {v!r}", source=path, field="geometry")


# --- config text ------------------------------------------------------------------------------

class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only ``true``/``false`` are booleans;
    ``yes``/``no``/``on``/``off`` stay text, so ``p: yes`` is refused instead of read as 1."""


_Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

#: Nodes visited while checking a config (aliases are followed): more is an alias bomb.
MAX_NODES = 200_000


def _dotted(path: list) -> str | None:
    return ".".join(str(p) for p in path) or None


def _check_nodes(root: yaml.Node, source: Path) -> None:
    """Duplicate keys and alias cycles in a composed YAML document, with the dotted key."""
    budget = [MAX_NODES]
    on_path: set[int] = set()

    def walk(node: yaml.Node, path: list) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise InputError(f"the aliases expand to more than {MAX_NODES:,} values; is an anchor repeated by mistake?",
                             source=source, field=_dotted(path))
        if id(node) in on_path:
            raise InputError(f"a YAML alias (line {node.start_mark.line + 1}) refers to a value that contains it: an alias cycle",
                             source=source, field=_dotted(path))
        if isinstance(node, yaml.MappingNode):
            on_path.add(id(node))
            seen: dict[str, int] = {}
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else f"<{k.tag}>"
                if key != "<<":
                    line = k.start_mark.line + 1
                    if key in seen:
                        raise InputError(f"duplicate key '{key}' (lines {seen[key]} and {line}); the second would silently "
                                         f"replace the first: keep one", source=source, field=_dotted(path + [key]))
                    seen[key] = line
                walk(v, path + ([key] if key != "<<" else []))
            on_path.discard(id(node))
        elif isinstance(node, yaml.SequenceNode):
            on_path.add(id(node))
            for i, v in enumerate(node.value):
                walk(v, path + [i])
            on_path.discard(id(node))

    walk(root, [])


def _decode_config(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("the file is UTF-16 text; save it as UTF-8", source=path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {col} cannot be decoded; "
                         "save the file as UTF-8 (it may be GBK or Latin-1)", source=path) from None


def parse_config_text(path: Path) -> Any:
    """Parse a config file: UTF-8 text (a byte-order mark is allowed), JSON when named
    ``.json``, else YAML with 1.2 booleans; duplicate keys and alias cycles refused.

    Raises:
        InputError: not UTF-8, malformed (line and column), a duplicate key, an alias cycle or
            an alias bomb, nesting too deep; naming the file and the dotted key.
    """
    path = Path(path)
    text = _decode_config(path)
    if path.suffix.lower() == ".json":
        def pairs(items):
            seen = set()
            for k, _ in items:
                if k in seen:
                    raise InputError(f"duplicate key '{k}'; the second would silently replace the first: keep one", source=path, field=k)
                seen.add(k)
            return dict(items)

        try:
            return json.loads(text, object_pairs_hook=pairs)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", source=path) from None
        except RecursionError:
            raise InputError("malformed JSON: nested too deeply", source=path) from None
    loader = _Yaml12Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, path)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"malformed YAML{where}: {getattr(exc, 'problem', None) or exc}", source=path) from None
    except RecursionError:
        raise InputError("malformed YAML: nested too deeply", source=path) from None
    finally:
        loader.dispose()
