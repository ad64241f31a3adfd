"""The staging file gives back what was set aside, chunk by chunk, with its types; the
set-aside records go into staging files group by group, as planned."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa

from geo_service.ingest.set_aside import ChunkRecords, SetAside
from geo_service.ingest.staging import Staging
from geo_service.store.models import PenaltyCase


def _chunk(start: int, n: int, flags: list[str | None]) -> pa.Table:
    return pa.table(
        {
            "case_id": pa.array([f"C{i}" for i in range(start, start + n)]),
            "decision_date": pa.array([dt.date(2024, 1, 1 + i % 28) for i in range(n)]),
            "penalty_amount": pa.array([float(i) if i % 3 else None for i in range(n)]),
            "coord_flags": pa.array(flags, pa.string()),
            "problem_type": pa.array([None] * n, pa.null()),
        }
    )


def test_a_column_empty_in_its_first_rows_comes_back_as_text(tmp_path: Path) -> None:
    """The ADBC driver types a column by its first batch: text that starts only after
    thousands of empty cells must still come back as text, not fail as integers."""
    staging = Staging(tmp_path / "rows.sqlite", PenaltyCase.__table__)  # type: ignore[arg-type]
    first = _chunk(0, 5_000, [None] * 4_000 + ["point_on_surface"] * 1_000)
    second = _chunk(5_000, 3_000, ["swapped_axes"] * 3_000)
    try:
        staging.append(first)
        staging.append(second)
        staging.finish()
        parts = list(staging.parts())
    finally:
        staging.close()
    assert [p.num_rows for p in parts] == [5_000, 3_000] and staging.ends == [5_000, 8_000]
    for got, given in zip(parts, (first, second), strict=True):
        assert got.schema.field("decision_date").type == pa.date32()
        for name in ("case_id", "decision_date", "penalty_amount", "coord_flags"):
            assert got.column(name).to_pylist() == given.column(name).to_pylist(), name
        assert got.column("problem_type").null_count == got.num_rows


def test_set_aside_hands_over_groups_as_its_plan_gives_them(tmp_path: Path) -> None:
    """Groups of 2 chunks, then of 1 (the plan's last size kept); the last group is
    given when the file is sealed, each with its chunks in file order."""
    handed: list[tuple[int, list[str]]] = []

    def on_group(staging: Staging, group: int) -> None:
        ids = [i for p in staging.parts() for i in p.column("case_id").to_pylist()]
        handed.append((group, ids))

    table = PenaltyCase.__table__
    aside = SetAside(tmp_path / "read", table, (2, 1), on_group=on_group)  # type: ignore[arg-type]
    no_rejects = pd.DataFrame({"reason": pd.Series([], dtype=object)})
    try:
        for start in range(0, 5 * 3, 3):  # five chunks of three records
            part = _chunk(start, 3, [None] * 3)
            aside.add(ChunkRecords(part, 3, [], Counter()), no_rejects)
        aside.seal()
    finally:
        aside.close()
    sizes = [len(ids) // 3 for _, ids in handed]
    assert [g for g, _ in handed] == [0, 1, 2, 3] and sizes == [2, 1, 1, 1]
    assert [i for _, ids in handed for i in ids] == [f"C{i}" for i in range(15)]
