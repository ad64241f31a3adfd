"""What a linked record takes from its register entry, and the note of what it took."""

from __future__ import annotations

import numpy as np
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
    fields = {**FILLED, **TAKEN}
    took = np.zeros(len(own), dtype=np.int64)  # bit k: the k-th field came from the entry
    frame = index.frame
    for bit, (field, source) in enumerate(fields.items()):
        values = pd.Series(None, index=own.index, dtype=object)
        values[linked] = frame[source].to_numpy(object)[position[linked].astype(int).to_numpy()]
        values = values.where(values.notna() & values.astype(str).ne(""), None)
        mine = own[field] if field in own else pd.Series(None, index=own.index, dtype=object)
        mine = mine.astype(object).where(mine.notna() & mine.astype(str).str.strip().ne(""), None)
        take = values.notna() & (mine.isna() if field in FILLED else True)
        out[field] = mine.where(~take, values) if field in FILLED else values
        took |= take.to_numpy(dtype=bool).astype(np.int64) << bit
    notes = np.empty(1 << len(fields), dtype=object)  # the note of each set of fields taken
    notes[:] = [
        ",".join(f for k, f in enumerate(fields) if s >> k & 1) or None for s in range(len(notes))
    ]
    out["inherited"] = pd.Series(notes[took], index=own.index, dtype=object)
    return out
