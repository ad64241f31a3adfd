"""Pages of point records read by the store equal the same slice of the whole collection."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from shapely.geometry import box

from geo_service.filters import Filters
from geo_service.store.queries import read_records, read_records_page
from tests.conftest import SampleStore

NANNING_BOX = (108.0, 22.6, 108.6, 23.0)


@pytest.mark.parametrize("kind", ["cases", "inspections", "enterprises"])
@pytest.mark.parametrize(
    ("filters", "bbox"),
    [
        (Filters(), None),
        (Filters(jurisdiction="450100", period="2024"), None),
        (Filters(), NANNING_BOX),
        (Filters(industry="C"), NANNING_BOX),
    ],
)
def test_a_page_is_the_slice_of_the_whole(
    sample_store: SampleStore, kind: str, filters: Filters, bbox: tuple[float, ...] | None
) -> None:
    whole = read_records(sample_store.engine, kind, filters)
    if bbox is not None:
        whole = whole[whole.geometry.intersects(box(*bbox))]
    assert len(whole) > 10  # the case is exercised
    for offset, limit in [(0, 7), (5, 100), (len(whole) - 3, 10), (len(whole) + 5, 10)]:
        page, matched = read_records_page(
            sample_store.engine, kind, filters, bbox=bbox, offset=offset, limit=limit
        )
        assert matched == len(whole)
        expected = whole.iloc[offset : offset + limit].reset_index(drop=True)
        assert_frame_equal(_plain(page), _plain(expected))
        assert list(page.geometry.to_wkt()) == list(expected.geometry.to_wkt())


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as served (missing values null whatever their column's inferred dtype)."""
    values = frame.drop(columns="geometry").astype(object)
    return values.where(values.notna(), None)


def test_a_point_on_the_box_edge_is_inside(sample_store: SampleStore) -> None:
    cases = read_records(sample_store.engine, "cases")
    lon, lat = float(cases.lon.iloc[0]), float(cases.lat.iloc[0])
    page, matched = read_records_page(sample_store.engine, "cases", None,
                                      bbox=(lon, lat, lon + 0.5, lat + 0.5))  # fmt: skip
    assert cases.case_id.iloc[0] in set(page.case_id) and matched >= 1
