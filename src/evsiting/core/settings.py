"""Where evsiting finds its data, and the fixed CRSs it uses.

Paths in configs may carry a prefix:

- ``data:NAME``   -> a file in this repository's ``data/`` folder (copied in with provenance,
  see ``data/SOURCES.md``);
- ``shared:NAME`` -> a file in the shared real-data folder (``../shared/data`` beside the
  repository, or ``$EVSITING_SHARED_DIR``). Files whose origin is a GitHub repository stay
  there and are referred to by path, never copied.

Any other relative path is taken relative to the config file that names it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Repository root (``src/evsiting/core/settings.py`` -> three levels up).
REPO_ROOT = Path(__file__).resolve().parents[3]

#: Geographic CRS of every input after conversion and of every output (RFC 7946).
WGS84 = "EPSG:4326"

#: One projected CRS for the whole province (UTM zone 48N covers 102-108 E; Guizhou spans
#: 103.6-109.6 E, so the eastern edge is slightly outside the zone; distortion there stays
#: below 0.1 %), so prefecture runs are comparable. Metres.
PROJECTED_CRS = "EPSG:32648"


def data_dir() -> Path:
    """Folder of the repository's own data files (``$EVSITING_DATA_DIR`` overrides)."""
    env = os.environ.get("EVSITING_DATA_DIR")
    return Path(env) if env else REPO_ROOT / "data"


def shared_dir() -> Path:
    """Folder of the shared real data (``$EVSITING_SHARED_DIR`` overrides ``../shared/data``)."""
    env = os.environ.get("EVSITING_SHARED_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def configs_dir() -> Path:
    """Folder of the shipped configs (``configs/``)."""
    return REPO_ROOT / "configs"


def resolve_path(value: str | os.PathLike, base: Path | None = None) -> Path:
    """Resolve a config path with an optional ``data:`` or ``shared:`` prefix.

    Args:
        value: the path as written in a config.
        base: folder that plain relative paths are relative to (the config's folder);
            the current directory when None.

    Returns:
        An absolute path. Existence is not checked here.
    """
    text = str(value)
    if text.startswith("data:"):
        return (data_dir() / text[5:]).resolve()
    if text.startswith("shared:"):
        return (shared_dir() / text[7:]).resolve()
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path.resolve()


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (the one file hash of evsiting: manifests, network info)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
