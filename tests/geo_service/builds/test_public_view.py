"""The attacks an anonymous caller tried, run again: each must learn nothing.

The public view is :mod:`geo_service.disclosure` (cell-key perturbation over a fixed
lattice). Tried here over the built sample store as an anonymous visitor would try them,
with an admin's answers as the truth to compare with.
"""

from __future__ import annotations

import io
import json
from typing import Any

import h3
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from analytics.cell_key import NEVER_PUBLISHED
from analytics.hotspots import cell_hotspots
from analytics.local_moran import cell_local_moran
from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.disclosure.lattice import (
    KDE_MIN_BANDWIDTH_M,
    PUBLIC_RESOLUTION,
)
from layers.rasters import geotiff_to_surface
from tests.conftest import account_headers

YEARS = ("2021", "2022", "2023", "2024", "2025")


@pytest.fixture(scope="module")
def clients(built_sample_store: Engine) -> tuple[TestClient, TestClient]:
    """An anonymous client and an admin's (the truth) over the same service."""
    url = built_sample_store.url.render_as_string(hide_password=False)
    app = create_app(
        Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    )
    admin = account_headers(built_sample_store, "admin", "450000")
    return TestClient(app), TestClient(app, headers=admin)


def _cells(client: TestClient, query: str, column: str = "cases") -> dict[str, int]:
    answer = client.get(f"/collections/hexagons/items?limit=10000&{query}")
    assert answer.status_code == 200, answer.text[:300]
    return {f["id"]: f["properties"][column] for f in answer.json()["features"]}


def test_the_lattice_refuses_what_would_isolate_records(
    clients: tuple[TestClient, TestClient],
) -> None:
    anonymous, admin = clients
    refused = [
        "/collections/hexagons/items?resolution=7",  # children of a public cell
        "/collections/hexagons/items?resolution=5",  # its parent
        "/collections/hexagons/items?start=2024-01-01&end=2024-01-02",  # a free period
        "/stats/cases?group_by=year&end=2024-03-05",  # the ledger moved a day at a time
        "/collections/emerging-hotspots/items?end=2024-06-30",
        "/collections/local-moran/items?resolution=7",
        "/downloads/emerging-hotspots.geojson?start=2023-01-01",
        "/downloads/kde.tif?bandwidth_m=500&cell_m=250",  # a blob per case
        "/downloads/kde.tif?weight=penalty_amount",  # a blob's mass is a penalty
        "/tiles/kde/7/102/55.png?bandwidth_m=2000&cell_m=500",
        "/collections/clusters/items?eps_m=50&min_samples=2",
        "/collections/risk/items",
        f"/maps/cell/{h3.latlng_to_cell(22.82, 108.37, 10)}",  # resolution 10
    ]
    for path in refused:
        answer = anonymous.get(path)
        assert answer.status_code == 401, (path, answer.text[:200])
        assert "log in" in answer.json()["description"] or "account" in answer.text
        assert admin.get(path).status_code in (200, 204), path  # an account may ask


def test_no_public_count_is_one_or_two(clients: tuple[TestClient, TestClient]) -> None:
    anonymous, admin = clients
    counts: list[int] = []
    for query in ("", *(f"period={y}" for y in YEARS), "period=2024-Q2", "period=2024-05"):
        for column in ("cases", "inspections", "problems_found", "enterprises"):
            counts += _cells(anonymous, query, column).values()
    for layer, column in (
        ("hotspots", "count"),
        ("emerging-hotspots", "count"),
        ("local-moran", "count"),
        ("clusters", "size"),
        ("problem-types", "records"),
    ):
        features = anonymous.get(f"/collections/{layer}/items?limit=10000").json()["features"]
        counts += [f["properties"][column] for f in features]
    for kind, columns in (
        ("cases", ("cases",)),
        ("inspections", ("inspections", "problems_found")),
    ):
        for group_by in ("year", "quarter,type", "month,industry"):
            rows = anonymous.get(f"/stats/{kind}?group_by={group_by}").json()["rows"]
            counts += [r[c] for r in rows for c in columns]
            assert all(r.get("penalty_sum") is None for r in rows)
    true_cells = _cells(admin, f"resolution={PUBLIC_RESOLUTION}")
    for cell in list(true_cells)[:40]:
        popup = anonymous.get(f"/maps/cell/{cell}").json()
        counts += [popup["cases"], popup["inspections"], popup["problems_found"]]
        counts += [n for _, n in popup["top_problem_types"]]
        assert popup["penalty_sum"] is None and popup["top_enterprises"] == []
    assert len(counts) > 10_000
    assert not set(counts) & set(NEVER_PUBLISHED)
    assert {1, 2} & set(true_cells.values())  # the truth has them: the rule is exercised


def test_a_period_minus_its_parts_does_not_give_the_withheld_part(
    clients: tuple[TestClient, TestClient],
) -> None:
    """A year minus three of its quarters, per public cell, for every year and quarter:
    where the left-out quarter truly held 1 or 2 cases, the difference is that number
    only by chance, and the attacker cannot tell when."""
    anonymous, admin = clients
    errors: list[int] = []
    for year in YEARS:
        total = _cells(anonymous, f"period={year}")
        parts = [_cells(anonymous, f"period={year}-Q{q}") for q in range(1, 5)]
        truth = [
            _cells(admin, f"period={year}-Q{q}&resolution={PUBLIC_RESOLUTION}") for q in range(1, 5)
        ]
        for left_out in range(4):
            for cell, true in truth[left_out].items():
                if true not in (1, 2):
                    continue
                others = sum(parts[q].get(cell, 0) for q in range(4) if q != left_out)
                errors.append(total.get(cell, 0) - others - true)
    assert len(errors) > 100
    assert np.mean(np.array(errors) == 0) < 0.5
    assert len(set(errors)) >= 5


