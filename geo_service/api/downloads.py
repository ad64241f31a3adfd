"""Downloads: every layer as a file, the KDE surface as GeoTIFF, and a ready QGIS project."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
