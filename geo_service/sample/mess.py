"""The planted dirt: mixed coordinate systems, swapped axes, missing fields, bad rows.

Every choice is drawn here, up front, for the whole table, so that the renderer
only applies it and ``truth.json`` / ``expected_rejects.csv`` can list it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import vocab

#: How a record tells where it is (what the ingest geocodes it by).
FORMS: Final = (
    "coordinates",  # lon/lat in some CRS (plus everything else)
    "credit_code",  # only a register credit code
    "name",  # only the exact register name
    "name_variant",  # only a variant of the register name
    "address_county",  # only an address naming the county (with or without its city)
    "address_city",  # only an address naming the city
)
FORM_SHARES: Final = {
    "cases": (0.82, 0.06, 0.03, 0.03, 0.04, 0.02),
    "inspections": (0.88, 0.04, 0.02, 0.02, 0.03, 0.01),
}
CRS_NAMES: Final = ("WGS84", "GCJ02", "BD09", "CGCS2000")
CRS_SHARES: Final = (0.55, 0.30, 0.10, 0.05)
SWAP_RATE: Final = {"enterprises": 0.002, "cases": 0.003, "inspections": 0.003}
#: Share of register names written as a variant even when coordinates are given.
VARIANT_WITH_COORDS: Final = 0.05
NAME_VARIANTS: Final = ("legal_form", "brackets", "spaces", "prefix")

REJECT_RATE: Final = 0.0075
REASONS: Final = {
    "cases": (
        "missing_required",
        "bad_date",
        "bad_coordinates",
        "duplicate_id",
        "bad_amount",
        "unlocatable",
        "malformed_row",
    ),
    "inspections": (
        "missing_required",
        "bad_date",
        "bad_coordinates",
        "duplicate_id",
        "unlocatable",
        "malformed_row",
    ),
}
#: The defect variants of each reason (the renderer writes them).
BAD_DATES: Final = ("2023-13-45", "2023-02-30", "无", "2039-06-01", "1985-03-02")
BAD_COORDINATES: Final = ("not_a_number", "latitude_out_of_range", "outside_guangxi")
BAD_AMOUNTS: Final = ("abc元", "negative")
MISSING: Final = ("id", "date")
BEIJING: Final = (116.397128, 39.916527)
#: The "outside" point of samples beyond Guangxi (Beijing may be in their area): Tokyo.
ABROAD: Final = (139.767125, 35.681236)
#: Tables smaller than this get no rejected rows.
MIN_ROWS_FOR_REJECTS: Final = 100


@dataclass
class Mess:
    """Per-row dirt of one table."""

    form: NDArray[np.int64]  # position in FORMS
    crs: NDArray[np.int64]  # position in CRS_NAMES (-1 without coordinates)
    crs_label: NDArray[np.int64]  # position in vocab.CRS_LABELS[crs]
    swapped: NDArray[np.bool_]
    name_variant: NDArray[np.int64]  # position in NAME_VARIANTS, -1 for the register name
    defect: NDArray[np.int64]  # position in REASONS[kind], -1 for a good row
    defect_variant: NDArray[np.int64]  # which variant of the defect
    duplicate_of: NDArray[np.int64]  # for duplicate_id rows, the earlier row repeated

    @property
    def good(self) -> NDArray[np.bool_]:
        """Rows the ingest must accept."""
        return self.defect < 0

    @property
    def has_coordinates(self) -> NDArray[np.bool_]:
        """Rows written with coordinates."""
        return self.crs >= 0


def _crs(rng: np.random.Generator, n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    crs = rng.choice(len(CRS_NAMES), size=n, p=np.asarray(CRS_SHARES))
    counts = np.array([len(vocab.CRS_LABELS[c]) for c in CRS_NAMES])
    return crs, np.floor(rng.random(n) * counts[crs]).astype(np.int64)


def plan_register_mess(rng: np.random.Generator, n: int) -> Mess:
    """Register rows: every one has coordinates; mixed CRS and a few swapped axes."""
    crs, label = _crs(rng, n)
    none = np.full(n, -1, dtype=np.int64)
    return Mess(
        form=np.zeros(n, dtype=np.int64),
        crs=crs,
        crs_label=label,
        swapped=rng.random(n) < SWAP_RATE["enterprises"],
        name_variant=none.copy(),
        defect=none.copy(),
        defect_variant=none.copy(),
        duplicate_of=none.copy(),
    )


def plan_mess(rng: np.random.Generator, kind: str, n: int) -> Mess:
    """Choose forms, CRS, swaps, name variants and defects of a cases/inspections table."""
    form = rng.choice(len(FORMS), size=n, p=np.asarray(FORM_SHARES[kind]))
    crs, label = _crs(rng, n)
    coords = form == 0
    crs = np.where(coords, crs, -1)
    swapped = coords & (rng.random(n) < SWAP_RATE[kind])
    variant = np.where(
        (form == FORMS.index("name_variant")) | (coords & (rng.random(n) < VARIANT_WITH_COORDS)),
        rng.integers(0, len(NAME_VARIANTS), n),
        -1,
    )
    mess = Mess(
        form,
        crs,
        label,
        swapped,
        variant,
        np.full(n, -1, dtype=np.int64),
        np.full(n, -1, dtype=np.int64),
        np.full(n, -1, dtype=np.int64),
    )
    _plant_defects(rng, kind, mess)
    return mess


def _plant_defects(rng: np.random.Generator, kind: str, mess: Mess) -> None:
    """Turn a few good coordinate rows into rows with exactly one defect each."""
    n = len(mess.form)
    reasons = REASONS[kind]
    if n < MIN_ROWS_FOR_REJECTS:
        return
    per_reason = max(1, round(REJECT_RATE * n / len(reasons)))
    # candidates: plain coordinate rows after the first tenth (duplicates need earlier rows)
    pool = np.flatnonzero((mess.form == 0) & ~mess.swapped & (mess.name_variant < 0))
    pool = pool[pool >= n // 10]
    chosen = rng.choice(pool, size=min(pool.size, per_reason * len(reasons)), replace=False)
    for r, rows in enumerate(np.array_split(chosen, len(reasons))):
        mess.defect[rows] = r
        mess.defect_variant[rows] = rng.integers(0, _variant_count(reasons[r]), rows.size)
    unlocatable = mess.defect == reasons.index("unlocatable")
    mess.crs[unlocatable] = -1
    dup_rows = np.flatnonzero(mess.defect == reasons.index("duplicate_id"))
    clean = np.flatnonzero(mess.good)
    before = np.searchsorted(clean, dup_rows)  # clean rows earlier than each duplicate
    mess.duplicate_of[dup_rows] = clean[np.floor(rng.random(dup_rows.size) * before).astype(int)]


def _variant_count(reason: str) -> int:
    return {
        "missing_required": len(MISSING),
        "bad_date": len(BAD_DATES),
        "bad_coordinates": len(BAD_COORDINATES),
        "bad_amount": len(BAD_AMOUNTS),
    }.get(reason, 1)


def name_variant(name: str, kind: int, prefix: str = vocab.GUANGXI_PREFIX) -> str:
    """A variant of a register name that normalises to the same key.

    Kinds (position in :data:`NAME_VARIANTS`): swap 有限公司/有限责任公司 (else
    add spaces), full-width （） to ASCII () (else add spaces), a space after
    the place word, and adding or dropping the province prefix (广西 by default).

    Examples
    --------
    >>> name_variant("南宁鑫华糖业有限公司", 0)
    '南宁鑫华糖业有限责任公司'
    >>> name_variant("广西鸿泰化工（集团）有限公司", 1)
    '广西鸿泰化工(集团)有限公司'
    >>> name_variant("南宁鑫华糖厂", 2), name_variant("广西鸿泰化工有限公司", 3)
    ('南宁 鑫华糖厂', '鸿泰化工有限公司')
    """
    variant = NAME_VARIANTS[kind]
    if variant == "legal_form" and not name.endswith("股份有限公司"):
        if name.endswith("有限责任公司"):
            return name.removesuffix("有限责任公司") + "有限公司"
        if name.endswith("有限公司"):
            return name.removesuffix("有限公司") + "有限责任公司"
    if variant == "brackets" and "（" in name:
        return name.replace("（", "(").replace("）", ")")
    if variant == "prefix":
        if name.startswith(prefix):
            return name.removeprefix(prefix)
        return prefix + name
    return f"{name[:2]} {name[2:]}"
