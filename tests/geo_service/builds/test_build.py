"""Building and exporting analytic layers: stored per filters, rebuilt when data change."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import pytest
from sqlalchemy import Engine, func, select

from geo_service.builds.exports import export_layer
from geo_service.builds.run import analytic_layer, build_layers
from geo_service.core.filters import Filters
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.models import LayerBuild, PenaltyCase
from tests.conftest import SampleStore
from tests.geo_service.messy import write_enterprises, write_messy_cases

HEXAGON_PROPERTIES = {
    "h3",
    "resolution",
    "cases",
    "inspections",
    "problems_found",
    "penalty_sum",
    "enterprises",
}


@pytest.fixture
def loaded(store: Engine, tmp_path: Path, divisions_gdf: gpd.GeoDataFrame) -> Engine:
    write_enterprises(tmp_path / "ent.csv", divisions_gdf)
    write_messy_cases(tmp_path / "cases.csv", divisions_gdf)
    for kind, name in (("enterprises", "ent.csv"), ("cases", "cases.csv")):
        ingest_file(store, tmp_path / name, IngestOptions(kind=kind, progress=False))
    return store


def test_build_stores_every_resolution(loaded: Engine) -> None:
    summary = build_layers(loaded, Filters(), ["hexagons"])
    assert [v["parameters"]["resolution"] for v in summary["layers"]["hexagons"]] == list(
        range(5, 11)
    )
    with loaded.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LayerBuild)).scalar() == 6
        n_cases = conn.execute(select(func.count()).select_from(PenaltyCase)).scalar()
    for resolution in (5, 10):
        frame = analytic_layer(loaded, "hexagons", Filters(), {"resolution": resolution}).frame()
        assert frame["cases"].sum() == n_cases
        assert set(frame["resolution"]) == {resolution}
        assert all(h3.get_resolution(c) == resolution for c in frame["h3"])
        assert frame["enterprises"].sum() == 3


def test_export_hexagons_with_provenance(loaded: Engine, tmp_path: Path) -> None:
    out = tmp_path / "hex.geojson"
    summary = export_layer(
        loaded, "hexagons", "geojson", out, Filters(jurisdiction="450100"), {"resolution": 7}
    )
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc["features"][0]["properties"]) >= HEXAGON_PROPERTIES
    assert doc["metadata"]["parameters"] == {"resolution": 7}
    assert doc["metadata"]["filters"] == {"jurisdiction": "450100"}
    assert sum(f["properties"]["cases"] for f in doc["features"]) == 5  # the Nanning cases
    assert summary["features"] == len(doc["features"])


def test_a_new_ingest_makes_stored_builds_stale(loaded: Engine, tmp_path: Path) -> None:
    first = analytic_layer(loaded, "hexagons", Filters(), {})
    again = analytic_layer(loaded, "hexagons", Filters(), {})
    assert again.created_at == first.created_at  # served from the store
    ingest_file(loaded, tmp_path / "ent.csv", IngestOptions(kind="enterprises", progress=False))
    rebuilt = analytic_layer(loaded, "hexagons", Filters(), {})
    assert rebuilt.data_version == first.data_version + 1


def test_kde_exports_as_geotiff_in_cases_per_km2(loaded: Engine, tmp_path: Path) -> None:
    from layers.rasters import NODATA, read_geotiff

    out = tmp_path / "kde.tif"
    summary = export_layer(
        loaded, "kde", "gtiff", out, Filters(), {"bandwidth_m": 5000.0, "cell_m": 500.0}
    )
    values, tags, _ = read_geotiff(out.read_bytes())
    count = select(func.count()).select_from(PenaltyCase)
    with loaded.connect() as conn:
        n_cases = conn.execute(count).scalar_one()
        at_point = conn.execute(count.where(PenaltyCase.geocode_precision == "point")).scalar_one()
    assert 0 < at_point < n_cases  # the messy cases hold some placed at a county or city
    # 0.5 km cells of an equal-area CRS: 0.25 km² each; the cases placed only at a county
    # or city are left out; the file is resampled to a registered CRS and cut at the
    # jurisdiction (NoData beyond it), so the kernels' mass outside it is not in the sum
    inside = values[values != NODATA]
    assert (inside >= 0).all() and (values == NODATA).any()
    assert inside.sum() * 0.25 == pytest.approx(at_point, rel=0.03)
    assert json.loads(tags["not_placed_precisely"]) == n_cases - at_point
    assert tags["not_placed_precisely_label"] == "未精确定位"
    assert summary["parameters"]["not_placed_precisely"] == n_cases - at_point
    assert float(tags["bandwidth_m"]) == 5000.0 and tags["kernel"] == "quartic"
    assert summary["parameters"]["bandwidth_m"] == 5000.0
    bands = tmp_path / "kde.geojson"
    export_layer(
        loaded, "kde", "geojson", bands, Filters(), {"bandwidth_m": 5000.0, "cell_m": 500.0}
    )
    doc = json.loads(bands.read_text(encoding="utf-8"))
    lows = [f["properties"]["density_min"] for f in doc["features"]]
    assert lows == sorted(lows) and len(lows) >= 5
    assert doc["metadata"]["parameters"]["bandwidth_m"] == 5000.0
    with pytest.raises(ValueError, match="raster"):
        export_layer(loaded, "hexagons", "gtiff", tmp_path / "h.tif", Filters())


def test_kde_rate_per_enterprise(loaded: Engine, tmp_path: Path) -> None:
    import numpy as np

    from layers.rasters import read_geotiff

    stored = analytic_layer(
        loaded, "kde", Filters(), {"ratio_to": "enterprises", "bandwidth_m": 20_000.0}
    )
    values, tags, _ = read_geotiff(stored.payload)
    assert tags["units"] == "cases per enterprise"
    finite = values[values > -9999]
    assert finite.size and np.all(finite >= 0)
    assert (values == -9999).any()  # no enterprises nearby: no rate, not an extreme one


def test_problem_type_labelling_is_a_step_of_its_own(
    sample_store: SampleStore, tmp_path: Path
) -> None:
    """Building the problem-types layer writes nothing into the records; a layer that reads
    the labels (clusters) has the step run first, once, with its provenance stored."""
    import shutil

    from sqlalchemy import text

    from geo_service.builds.problem_types import LABELS_STEP, label_records
    from geo_service.store import make_engine

    database = sample_store.engine.url.database
    assert database is not None
    shutil.copy(database, tmp_path / "geo.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    with engine.begin() as conn:  # as ingested: no labels, no builds
        conn.execute(text("UPDATE cases SET problem_type = NULL, problem_type_label = NULL"))
        conn.execute(text("DELETE FROM layer_builds"))

    def labelled() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(problem_type) FROM cases")).scalar_one())

    analytic_layer(engine, "problem-types", Filters(), {})
    assert labelled() == 0
    analytic_layer(engine, "clusters", Filters(jurisdiction="450100"), {})
    with engine.connect() as conn:
        total = int(conn.execute(text("SELECT count(*) FROM cases")).scalar_one())
        steps = conn.execute(
            select(LayerBuild.parameters, LayerBuild.created_at).where(
                LayerBuild.layer == LABELS_STEP
            )
        ).all()
    assert labelled() == total > 0  # the whole store, though the clusters were filtered
    assert len(steps) == 1 and 4 <= steps[0].parameters["n_types"] <= 16
    label_records(engine)  # current until the next ingest: not typed again
    with engine.connect() as conn:
        kept = conn.execute(
            select(LayerBuild.created_at).where(LayerBuild.layer == LABELS_STEP)
        ).scalar_one()
    assert kept == steps[0].created_at


def test_too_few_texts_to_type_leave_the_layers_that_read_labels_working(loaded: Engine) -> None:
    from geo_service.builds.problem_types import label_records

    clusters = analytic_layer(loaded, "clusters", Filters(), {})
    assert clusters.parameters["method"] == "dbscan"
    step = label_records(loaded)
    assert step["parameters"]["n_types"] == 0 and step["parameters"]["not_typed"]


def test_the_whole_store_layer_reads_the_labelling_steps_typing_back(
    sample_store: SampleStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typed once per data version: with the labelling step current, the unfiltered
    default problem-types layer read back from it equals the same layer typed anew."""
    import shutil

    from geopandas.testing import assert_geodataframe_equal

    from geo_service.builds import problem_types
    from geo_service.builds.inputs import Inputs
    from geo_service.builds.parameters import ProblemTypeParameters
    from geo_service.store import make_engine

    database = sample_store.engine.url.database
    assert database is not None
    shutil.copy(database, tmp_path / "geo.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    inputs, defaults = Inputs(engine, Filters()), ProblemTypeParameters()

    problem_types.label_records(engine)

    def no_typing(*_: object) -> None:
        raise AssertionError("typed again")

    with monkeypatch.context() as patched:
        patched.setattr(problem_types, "_type", no_typing)
        typed_back = problem_types.problem_types_layer(inputs, defaults)
    steps = []
    monkeypatch.setattr(problem_types, "_labelled", lambda *a: steps.append(a))  # None: type
    typed_anew = problem_types.problem_types_layer(inputs, defaults)
    assert len(steps) == 1  # the patched read-back was asked and declined
    assert_geodataframe_equal(typed_back, typed_anew)
    same = json.loads(json.dumps(typed_anew.attrs["parameters"], ensure_ascii=False))
    assert json.loads(json.dumps(typed_back.attrs["parameters"], ensure_ascii=False)) == same
