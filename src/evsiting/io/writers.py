"""Writers: RFC 7946 GeoJSON, JSON and CSV, into a run folder that appears atomically.

GeoJSON (RFC 7946): WGS84 lon/lat, no ``crs`` member, coordinates rounded to 7 decimals
(about 1 cm), polygon exterior rings counter-clockwise, integer feature ids, flat properties,
``null`` never ``NaN``/``Infinity``. Output is deterministic: same frame, same bytes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

from evsiting.core.settings import WGS84

COORD_DECIMALS = 7


def _py(value: Any) -> Any:
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/inf/NA -> None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, dict):
        return {str(k): _py(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_py(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _clean_geometries(geoms: np.ndarray) -> list:
    """GeoJSON geometry dicts of an ``(n,)`` array of shapely geometries: exterior rings
    counter-clockwise, coordinates rounded to :data:`COORD_DECIMALS`; None for a missing or
    empty geometry. Orientation and rounding run once over the array (per geometry they
    were a third of a run's output time)."""
    geoms = np.asarray(geoms, dtype=object)
    skip = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    clean = shapely.transform(shapely.orient_polygons(geoms, exterior_cw=False), lambda c: np.round(c, COORD_DECIMALS))
    return [None if s else mapping(g) for g, s in zip(clean, skip)]


def _column_values(col: pd.Series) -> list:
    """:func:`_py` of every value of ``col``; float, integer and bool columns in one pass."""
    kind = col.dtype.kind if isinstance(col.dtype, np.dtype) else ""
    if kind == "f":
        a = col.to_numpy(dtype=np.float64)
        vals = a.tolist()
        ok = np.isfinite(a)
        return vals if ok.all() else [v if k else None for v, k in zip(vals, ok.tolist())]
    if kind in ("i", "u", "b"):
        return col.to_numpy().tolist()
    return [_py(v) for v in col.tolist()]


def feature_collection(gdf: gpd.GeoDataFrame) -> dict:
    """RFC 7946 FeatureCollection dict of ``gdf`` (converted to WGS84; ids 0..n-1 in row order).

    Raises:
        ValueError: ``gdf`` has no CRS.
    """
    if gdf.crs is None:
        raise ValueError("GeoDataFrame has no CRS")
    gdf = gdf.to_crs(WGS84)
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    values = [_column_values(gdf[c]) for c in cols]
    rows = zip(*values) if cols else ((),) * len(gdf)
    features = [
        {"type": "Feature", "id": i, "geometry": geom, "properties": dict(zip(cols, row))}
        for i, (geom, row) in enumerate(zip(_clean_geometries(gdf.geometry.to_numpy()), rows))
    ]
    return {"type": "FeatureCollection", "features": features}


def dumps_json(obj: Any) -> str:
    """Deterministic JSON text (UTF-8 kept, no NaN allowed, trailing newline)."""
    return json.dumps(_py(obj), ensure_ascii=False, allow_nan=False, indent=1, sort_keys=False) + "\n"


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write ``gdf`` as RFC 7946 GeoJSON to ``path`` (compact, one feature per line)."""
    fc = feature_collection(gdf)
    lines = [json.dumps(f, ensure_ascii=False, allow_nan=False, separators=(",", ":")) for f in fc["features"]]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")
    return path


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as deterministic JSON."""
    path.write_text(dumps_json(obj), encoding="utf-8")
    return path


def _pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine (signal 0 probes it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def sweep_leftovers(target: Path) -> list[Path]:
    """Remove the temporary folders of ``target`` left by runs that were killed (SIGKILL,
    power loss), where no ``finally`` could run.

    Temporary folders are named ``.<name>.partial-<pid>-*`` (being written) and
    ``.<name>.old-<pid>-*`` (the previous run, moved aside for the swap); only those whose
    process no longer exists are touched, so a concurrent run of the same name is safe.
    When a run was killed between moving the previous folder aside and putting the new one
    in place, ``target`` is missing and the previous run is put back rather than deleted.

    Returns:
        The folders removed or restored (sorted).
    """
    target = Path(target)
    done: list[Path] = []
    if not target.parent.is_dir():
        return done
    for kind in ("old", "partial"):  # restore a moved-aside previous run before anything else
        for p in sorted(target.parent.glob(f".{target.name}.{kind}-*")):
            pid = p.name[len(f".{target.name}.{kind}-"):].split("-", 1)[0]
            if not p.is_dir() or not pid.isdigit() or _pid_alive(int(pid)):
                continue
            if kind == "old" and not target.exists() and (p / "run").is_dir():
                os.replace(p / "run", target)
            shutil.rmtree(p, ignore_errors=True)
            done.append(p)
    return sorted(done)


#: Written into every output folder: the names of the files evsiting put there (one a line).
MARKER = ".evsiting-outputs"
#: Files that mark an output folder written before :data:`MARKER` existed.
_LEGACY_OUTPUTS = ("manifest.json", "summary.json", "corridor_summary.json", "province_summary.json")


def check_replaceable(target: Path, field: str = "output_dir") -> None:
    """Check that ``target`` can be replaced by a new output folder: it is absent, or it is an
    earlier evsiting output folder holding only the files evsiting wrote there.

    A file, a folder of the user's own, or an output folder to which someone added files (a
    QGIS project, notes) is never deleted.

    Raises:
        InputError: naming ``target``, the files that would be lost, and ``field``.
    """
    from evsiting.core.errors import InputError

    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise InputError(f"'{target}' exists and is not an evsiting output folder; choose another run name "
                         f"or output folder, or move it away", source=target, field=field)
    present = sorted(p.name for p in target.iterdir() if p.name != MARKER)
    marker = target / MARKER
    if marker.is_file():
        ours = set(marker.read_text(encoding="utf-8").split())
    elif any(name in present for name in _LEGACY_OUTPUTS):
        return  # written by an earlier version: replaced as before
    else:
        ours = set()
    foreign = [name for name in present if name not in ours]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        what = "holds files evsiting did not write" if ours else "is not an evsiting output folder (it holds"
        raise InputError(f"'{target}' {what}{':' if ours else ''} {shown}{'' if ours else ')'}; a new run would "
                         f"delete them: move them, or choose another run name or output folder",
                         source=target, field=field)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target``.

    On any exception (including KeyboardInterrupt) the temporary folder is removed and an
    existing ``target`` is left untouched. The parent folder is created if needed. Folders
    left beside ``target`` by an earlier run that was killed outright are cleaned first
    (:func:`sweep_leftovers`). The folder gets a :data:`MARKER` file listing what was written;
    an existing ``target`` that is not such a folder is never replaced.

    Raises:
        InputError: ``target`` exists and is not a replaceable output folder
            (:func:`check_replaceable`); nothing is written.
    """
    target = Path(target)
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        names = sorted(p.name for p in tmp.iterdir() if p.name != MARKER)
        (tmp / MARKER).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        check_replaceable(target)  # again: something may have appeared there during the run
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _share(tmp)
    old = _swap_in(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _share(folder: Path) -> None:
    """Give ``folder`` the permissions of a new folder (mkdtemp makes 0700; a run folder is
    for sharing: QGIS, colleagues)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)


def _swap_in(staged: Path, target: Path) -> Path | None:
    """Put the folder ``staged`` at ``target`` (two renames); an existing ``target`` is first
    moved to ``.<name>.old-<pid>-*/run`` (which :func:`sweep_leftovers` restores if the process
    is killed between the renames). Returns that holding folder, for the caller to delete."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
        os.replace(target, old / "run")
    try:
        os.replace(staged, target)
    except BaseException:
        if old is not None:
            os.replace(old / "run", target)
            shutil.rmtree(old, ignore_errors=True)
        raise
    return old


class InterruptedAfterWrite(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) that arrived while :func:`commit` was putting outputs in place: it
    was held until they all were. ``written``: the paths written."""

    def __init__(self, written: list[Path], terminated: bool = False):
        super().__init__("interrupted after the outputs were written")
        self.written = written
        self.terminated = terminated


def commit(pairs: list[tuple[Path, Path]]) -> list[Path]:
    """Put many staged outputs in place at once, all or none: each ``(staged, target)`` is a
    folder (replacing an earlier output folder, :func:`check_replaceable`) or a file (replaced).

    Every target is checked first; then, with Ctrl-C and SIGTERM held back (in the main thread),
    the folders are swapped in one after another (two renames each) and the previous ones
    deleted. An error half-way puts back the ones already swapped. A held interruption is
    raised afterwards as :class:`InterruptedAfterWrite` (the outputs are complete).

    Returns:
        The targets, in order.

    Raises:
        InputError: a target exists and is not a replaceable output folder (nothing swapped).
        InterruptedAfterWrite: Ctrl-C/SIGTERM arrived during the swap.
    """
    import signal
    import threading

    for staged, target in pairs:
        if staged.is_dir():
            check_replaceable(target)
    held = threading.current_thread() is threading.main_thread()
    caught: list[int] = []
    previous = {}
    if held:  # hold Ctrl-C/SIGTERM: record them, act once every folder is in place
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    done: list[tuple[Path, Path, Path | None]] = []
    try:
        for staged, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            if staged.is_dir():
                sweep_leftovers(target)
                _share(staged)
                done.append((staged, target, _swap_in(staged, target)))
            else:
                os.replace(staged, target)
                done.append((staged, target, None))
    except BaseException:
        for staged, target, old in reversed(done):  # put the previous outputs back
            if old is not None:
                with contextlib.suppress(OSError):
                    os.replace(target, staged)
                    os.replace(old / "run", target)
                    shutil.rmtree(old, ignore_errors=True)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for _, _, old in done:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    written = [t for _, t, _ in done]
    if caught:
        raise InterruptedAfterWrite(written, terminated=signal.SIGTERM in caught)
    return written
