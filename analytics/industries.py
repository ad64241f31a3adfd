"""Names of GB/T 4754-2017 industry classes, for tables people read (ledgers).

The names are those of ``vocabulary/industries_gbt4754.tsv`` (its header says their
source); a code not in it keeps an empty name rather than a guessed one.

Examples
--------
>>> industry_names()["C1340"], industry_names()["E4710"]
('制糖业', '住宅房屋建筑')
>>> frame = pd.DataFrame({"industry": ["C1340", "X9999", ""], "cases": [3, 1, 2]})
>>> name_industries(frame).values.tolist()
[['C1340', '制糖业', 3], ['X9999', '', 1], ['', '', 2]]
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pandas as pd

TABLE = Path(__file__).parent / "vocabulary" / "industries_gbt4754.tsv"


@cache
def industry_names() -> dict[str, str]:
    """Class code (section letter and four digits, ``C1340``) → the standard's name."""
    with TABLE.open(encoding="utf-8") as fh:
        rows = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        return {row["code"]: row["name"] for row in rows}


def name_industries(table: pd.DataFrame, column: str = "industry") -> pd.DataFrame:
    """``table`` with ``industry_name`` after its ``column`` of codes (unchanged without
    that column)."""
    if column not in table.columns:
        return table
    names = industry_names()
    named = table[column].map(lambda code: names.get(str(code), ""))
    out = table.copy()
    out.insert(list(out.columns).index(column) + 1, "industry_name", named)
    return out
