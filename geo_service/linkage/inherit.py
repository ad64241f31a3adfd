"""What a linked record takes from its register entry, and the note of what it took."""

from __future__ import annotations

import pandas as pd

from geo_service.linkage.register import RegisterIndex

#: Record fields filled from the register entry where the record has none, by the
#: register column they come from.
FILLED = {"industry_code": "industry_code"}
#: Record fields always taken from the register entry (records do not state them).
TAKEN = {"supervision_category": "category"}


def inherit(own: pd.DataFrame, codes: pd.Series, index: RegisterIndex) -> pd.DataFrame:
    """The inherited fields of records linked to ``codes`` (None where unlinked).

    ``own`` holds the records' own values of :data:`FILLED` (missing: None). The
    result has those columns filled where the record had none, the
    :data:`TAKEN` columns, and ``inherited``: the fields that came from the
    register, comma-separated, in a fixed order (None when none did).
    """
    position = codes.map(index.position)
    linked = position.notna()
    out = pd.DataFrame(index=own.index)
    notes = pd.Series("", index=own.index, dtype=object)
    frame = index.frame
    for field, source in {**FILLED, **TAKEN}.items():
        values = pd.Series(None, index=own.index, dtype=object)
        values[linked] = frame[source].to_numpy(object)[position[linked].astype(int).to_numpy()]
        values = values.where(values.notna() & values.astype(str).ne(""), None)
        mine = own[field] if field in own else pd.Series(None, index=own.index, dtype=object)
        mine = mine.astype(object).where(mine.notna() & mine.astype(str).str.strip().ne(""), None)
        take = values.notna() & (mine.isna() if field in FILLED else True)
        out[field] = mine.where(~take, values) if field in FILLED else values
        notes[take] = notes[take] + "," + field
    out["inherited"] = notes.str.lstrip(",").where(notes.ne(""), None)
    return out
