"""Administrative areas: province, the 9 prefectures and 88 counties, and the study area.

Prefectures are accepted by English name or pinyin (``Guiyang``, ``qiandongnan``), Chinese
name (``贵阳市``, ``贵阳``) or adcode (``520100``). Boundaries are WGS84 (EPSG:4326).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from evsiting.core.errors import InputError
from evsiting.core.settings import WGS84


def read_polygons(path: Path, required: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Read a polygon layer in WGS84 and check it has ``required`` columns.

    Raises:
        InputError: file missing or unreadable, column missing, no features, no CRS.
    """
    if not path.exists():
        raise InputError("file not found", source=path)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"cannot read: {exc}", source=path) from None
    if gdf.empty:
        raise InputError("no features", source=path)
    missing = [c for c in required if c not in gdf.columns]
    if missing:
        raise InputError(f"missing field(s) {', '.join(missing)}", source=path)
    if gdf.crs is None:
        raise InputError("no CRS declared; expected WGS84", source=path)
    return gdf.to_crs(WGS84)


@dataclass(frozen=True)
class Prefecture:
    """A prefecture-level division: adcode, Chinese name, English/pinyin name."""

    adcode: int
    name_zh: str
    name_en: str

    @property
    def slug(self) -> str:
        """Lower-case ASCII name for folders (``guiyang``)."""
        return self.name_en.lower()


def _key(text: str) -> str:
    t = str(text).strip().lower()
    t = re.sub(r"[\s\-_']", "", t)
    for suffix in ("prefecture", "city", "shi", "zhou"):
        if t.endswith(suffix) and len(t) > len(suffix) + 2:
            t = t[: -len(suffix)]
    return t


class Prefectures:
    """Lookup of the prefectures from the census table (adcode, name_zh, name_en)."""

    def __init__(self, table: pd.DataFrame, source: str = "prefecture table"):
        self.items = [Prefecture(int(r.adcode), str(r.name_zh), str(r.name_en)) for r in table.itertuples()]
        self.source = source
        self._index: dict[str, Prefecture] = {}
        for p in self.items:
            short_zh = re.sub(r"(市|布依族苗族自治州|苗族侗族自治州|自治州)$", "", p.name_zh)
            for k in (str(p.adcode), p.name_zh, short_zh, _key(p.name_en)):
                self._index[k] = p

    @classmethod
    def from_csv(cls, path: Path) -> "Prefectures":
        """Read ``adcode,name_zh,name_en`` from the census prefecture CSV.

        Raises:
            InputError: missing file or columns.
        """
        if not path.exists():
            raise InputError("file not found", source=path)
        df = pd.read_csv(path)
        missing = [c for c in ("adcode", "name_zh", "name_en") if c not in df.columns]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", source=path)
        return cls(df, str(path))

    def resolve(self, name: str | int) -> Prefecture:
        """The prefecture named ``name`` (English, pinyin, Chinese, adcode).

        Raises:
            InputError: unknown name; the message lists the valid names.
        """
        text = str(name).strip()
        hit = self._index.get(text) or self._index.get(_key(text))
        if hit is None:
            import difflib

            names = ", ".join(p.name_en for p in self.items)
            close = difflib.get_close_matches(_key(text), list(self._index), n=1, cutoff=0.6)
            hint = f" (did you mean '{self._index[close[0]].name_en}'?)" if close else ""
            raise InputError(f"unknown prefecture '{name}'{hint}; expected one of {names} (or Chinese name or adcode)",
                             field="prefecture")
        return hit


    def select(self, names: "str | list[str | int]", prefecture: str | int | None = None) -> list[Prefecture]:
        """The prefectures of a study area, in adcode order.

        Args:
            names: ``"all"`` or the config's list of names/adcodes.
            prefecture: one prefecture that overrides ``names`` (the CLI's ``--prefecture``).

        Raises:
            InputError: an unknown name (``field`` = ``prefectures`` for a config name,
                ``prefecture`` for the override), or an override outside the config's list.
        """
        if prefecture is not None:
            one = self.resolve(prefecture)
            if names != "all" and one not in self.select(names):
                listed = ", ".join(p.name_en for p in self.select(names))
                raise InputError(f"{one.name_en} is not in this config's study area ({listed})", field="prefecture")
            return [one]
        if names == "all":
            return sorted(self.items, key=lambda p: p.adcode)
        chosen = []
        for name in names:
            try:
                chosen.append(self.resolve(name))
            except InputError as exc:
                raise InputError(exc.message, source="config", field="prefectures") from None
        return sorted(set(chosen), key=lambda p: p.adcode)


def study_counties(counties: gpd.GeoDataFrame, adcodes: list[int] | None) -> gpd.GeoDataFrame:
    """Counties of the study area: all, or those whose ``city_adcode`` is in ``adcodes``.

    Returns a copy with columns ``adcode`` (county), ``name_zh``, ``prefecture_adcode``,
    ``geometry`` (WGS84), sorted by adcode.
    """
    df = counties.rename(columns={"district_adcode": "adcode", "district_name": "name_zh", "city_adcode": "prefecture_adcode"})
    df = df[["adcode", "name_zh", "prefecture_adcode", "geometry"]].copy()
    df["adcode"] = df["adcode"].astype(int)
    df["prefecture_adcode"] = df["prefecture_adcode"].astype(int)
    if adcodes is not None:
        df = df[df["prefecture_adcode"].isin(adcodes)]
    return df.sort_values("adcode").reset_index(drop=True)
