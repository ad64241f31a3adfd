"""The Dask build (LocalCluster, 2 worker processes) makes the layers of the single-machine build.

The sample slice is ingested into two stores; ``build_layers`` builds one,
``build_layers_dask`` the other, and every variant of every layer the cluster
computes is compared: same cells in the same order, counts equal, floats to
1e-9 relative, the same geometries; KDE GeoTIFFs on the same grid with the
same values (to 1e-9 relative, beyond the float32 rounding of the file).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from distributed import Client
from numpy.testing import assert_allclose
from sqlalchemy import Engine, text

from geo_service.builds.inputs import Inputs
from geo_service.builds.registry import RECIPES
from geo_service.builds.run import build_layers
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.scale.dask_build import (
    DASK_LAYERS,
    _exported,
    _plan,
    _Run,
    build_layers_dask,
    dask_client,
)
from geo_service.scale.partitions import export_partitions, partitions_for
from geo_service.store import make_engine
from geo_service.store.layer_builds import StoredLayer, load_layer
from layers.rasters import NODATA
from tests.conftest import _prepared

pytestmark = pytest.mark.slow


def _sample_store(path: Path, divisions_gdf: Any) -> Engine:
    engine = _prepared(make_engine(f"sqlite:///{path}"), divisions_gdf)
    for kind in ("enterprises", "cases", "inspections"):
        options = IngestOptions(kind=kind, progress=False, today=dt.date(2026, 11, 28))
        ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    return engine


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with dask_client(n_workers=2) as active:
        yield active
    # the context closed the cluster: no worker process is left behind
    assert active.status == "closed"


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, divisions_gdf: Any) -> tuple[Engine, Engine]:
    root = tmp_path_factory.mktemp("dask_equivalence")
    return _sample_store(root / "single.db", divisions_gdf), _sample_store(
        root / "dask.db", divisions_gdf
    )


def _variants(layer: str) -> list[dict[str, Any]]:
    return [p.as_dict() for p in RECIPES[layer].variant_parameters()]


def _loaded(
    engine: Engine, layer: str, filters: Filters, parameters: dict[str, Any]
) -> StoredLayer:
    stored = load_layer(engine, layer, filters.as_dict(), parameters)
    assert stored is not None, (layer, parameters)
    return stored


def _assert_same_frames(single: pd.DataFrame, dask: pd.DataFrame, what: str) -> None:
    assert list(single.columns) == list(dask.columns), what
    assert len(single) == len(dask), what
    for column in single.columns:
        a, b = single[column], dask[column]
        if column == "geometry":
            assert a.geom_equals_exact(b, tolerance=0).all(), what
        elif pd.api.types.is_float_dtype(a):
            assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=1e-9, err_msg=what)
        else:
            assert a.tolist() == b.tolist(), f"{what}: {column}"


def _assert_same_rasters(single: bytes, dask: bytes, what: str) -> None:
    from rasterio.io import MemoryFile

    with MemoryFile(single) as ma, ma.open() as a, MemoryFile(dask) as mb, mb.open() as b:
        assert (a.width, a.height, a.crs) == (b.width, b.height, b.crs), what
        assert_allclose(tuple(b.transform), tuple(a.transform), rtol=1e-9, err_msg=what)
        va, vb = a.read(1).astype(np.float64), b.read(1).astype(np.float64)
        tags_a, tags_b = a.tags(), b.tags()
    assert tags_a.keys() == tags_b.keys(), what
    for name in ("bandwidth_m", "cell_m", "n_points", "total_weight"):
        assert_allclose(float(tags_b[name]), float(tags_a[name]), rtol=1e-9, err_msg=what)
    for name in ("kernel", "units", "weight", "bandwidth_rule"):
        assert tags_a[name] == tags_b[name], what
    assert np.array_equal(va == NODATA, vb == NODATA), what  # the rate's undefined cells
    # float32 in the file: a 1e-15 difference may round to the neighbouring float32
    float32_step = np.spacing(np.abs(va).astype(np.float32)).astype(np.float64)
    # and the FFT leaves round-off of ~1e-16 × the peak where the density is 0
    fft_floor = 1e-12 * np.abs(va[va != NODATA]).max()
    tolerance = np.maximum(np.maximum(1e-9 * np.abs(va), float32_step), fft_floor)
    assert (np.abs(va - vb) <= tolerance).all(), what
    assert_allclose(vb.sum(), va.sum(), rtol=1e-9, err_msg=what)


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(jurisdiction="450100", period="2024")],
    ids=["all", "nanning-2024"],
)
def test_dask_build_equals_the_single_machine_build(
    stores: tuple[Engine, Engine], client: Client, filters: Filters
) -> None:
    single, dask = stores
    started = time.perf_counter()
    build_layers(single, filters, list(DASK_LAYERS))
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    summary = build_layers_dask(dask, filters, list(DASK_LAYERS), client=client, timeout_s=300)
    dask_s = time.perf_counter() - started
    print(f"{filters.as_dict()}: single machine {single_s:.1f} s, dask {dask_s:.1f} s")
    assert summary["backend"] == "dask"
    assert summary["single_machine"] == []  # the county Gi* too, from summed county counts
    compared, imprecise = 0, 0
    for layer in DASK_LAYERS:
        for parameters in _variants(layer):
            what = f"{layer} {parameters}"
            a = _loaded(single, layer, filters, parameters)
            b = _loaded(dask, layer, filters, parameters)
            assert a.media_type == b.media_type, what
            # the provenance says the cluster made it
            assert b.parameters.get("backend") == "dask", what
            assert "backend" not in a.parameters, what
            # and both left out the same cases placed only at a county or city
            for key in ("not_placed_precisely", "not_placed_precisely_enterprises"):
                assert a.parameters.get(key) == b.parameters.get(key), f"{what}: {key}"
            imprecise += a.parameters.get("not_placed_precisely", 0)
            if layer == "kde":
                _assert_same_rasters(a.payload, b.payload, what)
            else:
                frame_a, frame_b = a.frame(), b.frame()
                assert len(frame_a) > 0, what
                _assert_same_frames(frame_a, frame_b, what)
            compared += 1
    assert compared == sum(len(RECIPES[layer].variants) for layer in DASK_LAYERS)
    assert imprecise > 0  # the sample has cases placed only at a county or city


@pytest.mark.parametrize(
    "filters",
    [Filters(period="2021-01", violation_type="篡改、伪造自动监测数据"), Filters(period="1999")],
    ids=["one-month-one-type", "no-cases"],
)
def test_dask_build_skips_what_the_single_machine_build_skips(
    stores: tuple[Engine, Engine], client: Client, filters: Filters
) -> None:
    """Thin data: the layers (variants) one build cannot make, the other skips too, for
    the same reason, and builds the rest."""
    single, dask = stores
    local = build_layers(single, filters, list(DASK_LAYERS))
    summary = build_layers_dask(dask, filters, list(DASK_LAYERS), client=client, timeout_s=300)

    def skips(result: dict[str, Any]) -> list[tuple[str, str, str]]:
        return sorted((s["layer"], str(s["parameters"]), s["code"]) for s in result["skipped"])

    assert skips(local), "the filters should leave too little for some layer"
    assert skips(summary) == skips(local)
    assert {n: len(v) for n, v in summary["layers"].items()} == {
        n: len(v) for n, v in local["layers"].items()
    }


def test_partitions_hold_every_record_once(stores: tuple[Engine, Engine], tmp_path: Path) -> None:
    single, _ = stores
    root = export_partitions(single, tmp_path / "parts", chunk_rows=1000)
    for kind, table in (
        ("cases", "cases"),
        ("inspections", "inspections"),
        ("enterprises", "enterprises"),
    ):
        parts = partitions_for(root, kind, Filters())
        rows = sum(
            pq.read_metadata(f).num_rows for p in parts for f in Path(p.path).glob("*.parquet")
        )
        with single.connect() as conn:
            assert rows == conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        if kind != "enterprises":
            assert all(p.month and len(p.month) == 7 for p in parts)
    months = {p.month for p in partitions_for(root, "cases", Filters(period="2024-Q2"))}
    assert months <= {"2024-04", "2024-05", "2024-06"}


def test_workers_hold_no_records_between_passes(
    stores: tuple[Engine, Engine], client: Client, tmp_path: Path
) -> None:
    """Each pass reads its partitions afresh: once the first pass is summed, nothing of the
    records stays on the workers (a store larger than their memory can be built)."""
    _, dask = stores
    parts, rows = _exported(dask, Filters(), tmp_path / "parts")
    run = _Run(client, Inputs(dask, Filters()), parts, rows, timeout_s=300)
    run.first_pass(_plan(list(DASK_LAYERS)))
    with dask.connect() as conn:
        n_cases = conn.execute(text("SELECT count(*) FROM cases")).scalar()
        in_county = conn.execute(text("SELECT count(adcode) FROM cases")).scalar()
    assert sum(run.partials["counties"].values()) == in_county
    assert run.partials["hex8"].sums["cases"].sum() == n_cases

    def held() -> int:
        return sum(client.run(lambda dask_worker: len(dask_worker.data)).values())

    deadline = time.monotonic() + 30  # released futures leave the workers asynchronously
    while held() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert held() == 0
