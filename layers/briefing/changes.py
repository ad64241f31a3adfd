"""What changed: the space-time hot spots that are new, intensifying or diminishing at the
end of the window, counted by the place (county or city) their cells lie in."""

from __future__ import annotations

import geopandas as gpd

from analytics.emerging import CATEGORY_LABELS
from layers.briefing.content import HotspotChange

#: The changes a briefing reports, in its order (ArcGIS's emerging hot spot patterns).
CHANGES = ("new_hot", "intensifying_hot", "diminishing_hot")
OUTSIDE = "辖区外"


def cells_to_places(cells: gpd.GeoDataFrame, places: gpd.GeoDataFrame) -> list[str]:
    """The ``name`` of the place holding each cell's centre, in the cells' order
    (:data:`OUTSIDE` for a cell whose centre no place holds)."""
    if cells.empty:
        return []
    centres = gpd.GeoDataFrame(
        {"_row": range(len(cells))},
        geometry=cells.geometry.to_crs(places.crs).representative_point().to_numpy(),
        crs=places.crs,
    )
    joined = gpd.sjoin(centres, places[["name", "geometry"]], how="left", predicate="within")
    first = joined.drop_duplicates("_row").set_index("_row")["name"]
    return [str(n) if isinstance(n, str) else OUTSIDE for n in first.reindex(range(len(cells)))]


def hotspot_changes(
    emerging: gpd.GeoDataFrame, places: gpd.GeoDataFrame
) -> tuple[HotspotChange, ...]:
    """Per change (:data:`CHANGES`) and place, the cells of that category, most first.

    ``emerging`` is the ``emerging-hotspots`` layer (``category``, hexagon geometry);
    ``places`` the divisions to name them by (``name``).
    """
    chosen = emerging[emerging["category"].isin(CHANGES)]
    if chosen.empty:
        return ()
    frame = chosen[["category"]].assign(place=cells_to_places(chosen, places))
    counts = frame.groupby(["category", "place"]).size().rename("cells").reset_index()
    order = {c: i for i, c in enumerate(CHANGES)}
    counts["_order"] = counts["category"].map(order)
    counts = counts.sort_values(["_order", "cells", "place"], ascending=[True, False, True])
    return tuple(
        HotspotChange(str(r.category), CATEGORY_LABELS[str(r.category)], str(r.place), int(r.cells))
        for r in counts.itertuples()
    )