def test_the_same_records_get_the_same_answer(clients: tuple[TestClient, TestClient]) -> None:
    """Asking again, or for the same records another way, gives nothing new to average."""
    anonymous, _ = clients
    once = _cells(anonymous, "period=2024")
    assert _cells(anonymous, "period=2024") == once
    assert _cells(anonymous, "period=2024&jurisdiction=450000") == once  # the whole store


def test_public_hot_spots_are_the_analysis_of_public_counts(
    clients: tuple[TestClient, TestClient],
) -> None:
    """Gi* z-scores of every cell would give back the counts (the weights matrix can be
    inverted); computed from the perturbed counts they give back only those."""
    anonymous, admin = clients
    public = anonymous.get("/collections/hotspots/items?limit=10000").json()["features"]
    cells = np.array([h3.str_to_int(f["id"]) for f in public], dtype=np.int64)
    counts = np.array([f["properties"]["count"] for f in public])
    again = cell_hotspots(cells, counts, k=1, permutations=0, fdr=True)
    z = {f["id"]: f["properties"]["gi_z"] for f in public}
    recomputed = dict(zip((h3.int_to_str(int(c)) for c in again["h3"]), again["gi_z"], strict=True))
    assert all(z[c] == pytest.approx(recomputed[c], abs=1e-9) for c in z)
    full = admin.get("/collections/hotspots/items?limit=10000").json()["features"]
    assert [f["properties"]["count"] for f in full] != list(counts)  # the truth differs
    # so is the cluster and outlier analysis: the same counts, cell for cell
    moran = anonymous.get("/collections/local-moran/items?limit=10000").json()["features"]
    assert {f["id"]: f["properties"]["count"] for f in moran} == dict(
        zip((f["id"] for f in public), counts.tolist(), strict=True)
    )
    again_moran = cell_local_moran(cells, counts, k=1, permutations=9999, seed=0)
    assert [f["properties"]["moran_i"] for f in moran] == pytest.approx(
        again_moran["moran_i"].tolist(), abs=1e-9
    )
    assert [f["properties"]["co_type"] for f in moran] == again_moran["co_type"].tolist()


def test_the_public_density_is_the_smoothed_public_counts(
    clients: tuple[TestClient, TestClient],
) -> None:
    anonymous, _ = clients
    answer = anonymous.get("/downloads/kde.tif")
    assert answer.status_code == 200, answer.text[:300]
    surface = geotiff_to_surface(answer.content)
    assert surface.bandwidth_m >= KDE_MIN_BANDWIDTH_M
    mass = float(np.nansum(surface.values)) * (surface.grid.cell_m / 1000) ** 2
    # not the cases: the public counts of the cases placed at a point, as the hot spots
    # publish them (the same records per cell, so the same cell keys)
    hotspots = anonymous.get("/downloads/hotspots.geojson").json()
    published = sum(f["properties"]["count"] for f in hotspots["features"])
    # the file is resampled to a registered CRS and cut at the jurisdiction: the kernels'
    # mass beyond it is NoData, a few per cent of it
    assert published * 0.95 < mass <= published * 1.01
    imprecise = json.loads(surface.parameters["not_placed_precisely"])  # perturbed too
    assert imprecise == hotspots["metadata"]["parameters"]["not_placed_precisely"] > 0
    assert sum(_cells(anonymous, "").values()) > published  # the hexagons count them all


def test_public_clusters_carry_no_dates_tallies_or_small_outlines(
    clients: tuple[TestClient, TestClient],
) -> None:
    anonymous, admin = clients
    public = anonymous.get("/collections/clusters/items?limit=10000").json()["features"]
    full = admin.get("/collections/clusters/items?limit=10000").json()["features"]
    assert public and len(public) == len(full)
    for feature in public:
        properties: dict[str, Any] = feature["properties"]
        assert "first_date" not in properties and "last_date" not in properties
        assert properties["area_km2"] >= 20  # seven cells of about 5 km² at least
        for column in [c for c in properties if c.startswith("top_")]:
            assert all(isinstance(v, str) for v in json.loads(properties[column])), column
    assert min(f["properties"]["area_km2"] for f in full) < 5  # the truth is finer


def test_extents_give_no_record_coordinates_nor_dates(
    clients: tuple[TestClient, TestClient],
) -> None:
    anonymous, admin = clients
    boxes = [anonymous.get(f"/collections/{c}").json()["extent"] for c in ("hexagons", "cases")]
    jurisdictions = anonymous.get("/collections/jurisdictions").json()["extent"]
    for extent in boxes:
        assert extent["spatial"] == jurisdictions["spatial"]
        first, last = extent["temporal"]["interval"][0]
        assert first.endswith("-01-01T00:00:00Z") and last.endswith("-12-31T23:59:59Z")
    assert admin.get("/collections/cases").json()["extent"] == boxes[1]


def test_public_ledger_spreadsheets_match_the_public_json(
    clients: tuple[TestClient, TestClient],
) -> None:
    import pandas as pd

    anonymous, _ = clients
    rows = anonymous.get("/stats/cases?group_by=quarter").json()["rows"]
    workbook = io.BytesIO(anonymous.get("/stats/cases.xlsx?group_by=quarter").content)
    sheet = pd.read_excel(workbook, sheet_name="行政处罚案件台账")  # after the cover sheet
    body, total = sheet.iloc[:-1], sheet.iloc[-1]
    assert list(body["案件数（件）"]) == [r["cases"] for r in rows]
    assert total.iloc[0] == "合计" and total["案件数（件）"] == sum(r["cases"] for r in rows)
