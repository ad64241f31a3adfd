"""Built analytic layers kept in the store, keyed by layer, filters and parameters."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
from sqlalchemy import Engine, delete, insert, select

from geo_service.store.models import LayerBuild
from geo_service.store.queries import data_version

GEOPARQUET = "application/vnd.apache.parquet"
GEOTIFF = "image/tiff; application=geotiff"


def build_key(filters: dict[str, Any], parameters: dict[str, Any]) -> str:
    """Stable key of a set of filters and parameters."""
    text = json.dumps(
        {"f": filters, "p": parameters}, sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredLayer:
    """A built layer read back from the store."""

    layer: str
    filters: dict[str, Any]
    parameters: dict[str, Any]
    data_version: int
    created_at: dt.datetime
    media_type: str
    payload: bytes

    def frame(self) -> gpd.GeoDataFrame:
        """The features (GeoParquet payloads only)."""
        return gpd.read_parquet(io.BytesIO(self.payload))

    def provenance(self) -> dict[str, Any]:
        """How the layer was made, for GeoJSON/GPKG/TileJSON metadata."""
        return {
            "layer": self.layer,
            "filters": self.filters,
            "parameters": self.parameters,
            "data_version": self.data_version,
            "built_at": self.created_at.isoformat(),
        }


def save_layer(
    engine: Engine,
    layer: str,
    filters: dict[str, Any],
    parameters: dict[str, Any],
    payload: gpd.GeoDataFrame | bytes,
    *,
    media_type: str = GEOPARQUET,
    n_features: int | None = None,
    details: dict[str, Any] | None = None,
) -> StoredLayer:
    """Store (replace) a built layer; a GeoDataFrame is written as GeoParquet.

    The build is found again by ``filters`` and ``parameters``; ``details`` (what
    the computation chose or found, e.g. an automatic bandwidth) are kept beside
    the parameters in its provenance.
    """
    if isinstance(payload, gpd.GeoDataFrame):
        buffer = io.BytesIO()
        payload.to_parquet(buffer, index=False)
        n_features = len(payload)
        data = buffer.getvalue()
    else:
        data = payload
    key = build_key(filters, parameters)
    recorded = {**parameters, **(details or {})}
    stored = StoredLayer(
        layer, filters, recorded, data_version(engine), dt.datetime.now(dt.UTC), media_type, data
    )
    row = {
        "layer": layer,
        "key": key,
        "filters": filters,
        "parameters": recorded,
        "data_version": stored.data_version,
        "created_at": stored.created_at,
        "n_features": int(n_features or 0),
        "media_type": media_type,
        "payload": data,
    }
    with engine.begin() as conn:
        conn.execute(delete(LayerBuild).where(LayerBuild.layer == layer, LayerBuild.key == key))
        conn.execute(insert(LayerBuild), row)
    return stored


def load_layer(
    engine: Engine, layer: str, filters: dict[str, Any], parameters: dict[str, Any]
) -> StoredLayer | None:
    """The stored build of ``layer`` for these filters and parameters, if current.

    A build made before the latest ingest is stale and not returned.
    """
    key = build_key(filters, parameters)
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(LayerBuild.__table__).where(LayerBuild.layer == layer, LayerBuild.key == key)
            )
            .mappings()
            .one_or_none()
        )
    if row is None or row["data_version"] != data_version(engine):
        return None
    created = row["created_at"]
    created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    return StoredLayer(
        layer,
        row["filters"],
        row["parameters"],
        row["data_version"],
        created,
        row["media_type"],
        row["payload"],
    )
