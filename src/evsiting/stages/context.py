"""One run context for every command (``run``, ``plan``, ``corridors``, ``sweep``, ``batch``):
it checks the output folder before any work, times the stages and reports them, and writes
the output folder atomically with one full ``manifest.json`` (config, data files with
SHA-256, parameters, solver, package versions, timings).
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

from .. import __version__
from evsiting.config.inputs import ResolvedInputs, resolve_inputs
from evsiting.config.params import Parameters
from evsiting.config.schema import RunConfig
from evsiting.io.writers import atomic_dir, check_replaceable, write_json
from evsiting.config.checks import check_output, validate_config

#: Packages whose versions every manifest records.
VERSIONED = ("numpy", "pandas", "scipy", "geopandas", "shapely", "pyproj", "h3", "pulp", "highspy", "osmnx", "networkx", "pydantic")


def versions() -> dict[str, str | None]:
    """Python, evsiting and :data:`VERSIONED` package versions (None when not installed)."""
    out = {"python": platform.python_version(), "evsiting": __version__}
    for pkg in VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def output_base(cfg: RunConfig, out_base: Path | None, inputs: ResolvedInputs | None = None) -> tuple[Path, str]:
    """The folder holding ``cfg``'s run folders and the option naming it in errors:
    (``out_base``, ``--out``) or (the config's ``output_dir``, ``output_dir``)."""
    if out_base is not None:
        return Path(out_base), "--out"
    return (inputs.output_dir if inputs is not None else resolve_inputs(cfg).output_dir), "output_dir"


@dataclass(frozen=True)
class Checked:
    """A config after the validation layer: its checked paths, its parameters (overrides
    applied), the output base folder and the option naming it (``--out`` or ``output_dir``)."""

    inputs: ResolvedInputs
    params: Parameters
    base: Path
    field: str


def checked_inputs(cfg: RunConfig, out_base: Path | None) -> Checked:
    """The validation layer of every command before its output checks: an empty ``--out``
    refused, then :func:`~evsiting.config.checks.validate_config` (files and parameter
    overrides).

    Raises:
        InputError: as :func:`~evsiting.config.checks.validate_config`, or an empty ``--out``.
    """
    if out_base is not None and str(out_base).strip() == "":
        check_output(out_base, "--out")  # refuses the empty path
    inputs, params = validate_config(cfg)
    base, field_ = output_base(cfg, out_base, inputs)
    return Checked(inputs, params, base, field_)


@dataclass
class RunContext:
    """Where a command writes, how it reports, and how long its stages took.

    Build with :meth:`open` before any work. ``base`` is the folder holding run folders
    (``--out`` or the config's ``output_dir``); ``field`` names it in errors. ``inputs``: the
    config's paths, resolved and checked once (:func:`evsiting.config.checks.validate_config`);
    ``params``: its parameters, read once, overrides applied.
    """

    base: Path
    field: str
    write: bool = True
    progress: Callable[[str], None] = lambda msg: None
    timings: dict[str, float] = field(default_factory=dict)
    t0: float = field(default_factory=time.perf_counter)
    _last: float = 0.0
    inputs: ResolvedInputs | None = None
    params: Parameters | None = None

    @classmethod
    def open(cls, cfg: RunConfig, out_base: Path | None = None, *, write: bool = True,
             progress: Callable[[str], None] = lambda msg: None, run_names: Sequence[str] | None = None) -> "RunContext":
        """The context of a command on ``cfg`` after the validation layer
        (:mod:`evsiting.config.checks`: the config's files and parameter overrides and, with
        ``write``, the output folder), so a bad input fails now, not after the long stages.

        Raises:
            InputError: a missing, misplaced or malformed file, an impossible parameter, or an
                output folder that is a file or cannot be created (``--out``/``output_dir``).
        """
        chk = checked_inputs(cfg, out_base)
        if write:
            check_output(chk.base, chk.field, [cfg.name] if run_names is None else list(run_names))
        ctx = cls(chk.base, chk.field, write, progress, inputs=chk.inputs, params=chk.params)
        ctx._last = ctx.t0
        return ctx

    def done(self, name: str, detail: str = "") -> None:
        """Record the stage ``name`` as finished now (seconds since the previous one) and
        report it; the timing key is the name alone."""
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 3)
        self.progress(f"  {name}{f' ({detail})' if detail else ''}: {now - self._last:.1f} s")
        self._last = now

    def folder(self, run_name: str) -> Path | None:
        """``<base>/<run_name>`` after checking that it is absent or an earlier output of a
        run (never another folder); None when not writing.

        Raises:
            InputError: the folder exists and is not an output folder.
        """
        if not self.write:
            return None
        out = self.base / run_name
        check_replaceable(out, self.field)
        return out

    def manifest(self, cfg: RunConfig, run_name: str, **entries) -> dict:
        """The manifest: ``run``, ``created_utc``, ``config``, then ``entries`` in order (data
        files, parameters, solver, ...), ``timings_s`` and ``versions``."""
        return {
            "run": run_name,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": cfg.model_dump(mode="json"),
            **entries,
            "timings_s": self.timings,
            "versions": versions(),
        }

    def write_folder(self, out_dir: Path, manifest: dict, write_files: Callable[[Path], None]) -> Path:
        """Write ``out_dir`` atomically: ``write_files(tmp)`` then ``manifest.json`` (with the
        total time); a failure leaves the previous folder as it was."""
        with atomic_dir(out_dir) as tmp:
            write_files(tmp)
            manifest["timings_s"]["total"] = round(time.perf_counter() - self.t0, 3)
            write_json(manifest, tmp / "manifest.json")
        self.done("outputs")
        return out_dir
