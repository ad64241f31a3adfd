"""The briefing's periods, figures as printed, and hot-spot changes by place."""

from __future__ import annotations

import datetime as dt
import io
import warnings

import geopandas as gpd
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import box

from geo_service.core.paths import STATIC_DIR
from layers.briefing.changes import OUTSIDE, hotspot_changes
from layers.briefing.charts import hotspot_map_png
from layers.briefing.content import MapInputs
from layers.briefing.fonts import BriefFonts
from layers.briefing.periods import BriefPeriod, BriefPeriodError
from layers.briefing.text import change_text, value_text


@pytest.mark.parametrize(
    ("text", "previous", "year_before", "bounds"),
    [
        ("2024-05", "2024-04", "2023-05", (dt.date(2024, 5, 1), dt.date(2024, 5, 31))),
        ("2024-01", "2023-12", "2023-01", (dt.date(2024, 1, 1), dt.date(2024, 1, 31))),
        ("2024-Q1", "2023-Q4", "2023-Q1", (dt.date(2024, 1, 1), dt.date(2024, 3, 31))),
        ("2024-Q4", "2024-Q3", "2023-Q4", (dt.date(2024, 10, 1), dt.date(2024, 12, 31))),
        ("2024", "2023", "2023", (dt.date(2024, 1, 1), dt.date(2024, 12, 31))),
    ],
)
def test_periods_and_what_they_are_set_against(
    text: str, previous: str, year_before: str, bounds: tuple[dt.date, dt.date]
) -> None:
    period = BriefPeriod.parse(text)
    assert str(period) == text
    assert str(period.previous()) == previous
    assert str(period.year_before()) == year_before
    assert period.bounds() == bounds
    start, end, _ = period.trend_window()
    assert end == bounds[1] and start < bounds[0]


@pytest.mark.parametrize("text", ["2024-Q5", "2024-13", "2024-00", "24-Q1", "2024Q2", "", "x"])
def test_a_bad_period_is_refused_in_both_languages(text: str) -> None:
    with pytest.raises(BriefPeriodError) as caught:
        BriefPeriod.parse(text)
    assert "时段" in str(caught.value) and "period" in str(caught.value)


def test_values_and_changes_as_printed() -> None:
    assert value_text(3940500.0, "元") == "3,940,500.00 元"
    assert value_text(0.4286, "%") == "42.86%"
    assert change_text(21, 23, "件") == "-2 件（-8.7%）"
    assert change_text(0.4286, 0.61, "%") == "-18.14 个百分点"
    assert change_text(None, 3, "件") == "—"


def test_hotspot_changes_are_counted_by_the_place_holding_each_cell() -> None:
    places = gpd.GeoDataFrame(
        {"name": ["甲区", "乙区"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326
    )
    cells = gpd.GeoDataFrame(
        {
            "category": [
                "new_hot",
                "new_hot",
                "new_hot",
                "intensifying_hot",
                "persistent_hot",
                "diminishing_hot",
            ]
        },
        geometry=[
            box(0.1, 0.1, 0.2, 0.2),
            box(0.3, 0.3, 0.4, 0.4),
            box(1.1, 0.1, 1.2, 0.2),
            box(1.5, 0.5, 1.6, 0.6),
            box(0.5, 0.5, 0.6, 0.6),
            box(5.0, 5.0, 5.1, 5.1),
        ],
        crs=4326,
    )
    changes = [(c.category, c.place, c.cells) for c in hotspot_changes(cells, places)]
    assert changes == [
        ("new_hot", "甲区", 2),
        ("new_hot", "乙区", 1),
        ("intensifying_hot", "乙区", 1),
        ("diminishing_hot", OUTSIDE, 1),
    ]


def test_maps_are_drawn_in_the_bundled_font_with_no_glyph_missing() -> None:
    """Place names set in the bundled font: matplotlib warns of a glyph it has not, which
    is an error here; the map is not blank."""
    fonts = BriefFonts.in_directory(STATIC_DIR / "vendor" / "fonts")
    places = gpd.GeoDataFrame(
        {"name": ["兴宁区", "青秀区"]},
        geometry=[box(108.3, 22.8, 108.5, 23.0), box(108.5, 22.8, 108.7, 23.0)],
        crs=4326,
    )
    cells = gpd.GeoDataFrame(
        {"gi_bin": [3, -2, 0]},
        geometry=[
            box(108.35, 22.85, 108.4, 22.9),
            box(108.6, 22.9, 108.65, 22.95),
            box(0, 0, 1, 1),
        ],
        crs=4326,
    )
    outline = gpd.GeoDataFrame({"name": ["南宁市"]}, geometry=[places.union_all()], crs=4326)
    inputs = MapInputs(outline, places, None, cells)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = hotspot_map_png(inputs, fonts)
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert picture.std() > 10
    hot = np.abs(picture - np.array([0xD6, 0x2F, 0x27])).max(axis=-1) <= 12
    assert hot.mean() > 0.001  # the 99 % hot cell is drawn in its class colour
