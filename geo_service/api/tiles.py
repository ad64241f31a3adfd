"""Tiles: Mapbox Vector Tiles, GeoJSON tiles, TileJSON 3.0 and KDE heat PNG tiles."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
