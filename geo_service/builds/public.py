"""The public views: layers, cell pop-ups and ledgers from cell-key perturbed counts.

Each view is computed from the records themselves, each record keyed with the store's
secret (:func:`store_secret`), as :mod:`geo_service.disclosure` describes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from analytics import cell_key
from analytics.cells import cell_positions, points_to_cells
from analytics.density import kernel_density, silverman_bandwidth_m
from analytics.emerging import space_time_cube
from analytics.projection import EQUAL_AREA_CRS, lonlat_to_equal_area
from analytics.weights import cells_in_polygon
from geo_service.builds.commonalities import public_commonalities
from geo_service.builds.inputs import Inputs, placed_at_point
from geo_service.builds.parameters import (
    ClusterParameters,
    CommonalityParameters,
    EmergingParameters,
    HexagonParameters,
    HotspotParameters,
    KdeParameters,
    LayerParameters,
    LocalMoranParameters,
    ProblemTypeParameters,
)
from geo_service.builds.recipes import (
    NO_POINT_CASES,
    county_hotspot_frame,
    county_moran_frame,
    emerging_frame,
    hotspot_frame,
    kde_imprecise,
    kde_payload,
    moran_frame,
)
from geo_service.core.errors import BadFilterError
from geo_service.disclosure.lattice import (
    CLUSTER_COVER_RESOLUTION,
    KDE_MIN_BANDWIDTH_M,
    KDE_MIN_CELL_M,
    METHOD,
    MIN_RECORDS_FOR_TYPE,
    PUBLIC_RESOLUTION,
    refuse,
)
from geo_service.store.models import ServiceSecret
from geo_service.store.queries import RECORD_KEYS
from layers.analytic_frames import cells_frame

#: The full (account's) build of a layer for the same filters: layer, parameters → frame
#: with its recorded parameters in ``attrs["parameters"]``.
FullBuild = Callable[[str, LayerParameters], gpd.GeoDataFrame]


@dataclass
class PublicBuild:
    """Computes the public view of a layer from the records, with the store's secret;
    the layers that are not counts (clusters, problem types) from their ``full`` build.
    Commonalities test the perturbed counts of each place and type."""

    inputs: Inputs
    secret: bytes
    full: FullBuild

    def layer(self, layer: str, parameters: Any) -> gpd.GeoDataFrame | bytes:
        """The public ``layer`` for ``parameters`` (within the public lattice)."""
        recipes: dict[str, Callable[[Any], gpd.GeoDataFrame | bytes]] = {
            "hexagons": self.hexagons,
            "hotspots": self.hotspots,
            "emerging-hotspots": self.emerging,
            "local-moran": self.local_moran,
            "kde": self.kde,
            "clusters": self.clusters,
            "problem-types": self.problem_types,
            "commonalities": self.commonalities,
        }
        recipe = recipes.get(layer)
        if recipe is None:
            raise refuse(f"{layer} has no public view")
        return recipe(parameters)

    # -- records and their keys ---------------------------------------------------------

    def _records(self, kind: str, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
        """Records of ``kind`` (in the order every build reads them) and their keys."""
        id_column = _ID_COLUMNS[kind]
        frame = self.inputs.frame(kind, [id_column, *columns])
        return frame, cell_key.record_keys(frame[id_column].astype(str), self.secret, kind)

    def _perturbed(self, groups: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
        """Published counts of ``n`` cells from each record's cell (−1: none) and key."""
        inside = groups >= 0
        counts = np.bincount(groups[inside], minlength=n)
        return cell_key.perturb(counts, cell_key.cell_keys(groups, keys, n))

    # -- the layers ------------------------------------------------------------------------

    def hexagons(self, parameters: HexagonParameters) -> gpd.GeoDataFrame:
        """Perturbed counts of cases, inspections, problems found and register
        enterprises per cell; cells whose published counts are all zero left out."""
        resolution = parameters.resolution
        placed: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # column → (cells, keys)
        for kind in ("cases", "inspections", "enterprises"):
            extra = ["problem_found"] if kind == "inspections" else []
            frame, keys = self._records(kind, ["lon", "lat", *extra])
            lon, lat = frame["lon"].astype(float), frame["lat"].astype(float)
            cells = points_to_cells(lon, lat, resolution)
            placed[kind] = (cells, keys)
            if kind == "inspections":
                found = frame["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
                placed["problems_found"] = (cells[found], keys[found])
        every = np.unique(np.concatenate([cells for cells, _ in placed.values()]))
        table = pd.DataFrame({"h3": every.astype(np.int64), "resolution": resolution})
        for column in HEXAGON_COUNTS:
            cells, keys = placed[column]
            table[column] = self._perturbed(np.searchsorted(every, cells), keys, len(every))
        published = np.flatnonzero(table[list(HEXAGON_COUNTS)].to_numpy().any(axis=1))
        return cells_frame(table.iloc[published].reset_index(drop=True), parameters.as_dict())

    @cached_property
    def _cases_placed(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """The cases (coordinates), their keys, and whether each is placed at a point (read
        and keyed once per build)."""
        frame, keys = self._records("cases", ["lon", "lat", "geocode_precision"])
        return frame, keys, placed_at_point(frame["geocode_precision"])

    def _imprecise(self) -> int:
        """The perturbed number of cases not placed at a point (one cell of its own)."""
        _, keys, at_point = self._cases_placed
        outside = np.where(at_point, -1, 0)
        return int(self._perturbed(outside, keys, 1)[0])

    def _area_positions(
        self, resolution: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every cell of the area, the cases' keys, their positions among the cells (−1
        outside, and for cases not placed at a point, which the cell layers leave out) and
        whether each is placed at a point."""
        cells = cells_in_polygon(self.inputs.area, resolution)
        frame, keys, at_point = self._cases_placed
        lon, lat = frame["lon"].astype(float), frame["lat"].astype(float)
        position = cell_positions(cells, points_to_cells(lon, lat, resolution))
        return cells, keys, np.where(at_point, position, -1), at_point

    def _county_counts(self) -> pd.Series:
        """Perturbed case counts per county (every case with a county)."""
        frame, keys = self._records("cases", ["adcode"])
        counties = pd.Index(sorted(frame["adcode"].dropna().astype(str).unique()))
        groups = counties.get_indexer(frame["adcode"].astype(str))
        return pd.Series(self._perturbed(groups, keys, len(counties)), index=counties)

    def hotspots(self, parameters: HotspotParameters) -> gpd.GeoDataFrame:
        """Gi* of the perturbed case counts (every cell of the area, or every county)."""
        engine, area = self.inputs.engine, self.inputs.area
        if parameters.unit == "county":
            return county_hotspot_frame(engine, area, self._county_counts(), parameters)
        resolution = parameters.resolution
        cells, keys, position, _ = self._area_positions(resolution)
        counts = self._perturbed(position, keys, cells.size)
        return hotspot_frame(cells, counts, resolution, parameters, imprecise=self._imprecise())

    def local_moran(self, parameters: LocalMoranParameters) -> gpd.GeoDataFrame:
        """Local Moran's I of the perturbed case counts (every cell of the area, or every
        county)."""
        engine, area = self.inputs.engine, self.inputs.area
        if parameters.unit == "county":
            return county_moran_frame(engine, area, self._county_counts(), parameters)
        resolution = parameters.resolution
        cells, keys, position, _ = self._area_positions(resolution)
        counts = self._perturbed(position, keys, cells.size)
        return moran_frame(cells, counts, resolution, parameters, imprecise=self._imprecise())

    def emerging(self, parameters: EmergingParameters) -> gpd.GeoDataFrame:
        """Emerging hot spots of the perturbed space-time cube (each cell and step its own
        cell key)."""
        resolution = parameters.resolution
        cells, keys, position, _ = self._area_positions(resolution)
        step_index, labels = self.inputs.case_steps(parameters.step)
        if len(step_index) != len(position):
            raise RuntimeError("the cases were read in different orders")
        inside = position >= 0
        n_steps = len(labels)
        _, cube = space_time_cube(
            cells[position[inside]], step_index[inside], n_steps, all_cells=cells
        )
        slot = np.where(inside, position * n_steps + step_index, -1)
        flat = cell_key.perturb(cube.reshape(-1), cell_key.cell_keys(slot, keys, cube.size))
        return emerging_frame(
            cells,
            flat.reshape(cube.shape),
            labels,
            resolution,
            parameters,
            imprecise=self._imprecise(),
        )

    def kde(self, parameters: KdeParameters) -> bytes:
        """The density of the perturbed counts of the cases placed at a point per public
        hexagon, at the cells' centres."""
        frame, keys, at_point = self._cases_placed
        lon, lat = frame["lon"].astype(float), frame["lat"].astype(float)
        placed = points_to_cells(lon[at_point], lat[at_point], PUBLIC_RESOLUTION)
        every = np.unique(placed)
        counts = self._perturbed(np.searchsorted(every, placed), keys[at_point], every.size)
        weights = counts.astype(np.float64)
        keep = weights > 0
        if not keep.any():
            raise BadFilterError(NO_POINT_CASES)
        centres = [h3.cell_to_latlng(h3.int_to_str(int(c))) for c in every[keep]]
        lat, lon = np.array(centres).T
        x, y = lonlat_to_equal_area(lon, lat)
        bandwidth = parameters.bandwidth_m
        if bandwidth is None:
            bandwidth = silverman_bandwidth_m(x, y, weights[keep])
        bandwidth = max(float(bandwidth), KDE_MIN_BANDWIDTH_M)
        cell = parameters.cell_m
        cell = max(float(cell) if cell is not None else bandwidth / 20, KDE_MIN_CELL_M)
        surface = kernel_density(
            x,
            y,
            weights=weights[keep],
            bandwidth_m=bandwidth,
            cell_m=cell,
            kernel=parameters.kernel,
        )
        return kde_payload(surface, "none", None, kde_imprecise(self._imprecise(), None))

    def clusters(self, parameters: ClusterParameters) -> gpd.GeoDataFrame:
        """The clusters with a perturbed size, outlined by the H3 cells around them, with
        their leading types named (no tallies) and no dates."""
        found = self.full("clusters", parameters)
        if found.empty:
            return found.drop(columns=["first_date", "last_date"], errors="ignore")
        keys = np.array([_shape_key(g, self.secret) for g in found.geometry], dtype=np.uint64)
        outlines = [_cover(g) for g in found.geometry]
        out = gpd.GeoDataFrame(
            {
                "cluster": found["cluster"].to_numpy(),
                "size": cell_key.perturb(found["size"].to_numpy(), keys),
                "area_km2": gpd.GeoSeries(outlines, crs="EPSG:4326").to_crs(EQUAL_AREA_CRS).area
                / 1e6,
                **{c: found[c].map(_names_only) for c in found.columns if c.startswith("top_")},
            },
            geometry=outlines,
            crs="EPSG:4326",
        )
        out.attrs["parameters"] = parameters.as_dict()
        return out

    def problem_types(self, parameters: ProblemTypeParameters) -> gpd.GeoDataFrame:
        """Per county: the perturbed number of typed records and, where it is large enough,
        the leading type's label; no mix, shares or lifts."""
        found = self.full("problem-types", parameters)
        cases, case_keys = self._records("cases", ["adcode"])
        checks, check_keys = self._records("inspections", ["adcode", "problem_found"])
        problem = checks["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        adcodes = pd.concat([cases["adcode"], checks.loc[problem, "adcode"]]).astype(str)
        keys = np.concatenate([case_keys, check_keys[problem]])
        counties = pd.Index(found["adcode"].astype(str))
        groups = counties.get_indexer(adcodes)
        keyed = cell_key.cell_keys(groups, keys, len(counties))
        records = cell_key.perturb(found["records"].to_numpy(), keyed)
        label = found["dominant_label"].where(records >= MIN_RECORDS_FOR_TYPE)
        out = gpd.GeoDataFrame(
            {
                "adcode": found["adcode"],
                "name": found["name"],
                "records": records,
                "dominant_label": label,
            },
            geometry=found.geometry,
            crs="EPSG:4326",
        )
        details = found.attrs.get("parameters", {})
        types = [
            {"id": t["id"], "label": t["label"], "terms": t["terms"]}
            for t in details.get("types", [])
        ]
        out.attrs["parameters"] = {
            **parameters.as_dict(),
            "n_types": details.get("n_types"),
            "types": types,
        }
        return out[out["records"] > 0].reset_index(drop=True)

    def commonalities(self, parameters: CommonalityParameters) -> gpd.GeoDataFrame:
        """Per place: the perturbed number of typed records and the names of the types
        that stand out, tested on perturbed counts; no shares, tallies or q-values."""
        return public_commonalities(self.inputs, self.secret, parameters)


#: The counts the public hexagons carry (every other column of the layer is left out).
HEXAGON_COUNTS = ("cases", "inspections", "problems_found", "enterprises")
_ID_COLUMNS = RECORD_KEYS


def _shape_key(shape: Any, secret: bytes) -> int:
    """A cluster's key: a keyed hash of its outline (the same cases make the same outline)."""
    digest = hashlib.blake2b(shapely.to_wkb(shape), key=secret, digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _cover(shape: Any) -> Any:
    """The H3 cells (and their neighbours) that a cluster's outline and centre fall in."""
    points = [
        *shapely.get_coordinates(shape),
        *shapely.get_coordinates(shape.representative_point()),
    ]
    cells = {h3.latlng_to_cell(lat, lon, CLUSTER_COVER_RESOLUTION) for lon, lat in points}
    around = set().union(*(h3.grid_disk(c, 1) for c in cells))
    return shapely.geometry.shape(h3.cells_to_h3shape(sorted(around)).__geo_interface__)


def _names_only(value: Any) -> str:
    """``[["超标排放", 4], …]`` (JSON) → ``["超标排放", …]``: the names, not the tallies."""
    try:
        pairs = json.loads(value) if isinstance(value, str) else value
        return json.dumps([str(p[0]) for p in pairs or []], ensure_ascii=False)
    except (TypeError, ValueError, IndexError):
        return "[]"


_SECRETS: dict[str, bytes] = {}
_SECRETS_LOCK = threading.Lock()
SECRET_NAME = "cell_key"


def store_secret(engine: Engine) -> bytes:
    """The store's cell-key secret, made at random on first use and kept in the store (every
    process of the store perturbs alike)."""
    url = str(engine.url)
    with _SECRETS_LOCK:
        if url in _SECRETS:
            return _SECRETS[url]
    query = select(ServiceSecret.secret).where(ServiceSecret.name == SECRET_NAME)
    with engine.connect() as conn:
        secret = conn.execute(query).scalar()
    if secret is None:
        try:
            with engine.begin() as conn:
                conn.execute(
                    ServiceSecret.__table__.insert().values(  # type: ignore[attr-defined]
                        name=SECRET_NAME, secret=secrets.token_bytes(32)
                    )
                )
        except IntegrityError:  # another process made it first: use theirs
            pass
        with engine.connect() as conn:
            secret = conn.execute(query).scalar_one()
    with _SECRETS_LOCK:
        _SECRETS[url] = bytes(secret)
    return bytes(secret)


def public_ledger(
    ledger: pd.DataFrame,
    rows: pd.DataFrame,
    keys: np.ndarray,
    groups: list[str],
    counts: Mapping[str, np.ndarray | None],
) -> pd.DataFrame:
    """The public view of a ledger: its ``counts`` columns perturbed (each row's records
    its cell; ``counts`` maps a column to the mask of the records it counts, None for
    all), every other column left out (null), rows published as all zero dropped.
    ``rows`` holds each record's group values, in the order of ``keys``."""
    index = pd.MultiIndex.from_frame(ledger[groups].astype(str))
    positions = index.get_indexer(pd.MultiIndex.from_frame(rows[groups].fillna("").astype(str)))
    out = ledger.copy()
    for column in out.columns:
        if column not in groups and column not in counts:
            out[column] = None
    for column, mask in counts.items():
        cells = positions if mask is None else np.where(mask, positions, -1)
        keyed = cell_key.cell_keys(cells, keys, len(ledger))
        out[column] = cell_key.perturb(ledger[column].to_numpy(), keyed)
    published = out[list(counts)].to_numpy().any(axis=1)
    return out.iloc[np.flatnonzero(published)].reset_index(drop=True)


def public_cell(
    cell: str, cases: pd.DataFrame, inspections: pd.DataFrame, secret: bytes, top: int = 5
) -> dict[str, Any]:
    """What a click on a public hexagon shows anonymous callers: perturbed counts of cases,
    inspections and problems found, and the leading problem types with perturbed tallies
    (those published as zero left out); no penalty sum, no enterprise."""
    if h3.get_resolution(cell) != PUBLIC_RESOLUTION:
        raise refuse(f"without an account cells are of resolution {PUBLIC_RESOLUTION}")
    target = h3.str_to_int(cell)

    def inside(frame: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, np.ndarray]:
        lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
        frame = frame[points_to_cells(lon, lat, PUBLIC_RESOLUTION) == target]
        return frame, cell_key.record_keys(frame[_ID_COLUMNS[kind]].astype(str), secret, kind)

    in_cases, case_keys = inside(cases, "cases")
    in_checks, check_keys = inside(inspections, "inspections")
    found = in_checks["problem_found"].astype("boolean").fillna(False).to_numpy(bool)

    def published(keys: np.ndarray) -> int:
        return int(
            cell_key.perturb(
                np.array([len(keys)]), cell_key.cell_keys(np.zeros(len(keys), np.int64), keys, 1)
            )[0]
        )

    labels = pd.concat(
        [in_cases["problem_type_label"], in_checks.loc[found, "problem_type_label"]]
    ).astype(object)
    label_keys = np.concatenate([case_keys, check_keys[found]])
    named = labels.notna().to_numpy()
    kinds = pd.Index(sorted(set(labels[named].astype(str))))
    groups = np.where(named, kinds.get_indexer(labels.fillna("").astype(str)), -1)
    tallies = cell_key.perturb(
        np.bincount(groups[groups >= 0], minlength=len(kinds)),
        cell_key.cell_keys(groups, label_keys, len(kinds)),
    )
    types = sorted(
        ((str(k), int(n)) for k, n in zip(kinds, tallies, strict=True) if n > 0),
        key=lambda kv: (-kv[1], kv[0]),
    )[:top]
    return {
        "h3": cell,
        "resolution": PUBLIC_RESOLUTION,
        "cases": published(case_keys),
        "inspections": published(check_keys),
        "problems_found": published(check_keys[found]),
        "penalty_sum": None,
        "top_problem_types": [list(t) for t in types],
        "top_enterprises": [],
        "disclosure": METHOD,
    }
