"""The one-process build streams the additive layers from the store in chunks.

The sample slice is read a few dozen rows at a time (``chunk_rows`` forced small), and
every variant of every additive layer is compared with the same layer computed from
whole tables in memory (the recipes of :mod:`geo_service.builds.recipes`, the build
before streaming): same cells, counts equal, floats to 1e-9 relative, KDE rasters on
the same grid. An instrumented reader shows what the build holds of the records: no
whole table, and pieces no larger than the chunk size, each dropped before the next
but one is read.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

import geo_service.builds.inputs as inputs_module
from geo_service.builds import recipes
from geo_service.builds.inputs import Inputs
from geo_service.builds.registry import RECIPES
from geo_service.builds.run import build_layers
from geo_service.builds.streaming import STREAMED_LAYERS, streamed
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine
from geo_service.store.layer_builds import load_layer
from geo_service.store.queries import read_chunks
from tests.conftest import _prepared
from tests.geo_service.scale.test_dask_equivalence import (
    _assert_same_frames,
    _assert_same_rasters,
)

pytestmark = pytest.mark.slow

#: The in-memory recipes: what the one-process build computed before it streamed.
IN_MEMORY: dict[str, Callable[[Inputs, Any], Any]] = {
    "hexagons": recipes.hexagons_layer,
    "hotspots": recipes.hotspots_layer,
    "local-moran": recipes.local_moran_layer,
    "kde": recipes.kde_layer,
    "emerging-hotspots": recipes.emerging_layer,
}
CHUNK = 400  # the slice's 3,500 cases and 6,000 inspections in 9 and 15 chunks


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, divisions_gdf: Any) -> Engine:
    path = tmp_path_factory.mktemp("streamed") / "geo.db"
    engine = _prepared(make_engine(f"sqlite:///{path}"), divisions_gdf)
    for kind in ("enterprises", "cases", "inspections"):
        options = IngestOptions(kind=kind, progress=False, today=dt.date(2026, 11, 28))
        ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    return engine


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(jurisdiction="450100", period="2024")],
    ids=["all", "nanning-2024"],
)
@pytest.mark.parametrize("layer", STREAMED_LAYERS)
def test_streamed_layer_equals_the_in_memory_layer(
    store: Engine, layer: str, filters: Filters
) -> None:
    for parameters in RECIPES[layer].variant_parameters():
        what = f"{layer} {parameters.as_dict()}"
        whole = IN_MEMORY[layer](Inputs(store, filters), parameters)
        chunked = Inputs(store, filters, chunk_rows=CHUNK)
        got = streamed(layer)(chunked, parameters)
        assert chunked.passes is not None and chunked.passes.partials, what
        if isinstance(whole, bytes):
            assert isinstance(got, bytes), what
            _assert_same_rasters(whole, got, what)
        else:
            assert not isinstance(got, bytes), what
            assert len(whole) > 0, what
            _assert_same_frames(whole, got, what)
            assert got.attrs.get("parameters") == whole.attrs.get("parameters"), what


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every chunk the build reads, as (kind, rows); reading a whole table fails the test,
    and so does a chunk read while an earlier one than the last is still held."""
    seen: list[tuple[str, int]] = []

    def chunks(
        engine: Engine, kind: str, filters: Filters, columns: list[str], chunk_rows: int
    ) -> Iterator[pd.DataFrame]:
        held: list[weakref.ref[pd.DataFrame]] = []
        for frame in read_chunks(engine, kind, filters, columns, chunk_rows):
            # the loop reading the chunks may still name the last one, no other
            assert all(ref() is None for ref in held[:-1]), f"{kind}: earlier chunks are held"
            seen.append((kind, len(frame)))
            held.append(weakref.ref(frame))
            yield frame

    def whole_table(*args: Any, **kwargs: Any) -> pd.DataFrame:
        raise AssertionError(f"a whole table was read: {args[1:]}")

    monkeypatch.setattr(inputs_module, "read_chunks", chunks)
    monkeypatch.setattr(inputs_module, "read_frame", whole_table)
    monkeypatch.setattr(inputs_module, "CHUNK_ROWS", CHUNK)
    yield seen


def test_build_reads_the_store_in_bounded_chunks(
    tmp_path: Path, divisions_gdf: Any, reads: list[tuple[str, int]]
) -> None:
    engine = _prepared(make_engine(f"sqlite:///{tmp_path / 'geo.db'}"), divisions_gdf)
    for kind in ("enterprises", "cases", "inspections"):
        options = IngestOptions(kind=kind, progress=False, today=dt.date(2026, 11, 28))
        ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    summary = build_layers(engine, Filters(), list(STREAMED_LAYERS))
    assert summary["skipped"] == []
    assert set(summary["layers"]) == set(STREAMED_LAYERS)
    n_cases, n_inspections = _count(engine, "cases"), _count(engine, "inspections")
    assert n_cases > 5 * CHUNK and n_inspections > 5 * CHUNK
    # what is held of the records is a chunk, however many the store has
    assert max(rows for _, rows in reads) == CHUNK
    # one first pass for every variant: the inspections (hexagons only) are read once
    assert sum(rows for kind, rows in reads if kind == "inspections") == n_inspections
    assert sum(1 for kind, _ in reads if kind == "inspections") == -(-n_inspections // CHUNK)
    # the first pass, the bandwidths of both weightings, a binning per weighting (the
    # ratio to the register bins the cases on the plain KDE's grid)
    case_rows = sum(rows for kind, rows in reads if kind == "cases")
    assert case_rows == (1 + 1 + 2) * n_cases
    r8 = RECIPES["hexagons"].parameters.of({"resolution": 8}).as_dict()
    stored = load_layer(engine, "hexagons", Filters().as_dict(), r8)
    assert stored is not None and stored.frame()["cases"].sum() == n_cases
