"""The ``commonalities`` layer (共性与差异): what the problem types of every place share, and
which are over-represented where, per county or city, with the same per industry.

It reads the records' types as the labelling step wrote them
(:mod:`geo_service.builds.problem_types`), so a type means the same thing in every place,
and tests with :mod:`analytics.commonalities`: Fisher's exact test of a type's share in a
place against its share elsewhere, Benjamini–Hochberg FDR over every tested pair, and no
test at all for a place with fewer than ``min_records`` typed records (listed as too few).

Its public view (:func:`public_commonalities`) tests cell-key perturbed counts and names
the types only: no shares, tallies or q-values (:mod:`geo_service.disclosure`).
"""

from __future__ import annotations

import json
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from analytics import cell_key
from analytics.commonalities import (
    TESTED,
    TOO_FEW,
    Differences,
    commonalities,
    counts_commonalities,
)
from geo_service.builds.inputs import Inputs
from geo_service.builds.parameters import CommonalityParameters
from geo_service.builds.problem_types import labels_catalogue
from geo_service.store.boundaries import read_divisions

#: The column that names a record's place, per unit.
PLACE_COLUMNS: Final = {"county": "adcode", "city": "city_adcode"}
#: How a place's status reads (the page, the workbook).
STATUS_ZH: Final = {TESTED: "已检验", TOO_FEW: "记录太少，未检验"}
#: ``lead_category`` of a tested place where nothing stands out, of a place with too few
#: records, and of a distinctive type that fits no violation category.
NOTHING: Final = "none"
FEW: Final = "too_few"
UNCATEGORISED: Final = "other"
_RECORD_COLUMNS: Final = ["adcode", "city_adcode", "industry_code", "problem_type_label"]
_KEYS: Final = {"cases": "case_id", "inspections": "inspection_id"}


