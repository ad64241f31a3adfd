"""The register as the linkage reads it: by code, by normalised name, by place and near a point."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from sqlalchemy import Connection, Engine, select

from geo_service.geocoding.names import normalize_company_names
from geo_service.store.frames import rows_frame
from geo_service.store.models import Enterprise, Jurisdiction

#: The register columns the linkage reads.
COLUMNS = (
    "credit_code",
    "name",
    "name_norm",
    "address",
    "industry_code",
    "category",
    "lon",
    "lat",
    "geocode_precision",
    "adcode",
    "city_adcode",
    "province_adcode",
)
EARTH_KM = 6371.0088
#: Legal forms and group words at the end of a normalised name, taken off its core.
_FORM_ENDINGS = ("股份有限公司", "有限公司", "股份公司", "有限合伙", "公司", "集团")
#: Division suffixes taken off to give the short place words (南宁市 → 南宁, 武鸣区 → 武鸣).
_DIVISION_SUFFIX = re.compile(
    r"(壮族自治区|回族自治区|维吾尔自治区|自治区|各族自治县|自治县|自治州|自治旗|特区|林区|新区|市|区|县|旗|盟)$"
)


def unit_vectors(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
    """Points on the sphere of the Earth's mean radius (km): chord ≈ distance when near."""
    lo, la = np.radians(lon), np.radians(lat)
    return EARTH_KM * np.column_stack(
        [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]
    )


def distance_km(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Great-circle km between rows of :func:`unit_vectors`."""
    chord = np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)
    return 2 * EARTH_KM * np.arcsin(np.clip(chord / (2 * EARTH_KM), 0, 1))


def place_words(division_names: Iterable[str]) -> tuple[str, ...]:
    """Division names and their short forms (two characters or more), longest first.

    Examples
    --------
    >>> place_words(["南宁市", "武鸣区", "隆林各族自治县"])
    ('隆林各族自治县', '南宁市', '武鸣区', '南宁', '武鸣', '隆林')
    """
    words = set()
    for name in division_names:
        words.add(str(name))
        short = _DIVISION_SUFFIX.sub("", str(name))
        if len(short) >= 2:
            words.add(short)
    return tuple(sorted(words, key=lambda w: (-len(w), w)))


class NameCores:
    """The core of a normalised company name: its place words and legal form taken off.

    Two names that differ only by a dropped place word or legal form share a core
    (南宁鑫华糖业有限公司, 鑫华糖业有限公司 and 南宁鑫华糖业 are all 鑫华糖业). Cores
    are compared only among entries near one another: two firms of different towns
    may share one.
    """

    def __init__(self, words: Iterable[str]) -> None:
        ordered = sorted(set(words), key=len, reverse=True)
        self._places = (
            re.compile("^(?:" + "|".join(map(re.escape, ordered)) + ")+") if ordered else None
        )

    def core(self, name_norm: str) -> str:
        """The core of one normalised name (the name itself when too little is left).

        Examples
        --------
        >>> NameCores(["南宁", "南宁市"]).core("南宁市鑫华糖业有限公司")
        '鑫华糖业'
        """
        key = name_norm
        for ending in _FORM_ENDINGS:
            if key.endswith(ending) and len(key) - len(ending) >= 2:
                key = key[: -len(ending)]
        if self._places is not None:
            stripped = self._places.sub("", key, count=1)
            if len(stripped) >= 2:
                key = stripped
        return key

    def cores(self, names_norm: pd.Series) -> pd.Series:
        """:meth:`core` over a column (each distinct name once)."""
        unique = {n: self.core(n) for n in pd.unique(names_norm.fillna(""))}
        return names_norm.fillna("").map(unique)


def _positions_by(values: NDArray[np.object_]) -> dict[str, list[int]]:
    """Each value but the empty one with its positions in ``values``, in order (a group-by
    to lists, without a Series a group)."""
    codes, uniques = pd.factorize(values)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    ends = np.cumsum(counts)
    starts = ends - counts
    skipped = int(np.count_nonzero(codes < 0))  # missing values sort first
    return {
        str(value): order[skipped + start : skipped + end].tolist()
        for value, start, end in zip(uniques, starts, ends, strict=True)
        if value
    }


class RegisterIndex:
    """The register entries with the look-ups the linkage makes.

    ``frame`` has :data:`COLUMNS`; entries are addressed by position.
    """

    def __init__(self, frame: pd.DataFrame, cores: NameCores) -> None:
        frame = frame.reset_index(drop=True)
        for column in COLUMNS:
            if column not in frame:
                frame[column] = None
            elif column not in ("lon", "lat"):
                frame[column] = frame[column].astype(object)
        if frame["name_norm"].isna().any():
            frame["name_norm"] = normalize_company_names(frame["name"])
        self.frame = frame
        self.cores = cores
        self.core = cores.cores(frame["name_norm"]).to_numpy(object)
        self.codes = frame["credit_code"].astype(str).to_numpy(object)
        self.position = {c: i for i, c in enumerate(self.codes)}
        self.code_index = pd.Index(self.codes)
        named = frame["name_norm"].fillna("").astype(str)
        self.by_name = _positions_by(named.to_numpy(object))
        self.by_county = self._groups("adcode")
        self.by_city = self._groups("city_adcode")
        lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(np.float64)
        lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(np.float64)
        self.xyz = unit_vectors(np.nan_to_num(lon), np.nan_to_num(lat))
        self.tree = cKDTree(self.xyz) if len(frame) else None

    def _groups(self, column: str) -> dict[str, list[int]]:
        values = self.frame[column].astype(object).where(self.frame[column].notna(), "")
        return _positions_by(values.to_numpy(object))

    def __len__(self) -> int:
        return len(self.frame)

    def near(self, xyz: NDArray[np.float64], km: float) -> list[int]:
        """Entries within ``km`` of one point (of :func:`unit_vectors`)."""
        if self.tree is None:
            return []
        return sorted(self.tree.query_ball_point(xyz, r=km))


def read_register_frame(conn: Connection) -> pd.DataFrame:
    """The stored register's :data:`COLUMNS`."""
    table = Enterprise.__table__
    rows = conn.execute(select(*(table.c[c] for c in COLUMNS))).all()
    return rows_frame(rows, COLUMNS)


def read_place_words(conn: Connection) -> tuple[str, ...]:
    """:func:`place_words` of the stored divisions."""
    return place_words(conn.execute(select(Jurisdiction.name)).scalars().all())


def load_register_index(bind: Engine | Connection) -> RegisterIndex:
    """The stored register, indexed for linkage (read in ``bind``'s transaction when it
    is a connection: a register just written, not yet committed)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return load_register_index(conn)
    return RegisterIndex(read_register_frame(bind), NameCores(read_place_words(bind)))
