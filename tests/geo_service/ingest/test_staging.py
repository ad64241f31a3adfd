"""The staging file gives back what was set aside, chunk by chunk, with its types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

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