def typed_records(inputs: Inputs, keys: bool = False) -> pd.DataFrame:
    """The cases and the inspections that found a problem, with the type the labelling step
    gave them (``label``); records it left without a type are left out. With ``keys``, the
    records' natural keys too (``kind``, ``key``: what cell keys are made from)."""
    frames = []
    for kind in ("cases", "inspections"):
        extra = ["problem_found"] if kind == "inspections" else []
        key = [_KEYS[kind]] if keys else []
        frame = inputs.frame(kind, [*key, *_RECORD_COLUMNS, "problem_type", *extra])
        typed = frame["problem_type"].fillna(-1).to_numpy(np.int64) >= 0
        if extra:
            typed &= frame["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        frame = frame[typed].rename(columns={"problem_type_label": "label"})
        if keys:
            frame = frame.rename(columns={_KEYS[kind]: "key"}).assign(kind=kind)
        frames.append(frame.drop(columns=["problem_type", *extra]))
    return pd.concat(frames, ignore_index=True)


def _categories(engine: Any) -> dict[str, str | None]:
    """Each type label's violation category code (None where none fits)."""
    return {t["label"]: t.get("category") for t in labels_catalogue(engine)}


def _lists(found: Differences, categories: dict[str, str | None]) -> dict[str, list[list[Any]]]:
    """Per tested group, its over-represented types (most significant first):
    ``[label, count, share, share elsewhere, ratio, q]``."""
    out: dict[str, list[list[Any]]] = {}
    for row in found.distinctive().to_dict("records"):
        ratio = float(row["ratio"])
        out.setdefault(str(row["group"]), []).append(
            [
                str(row["type"]),
                int(row["count"]),
                round(float(row["share"]), 4),
                round(float(row["share_elsewhere"]), 4),
                round(ratio, 2) if np.isfinite(ratio) else None,
                float(f"{row['q']:.3g}"),
            ]
        )
    return out


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def _common_list(found: Differences, categories: dict[str, str | None]) -> list[dict[str, Any]]:
    """The types present in every tested group, with their shares."""
    rows = found.common[found.common["common"]]
    return [
        {
            "label": str(r["type"]),
            "category": categories.get(str(r["type"])),
            "records": int(r["count"]),
            "share": round(float(r["share"]), 4),
            "share_min": round(float(r["share_min"]), 4),
            "share_max": round(float(r["share_max"]), 4),
            "groups_present": int(r["groups_present"]),
            "groups_tested": int(r["groups_tested"]),
        }
        for r in rows.to_dict("records")
    ]


def _lead(status: str, notable: list[list[Any]], categories: dict[str, str | None]) -> str:
    if status != TESTED:
        return FEW
    if not notable:
        return NOTHING
    return categories.get(notable[0][0]) or UNCATEGORISED


def _place_rows(
    records: pd.DataFrame,
    column: str,
    found: Differences,
    categories: dict[str, str | None],
    min_records: int,
) -> list[dict[str, Any]]:
    """One row per place with records: its mix, status, and what stands out there."""
    notable = _lists(found, categories)
    common = [c["label"] for c in _common_list(found, categories)]
    rows = []
    placed = records[records[column].notna() & (records[column] != "")]
    for place, labels in placed.groupby(column)["label"]:
        shares = labels.value_counts(normalize=True)
        status = TESTED if len(labels) >= min_records else TOO_FEW
        standing_out = notable.get(str(place), [])
        rows.append(
            {
                "adcode": str(place),
                "records": len(labels),
                "status": status,
                "status_zh": STATUS_ZH[status]
                + ("" if status == TESTED else f"（不足 {min_records} 条）"),
                "dominant_label": str(shares.index[0]),
                "dominant_share": round(float(shares.iloc[0]), 4),
                "n_distinctive": len(standing_out),
                "lead_category": _lead(status, standing_out, categories),
                "lead_label": standing_out[0][0] if standing_out else None,
                "distinctive": json.dumps(standing_out, ensure_ascii=False),
                "distinctive_zh": "；".join(
                    f"{r[0]} {_percent(r[2])}（其他地区 {_percent(r[3])}）" for r in standing_out
                )
                or ("无显著偏多的类型" if status == TESTED else "—"),
                "common_zh": "；".join(
                    f"{label} {_percent(float(shares.get(label, 0.0)))}" for label in common
                ),
                "mix": json.dumps(
                    {str(k): round(float(v), 4) for k, v in shares.items()}, ensure_ascii=False
                ),
            }
        )
    return rows


def _frame(rows: list[dict[str, Any]], inputs: Inputs, unit: str) -> gpd.GeoDataFrame:
    """The places as features: their outlines, names and level first."""
    table = read_divisions(inputs.engine).table
    rows = [r for r in rows if r["adcode"] in table.index]
    columns = ["adcode", "records", "status", "status_zh", "dominant_label", "dominant_share"]
    frame = gpd.GeoDataFrame(
        rows or None,
        columns=None if rows else columns,
        geometry=[table.loc[r["adcode"], "geometry"] for r in rows],
        crs="EPSG:4326",
    )
    frame.insert(1, "name", [table.loc[r["adcode"], "name"] for r in rows])
    frame.insert(2, "level", unit)
    return frame.sort_values("adcode").reset_index(drop=True)


def _by_industry(
    records: pd.DataFrame, parameters: CommonalityParameters, categories: dict[str, str | None]
) -> dict[str, Any]:
    """The same per GB/T 4754 class: the common types and, per class, what stands out."""
    industry = records["industry_code"].fillna("").astype(str).to_numpy()
    found = commonalities(
        records["label"].to_numpy(),
        industry,
        min_records=parameters.min_records,
        alpha=parameters.alpha,
    )
    notable = _lists(found, categories)
    return {
        "common": _common_list(found, categories),
        "industries": {
            str(r["group"]): {
                "records": int(r["records"]),
                "status": str(r["status"]),
                "distinctive": notable.get(str(r["group"]), []),
            }
            for r in found.groups.to_dict("records")
        },
        "test": found.parameters,
    }


def commonalities_layer(inputs: Inputs, parameters: CommonalityParameters) -> gpd.GeoDataFrame:
    """Per county (or city): the types' mix, the types common to every place with their
    share there, and the types over-represented there (tested); places with too few
    records are features too, marked so. Provenance: the common types, the test, and the
    same per industry."""
    records = typed_records(inputs)
    categories = _categories(inputs.engine)
    column = PLACE_COLUMNS[parameters.unit]
    found = commonalities(
        records["label"].to_numpy(),
        records[column].fillna("").astype(str).to_numpy(),
        min_records=parameters.min_records,
        alpha=parameters.alpha,
    )
    rows = _place_rows(records, column, found, categories, parameters.min_records)
    layer = _frame(rows, inputs, parameters.unit)
    layer.attrs["parameters"] = {
        **parameters.as_dict(),
        "test": found.parameters,
        "records": len(records),
        "common": _common_list(found, categories),
        "by_industry": _by_industry(records, parameters, categories),
        "types": [{"label": label, "category": category} for label, category in categories.items()],
    }
    return layer


def public_commonalities(
    inputs: Inputs, secret: bytes, parameters: CommonalityParameters
) -> gpd.GeoDataFrame:
    """The public view: per place, the perturbed number of typed records and the names of
    the types that stand out, tested on cell-key perturbed counts of each place and type;
    the common types named; no shares, tallies or q-values, nothing per industry."""
    records = typed_records(inputs, keys=True)
    categories = _categories(inputs.engine)
    column = PLACE_COLUMNS[parameters.unit]
    keys = np.zeros(len(records), np.uint64)
    for kind in _KEYS:
        mine = (records["kind"] == kind).to_numpy()
        keys[mine] = cell_key.record_keys(records.loc[mine, "key"].astype(str), secret, kind)
    places = records[column].fillna("").astype(str)
    placed = (places != "").to_numpy()
    place_index = pd.Index(sorted(set(places[placed])))
    type_index = pd.Index(sorted(set(records["label"])))
    p = np.where(placed, place_index.get_indexer(pd.Index(places)), -1)
    t = type_index.get_indexer(records["label"])
    cells = np.where(p >= 0, p * len(type_index) + t, -1)
    n_cells = len(place_index) * len(type_index)
    raw = np.bincount(cells[cells >= 0], minlength=n_cells)
    perturbed = cell_key.perturb(raw, cell_key.cell_keys(cells, keys, n_cells))
    counts = pd.DataFrame(
        perturbed.reshape(len(place_index), len(type_index)), index=place_index, columns=type_index
    )
    totals = cell_key.perturb(
        np.bincount(p[p >= 0], minlength=len(place_index)),
        cell_key.cell_keys(p, keys, len(place_index)),
    )
    found = counts_commonalities(counts, min_records=parameters.min_records, alpha=parameters.alpha)
    notable = _lists(found, categories)
    common = "；".join(c["label"] for c in _common_list(found, categories))
    rows = []
    for place, published in zip(place_index, totals, strict=True):
        if published <= 0:
            continue
        tested = found.groups.set_index("group")["status"].get(place) == TESTED
        status = TESTED if tested and published >= parameters.min_records else TOO_FEW
        names = [r[0] for r in notable.get(place, [])] if status == TESTED else []
        rows.append(
            {
                "adcode": str(place),
                "records": int(published),
                "status": status,
                "status_zh": STATUS_ZH[status],
                "n_distinctive": len(names),
                "lead_category": _lead(status, [[n] for n in names], categories),
                "lead_label": names[0] if names else None,
                "distinctive": json.dumps(names, ensure_ascii=False),
                "distinctive_zh": "；".join(names) or ("无显著偏多的类型" if tested else "—"),
                "common_zh": common,
            }
        )
    layer = _frame(rows, inputs, parameters.unit)
    layer.attrs["parameters"] = {
        **parameters.as_dict(),
        "test": found.parameters,
        "common": [c["label"] for c in _common_list(found, categories)],
    }
    return layer
