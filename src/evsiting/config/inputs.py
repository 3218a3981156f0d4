"""Every path a run config names, resolved once into one typed record that the stages read.

:func:`resolve_inputs` turns the paths as written in a config (``data:``/``shared:`` prefixes,
else relative to the config file: :func:`evsiting.core.settings.resolve_path`) into absolute
paths; :func:`evsiting.config.checks.validate_config` checks the files behind them (exists, a
file, the right kind) and returns the record, which :class:`evsiting.stages.context.RunContext`
carries and :func:`evsiting.stages.s1_study.load_study` hands to the stages on the ``Study``.
The values as written stay in the config (the manifest records both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evsiting.config.schema import PointFile, RunConfig


@dataclass(frozen=True)
class ResolvedInputs:
    """The absolute paths of a config's files and folders (existence is checked by
    :func:`evsiting.config.checks.validate_config`, not here).

    Attributes:
        source: the config file (named in errors).
        counties .. places: the ``data`` section (``places`` None when off).
        candidate_files: one per ``candidates.files`` entry, in order.
        building_weights: ``demand.building_weights.path`` (None: absent or ``source: network``).
        network: ``network.path`` (None: no network section or no path).
        cache_dir: ``network.cache_dir`` (None: no network section).
        services_file: ``corridors.services_file.path`` (None: absent).
        coverage_places: one per ``buildout.coverage`` rule: its places file, None for
            ``county_seats``.
        output_dir: the config's ``output_dir``.
    """

    source: str
    counties: Path
    prefecture_population: Path
    county_population: Path
    urbanisation: Path
    household_cars: Path
    county_seats: Path
    motorways: Path
    parameters: Path
    city_proper: Path
    places: Path | None
    candidate_files: tuple[Path, ...]
    building_weights: Path | None
    network: Path | None
    cache_dir: Path | None
    services_file: Path | None
    coverage_places: tuple[Path | None, ...]
    output_dir: Path


def resolve_inputs(cfg: RunConfig) -> ResolvedInputs:
    """Resolve every path of ``cfg`` (relative to its file; pure, nothing is read).

    Returns:
        :class:`ResolvedInputs`.
    """
    d, p = cfg.data, cfg.path

    def opt(value: str | None) -> Path | None:
        return None if value is None else p(value)

    bw, net, cc = cfg.demand.building_weights, cfg.network, cfg.corridors
    return ResolvedInputs(
        source=cfg.source,
        counties=p(d.counties),
        prefecture_population=p(d.prefecture_population),
        county_population=p(d.county_population),
        urbanisation=p(d.urbanisation),
        household_cars=p(d.household_cars),
        county_seats=p(d.county_seats.path),
        motorways=p(d.motorways),
        parameters=p(d.parameters),
        city_proper=p(d.city_proper),
        places=opt(d.places),
        candidate_files=tuple(p(f.path) for f in cfg.candidates.files),
        building_weights=opt(bw.path) if bw is not None and bw.source == "file" else None,
        network=opt(net.path) if net is not None else None,
        cache_dir=p(net.cache_dir) if net is not None else None,
        services_file=opt(cc.services_file.path) if cc.services_file is not None else None,
        coverage_places=tuple(p(r.places.path) if isinstance(r.places, PointFile) else None for r in cfg.buildout.coverage),
        output_dir=p(cfg.output_dir),
    )
