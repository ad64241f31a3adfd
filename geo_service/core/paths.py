"""Locations of the data bundled with the project."""

from __future__ import annotations

from pathlib import Path

#: The ``geo_service`` package directory.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: The repository (or installed tree) root holding ``sample_geodata/``.
PROJECT_ROOT = PACKAGE_DIR.parent
SAMPLE_GEODATA = PROJECT_ROOT / "sample_geodata"
#: Guangxi region, cities and counties in WGS84 (see sample_geodata/README.md).
BUNDLED_DIVISIONS = SAMPLE_GEODATA / "guangxi_divisions.geojson"
#: Every mainland province, city and county in WGS84, gzip-compressed (same columns).
NATIONAL_DIVISIONS = SAMPLE_GEODATA / "china_divisions.geojson.gz"
#: Names accepted by ``geo-service init --boundaries`` and ``sample --region``.
BUNDLED_BOUNDARIES = {"guangxi": BUNDLED_DIVISIONS, "china": NATIONAL_DIVISIONS}
#: The committed slice of the synthetic dataset used by tests and ``make run``.
SAMPLE_SLICE = SAMPLE_GEODATA / "sample"
#: Scripts, styles and icons the maps use, served at ``/static`` (no CDN).
STATIC_DIR = PACKAGE_DIR / "static"
