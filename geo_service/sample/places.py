"""Spatial structure of the synthetic data: counties, city centres, industrial parks, hot spots.

Positions of city centres, parks and hot spots are approximate WGS84 positions
of the real places (city governments, well-known industrial zones); every point
the generator emits is drawn inside a county polygon of the bundled boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Final

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod

from analytics.spatial_join import points_to_polygons
from geo_service.sample import vocab
from geo_service.sample.industries import INDUSTRY_INDEX

KM_PER_DEG_LAT: Final = 111.32
_GEOD: Final = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Place:
    """A named point with a spread: a city centre, an industrial park or a hot spot."""

    key: str
    name: str
    lon: float
    lat: float
    sigma_km: float
    weight: float = 1.0
    industries: tuple[str, ...] = ()


@dataclass(frozen=True)
class HotSpot:
    """A planted hot spot: every enterprise within ``radius_km`` is penalised more often."""

    key: str
    name: str
    lon: float
    lat: float
    radius_km: float
    case_multiplier: float
    industries: tuple[str, ...]
    park_share: float  # share of the register placed in its park (these industries)
    park: str  # the park's name as addresses write it


#: Prefecture city centres (city governments), with a size weight.
CITY_CENTRES: Final = (
    Place("450100", "南宁市", 108.366, 22.817, 9.0, 3.0),
    Place("450200", "柳州市", 109.412, 24.326, 7.0, 2.0),
    Place("450300", "桂林市", 110.290, 25.274, 6.0, 1.5),
    Place("450400", "梧州市", 111.279, 23.477, 5.0, 1.0),
    Place("450500", "北海市", 109.120, 21.481, 5.0, 1.0),
    Place("450600", "防城港市", 108.354, 21.687, 4.0, 0.7),
    Place("450700", "钦州市", 108.654, 21.980, 5.0, 1.0),
    Place("450800", "贵港市", 109.598, 23.112, 6.0, 1.2),
    Place("450900", "玉林市", 110.181, 22.654, 6.0, 1.3),
    Place("451000", "百色市", 106.618, 23.902, 5.0, 0.9),
    Place("451100", "贺州市", 111.567, 24.404, 5.0, 0.8),
    Place("451200", "河池市", 108.085, 24.693, 4.0, 0.7),
    Place("451300", "来宾市", 109.221, 23.750, 5.0, 0.8),
    Place("451400", "崇左市", 107.365, 22.377, 4.0, 0.7),
)

#: Industrial parks (approximate), with the industries they attract.
PARKS: Final = (
    Place(
        "nanning_liujing",
        "六景工业园区",
        108.955,
        22.853,
        3.0,
        1.2,
        ("C2221", "C2021", "C2614", "C1391"),
    ),
    Place("nanning_hightech", "南宁高新区", 108.290, 22.850, 3.0, 1.2, ("C3982", "C2710")),
    Place("wuming", "武鸣工业园", 108.270, 23.160, 3.0, 0.8, ("C1391", "C1511", "C1351")),
    Place("liuzhou_east", "柳东新区", 109.500, 24.360, 3.5, 1.2, ("C3670", "C3360", "C3982")),
    Place("luzhai", "鹿寨经济开发区", 109.740, 24.470, 3.0, 0.6, ("C3011", "C2211", "C2021")),
    Place("guilin_suqiao", "苏桥经济开发区", 110.050, 25.220, 3.0, 0.7, ("C2710", "C3670")),
    Place("wuzhou_recycling", "梧州循环经济产业园", 111.240, 23.560, 3.0, 0.7, ("C3360", "C3216")),
    Place("tieshangang", "铁山港工业区", 109.450, 21.580, 3.5, 0.9, ("C2511", "C2211", "D4411")),
    Place("qisha", "企沙工业区", 108.470, 21.600, 3.0, 0.8, ("C3120", "D4411", "C2614")),
    Place("yulin_longtan", "玉林龙潭产业园", 109.980, 22.320, 3.0, 0.7, ("C3360", "C2614")),
    Place("baise_xinshan", "新山铝产业园", 106.680, 23.870, 3.0, 0.8, ("C3216", "D4411")),
    Place("hechi_nandan", "南丹有色金属工业园", 107.540, 24.980, 3.0, 0.6, ("B0810", "C3216")),
    Place("hezhou_wanggao", "旺高工业区", 111.620, 24.420, 3.0, 0.6, ("C3011", "C2021")),
    Place("chongzuo_fusui", "扶绥糖业园", 107.900, 22.640, 3.5, 0.9, ("C1340", "C1511")),
    Place("heshan", "合山产业转型园", 108.880, 23.810, 3.0, 0.5, ("D4411", "C3011")),
)

#: Planted hot spots around real industrial places.
HOT_SPOTS: Final = (
    HotSpot(
        "pingguo_aluminium",
        "平果铝工业区",
        107.590,
        23.330,
        15.0,
        5.0,
        ("C3216", "B0810", "D4411"),
        0.008,
        "平果工业园区",
    ),
    HotSpot(
        "laibin_sugar",
        "来宾兴宾糖业区",
        109.230,
        23.740,
        15.0,
        4.0,
        ("C1340", "C1511", "C2211"),
        0.010,
        "兴宾糖业循环经济园",
    ),
    HotSpot(
        "liuzhou_steel",
        "柳州柳北钢铁区",
        109.390,
        24.390,
        12.0,
        4.0,
        ("C3120", "C3360", "C3670"),
        0.010,
        "柳北工业园",
    ),
    HotSpot(
        "qinzhou_petrochem",
        "钦州港石化区",
        108.620,
        21.780,
        12.0,
        4.0,
        ("C2511", "C2614", "N7724"),
        0.006,
        "钦州港经济技术开发区",
    ),
    HotSpot(
        "guigang_qintang",
        "贵港覃塘板材造纸区",
        109.420,
        23.130,
        12.0,
        3.5,
        ("C2021", "C2221", "C1340"),
        0.010,
        "覃塘产业园",
    ),
)

#: Preferred quiet counties (remote, mountainous); the seed picks among those present.
QUIET_CANDIDATES: Final = (
    "乐业县",
    "凤山县",
    "天峨县",
    "那坡县",
    "西林县",
    "资源县",
    "金秀瑶族自治县",
    "龙胜各族自治县",
)


GUANGXI: Final = "450000"
#: Industries of the chemical park planted as the hot spot of a province without curated places.
_DERIVED_HOT_SPOT_INDUSTRIES: Final = ("C2614", "C2511", "D4411")
#: Industries of derived city parks, taken in turn.
_DERIVED_PARK_INDUSTRIES: Final = tuple(p.industries for p in PARKS)
_CITY_SUFFIX: Final = re.compile(r"(林区|市|地区|盟|自治州|县)$")


@dataclass(frozen=True)
class PlaceTables:
    """City centres, parks, hot spots and quiet-county candidates of the sampled provinces.

    Guangxi's are the curated tables above; every other province gets tables
    derived from its divisions (:func:`place_tables`).
    """

    city_centres: tuple[Place, ...] = CITY_CENTRES
    parks: tuple[Place, ...] = PARKS
    hot_spots: tuple[HotSpot, ...] = HOT_SPOTS
    quiet_candidates: tuple[str, ...] = QUIET_CANDIDATES


def short_city_name(name: str) -> str:
    """A city's (or county's) name without its suffix (深圳市 → 深圳, 恩施…自治州 → 恩施)."""
    short = _CITY_SUFFIX.sub("", name)
    return short[:2] if "族" in short or len(short) < 2 else short


@dataclass(frozen=True)
class Geography:
    """The counties and cities of the divisions, ready for sampling and look-ups."""

    county_code: NDArray[np.str_]
    county_name: NDArray[np.str_]
    city_code: NDArray[np.str_]  # city of each county
    city_name: NDArray[np.str_]  # name of each county's city
    area_km2: NDArray[np.float64]
    geoms: NDArray[np.object_]
    seat_lon: NDArray[np.float64]  # a point inside each county (its representative point)
    seat_lat: NDArray[np.float64]
    cities: dict[str, str]  # city adcode → name
    province_code: NDArray[np.str_] = field(default_factory=lambda: np.array([], dtype=str))
    provinces: dict[str, str] = field(default_factory=dict)  # province adcode → name
    tables: PlaceTables = PlaceTables()

    @property
    def city_is_county(self) -> NDArray[np.bool_]:
        """Counties that an address naming only their city names too: a city that is its
        only county (东莞市) or a county that a province administers directly (仙桃市)."""
        group = np.char.endswith(self.city_code, "9000") & (self.city_code != self.county_code)
        return (self.county_name == self.city_name) | group

    def address_head(self, county: int) -> str:
        """Province, city and county of an address, each once (北京市东城区, 湖北省仙桃市)."""
        province = self.provinces.get(str(self.province_code[county]), vocab.PROVINCE_NAME)
        city, name = str(self.city_name[county]), str(self.county_name[county])
        if str(self.city_code[county]).endswith("9000") or city == province:
            city = ""
        return province + city + ("" if name == city else name)

    def city_label(self, county: int) -> str:
        """What an address naming only the city writes: the county where it is the city."""
        return str(
            self.county_name[county] if self.city_is_county[county] else self.city_name[county]
        )

    @property
    def n(self) -> int:
        """Number of counties."""
        return len(self.county_code)

    @property
    def unique_county_names(self) -> NDArray[np.bool_]:
        """Counties whose name no other county shares (safe in addresses without a city)."""
        names, counts = np.unique(self.county_name, return_counts=True)
        shared = set(names[counts > 1].tolist())
        return np.array([n not in shared for n in self.county_name.tolist()])

    def division_names(self) -> list[str]:
        """All city and county names (for checking that free text names no division)."""
        return sorted(set(self.county_name.tolist()) | set(self.cities.values()))


def make_geography(divisions: gpd.GeoDataFrame) -> Geography:
    """Prepare the counties (sorted by adcode) of a divisions GeoDataFrame in WGS84."""
    if divisions.crs is not None and not divisions.crs.equals("EPSG:4326"):
        divisions = divisions.to_crs("EPSG:4326")
    counties = divisions[divisions["level"] == "county"].sort_values("adcode")
    cities = divisions[divisions["level"] == "city"]
    provinces = divisions[divisions["level"] == "province"]
    city_names = dict(zip(cities["adcode"].astype(str), cities["name"].astype(str), strict=True))
    geoms = shapely.make_valid(counties.geometry.to_numpy())
    shapely.prepare(geoms)
    seats = shapely.point_on_surface(geoms)
    city_code = counties["city_adcode"].astype(str).to_numpy()
    areas = np.array([abs(_GEOD.geometry_area_perimeter(g)[0]) / 1e6 for g in geoms])
    if "province_adcode" in counties:
        province_code = counties["province_adcode"].astype(str).to_numpy().astype(str)
    else:
        province_code = np.array([f"{c[:2]}0000" for c in counties["adcode"].astype(str)])
    geo = Geography(
        county_code=counties["adcode"].astype(str).to_numpy().astype(str),
        county_name=counties["name"].astype(str).to_numpy().astype(str),
        city_code=city_code.astype(str),
        city_name=np.array([city_names[c] for c in city_code]),
        area_km2=areas,
        geoms=geoms,
        seat_lon=shapely.get_x(seats),
        seat_lat=shapely.get_y(seats),
        cities=city_names,
        province_code=province_code,
        provinces=dict(
            zip(provinces["adcode"].astype(str), provinces["name"].astype(str), strict=True)
        ),
    )
    return replace(geo, tables=place_tables(geo))


def place_tables(geo: Geography) -> PlaceTables:
    """Guangxi's curated tables where Guangxi is sampled, derived ones for other provinces.

    A derived province has one centre and one park per city (at the
    representative points of the city's first and last county), one planted
    chemical-park hot spot (in the last county of its first city) and its two
    largest counties (县) as quiet candidates.
    """
    provinces = sorted(set(geo.province_code.tolist()))
    parts = [
        PlaceTables() if code == GUANGXI else _derived_tables(geo, code, len(provinces))
        for code in provinces
    ]
    merged = {
        f.name: tuple(x for part in parts for x in getattr(part, f.name))
        for f in fields(PlaceTables)
    }
    return PlaceTables(**merged)


def _derived_tables(geo: Geography, province: str, n_provinces: int) -> PlaceTables:
    mine = np.flatnonzero(geo.province_code == province)
    cities = list(dict.fromkeys(geo.city_code[mine].tolist()))
    centres, parks = [], []
    for k, city in enumerate(cities):
        own = mine[geo.city_code[mine] == city]
        first, last = int(own[0]), int(own[-1])
        # a group of directly administered counties is named after its first county
        label = geo.county_name[first] if city.endswith("9000") else geo.city_name[first]
        short = short_city_name(str(label))
        districts = int(np.char.endswith(geo.county_name[own], "区").sum())
        centres.append(
            Place(
                city,
                str(geo.city_name[first]),
                float(geo.seat_lon[first]),
                float(geo.seat_lat[first]),
                5.0,
                0.5 + 0.25 * min(districts, 10),
            )
        )
        parks.append(
            Place(
                f"park:{city}",
                f"{short}经济开发区",
                float(geo.seat_lon[last]),
                float(geo.seat_lat[last]),
                3.0,
                0.5,
                _DERIVED_PARK_INDUSTRIES[k % len(_DERIVED_PARK_INDUSTRIES)],
            )
        )
    spot = int(mine[geo.city_code[mine] == cities[0]][-1])
    short = short_city_name(str(geo.city_name[spot]))
    hot = HotSpot(
        f"hot:{province}",
        f"{short}化工集中区",
        float(geo.seat_lon[spot]),
        float(geo.seat_lat[spot]),
        12.0,
        4.0,
        _DERIVED_HOT_SPOT_INDUSTRIES,
        min(0.006, 0.03 / n_provinces),
        f"{short}化工园区",
    )
    rural = mine[np.char.endswith(geo.county_name[mine], "县")]
    largest = rural[np.argsort(-geo.area_km2[rural], kind="stable")[:2]]
    return PlaceTables(
        tuple(centres), tuple(parks), (hot,), tuple(geo.county_name[largest].tolist())
    )


def locate(geo: Geography, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """County position of each point, -1 outside every county (as the ingest assigns them)."""
    return points_to_polygons(lon, lat, geo.geoms)


def offset_km(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    dx_km: NDArray[np.float64],
    dy_km: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Move points by east/north offsets in kilometres (local flat approximation)."""
    return lon + dx_km / (KM_PER_DEG_LAT * np.cos(np.radians(lat))), lat + dy_km / KM_PER_DEG_LAT


def distance_km(
    lon: NDArray[np.float64], lat: NDArray[np.float64], lon0: float, lat0: float
) -> NDArray[np.float64]:
    """Great-circle distance (haversine, mean Earth radius) from one point, in kilometres."""
    p1, p2 = np.radians(lat), np.radians(lat0)
    dphi, dlmb = p2 - p1, np.radians(lon0 - lon)
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(h))


def scatter(
    geo: Geography,
    rng: np.random.Generator,
    lon0: NDArray[np.float64],
    lat0: NDArray[np.float64],
    sigma_km: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Gaussian points around centres, redrawn until each lies in a county.

    Returns longitudes, latitudes and county positions. A point still outside
    after 60 rounds falls back to its centre, which must be inside.
    """
    n = len(lon0)
    lon, lat = lon0.copy(), lat0.copy()
    county = np.full(n, -1, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(60):
        if todo.size == 0:
            break
        dx, dy = rng.normal(0.0, 1.0, (2, todo.size)) * sigma_km[todo]
        x, y = offset_km(lon0[todo], lat0[todo], dx, dy)
        found = locate(geo, x, y)
        ok = found >= 0
        lon[todo[ok]], lat[todo[ok]], county[todo[ok]] = x[ok], y[ok], found[ok]
        todo = todo[~ok]
    if todo.size:
        lon[todo], lat[todo] = lon0[todo], lat0[todo]
        county[todo] = locate(geo, lon[todo], lat[todo])
    return lon, lat, county


def uniform_in_counties(
    geo: Geography, rng: np.random.Generator, county: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points uniform (in degrees) inside given counties, by rejection in each bounding box."""
    lon = np.empty(len(county))
    lat = np.empty(len(county))
    for c in np.unique(county):
        rows = np.flatnonzero(county == c)
        x0, y0, x1, y1 = shapely.bounds(geo.geoms[c])
        todo = rows
        while todo.size:
            x = rng.uniform(x0, x1, todo.size * 3)
            y = rng.uniform(y0, y1, todo.size * 3)
            inside = shapely.contains_xy(geo.geoms[c], x, y)
            take = min(todo.size, int(inside.sum()))
            lon[todo[:take]], lat[todo[:take]] = x[inside][:take], y[inside][:take]
            todo = todo[take:]
    return lon, lat


def hot_spot_of(
    geo_lon: NDArray[np.float64],
    geo_lat: NDArray[np.float64],
    hot_spots: tuple[HotSpot, ...] = HOT_SPOTS,
) -> NDArray[np.int64]:
    """Position of the hot spot each point lies in (within its radius), else -1."""
    out = np.full(len(geo_lon), -1, dtype=np.int64)
    for i, spot in enumerate(hot_spots):
        inside = distance_km(geo_lon, geo_lat, spot.lon, spot.lat) <= spot.radius_km
        out[inside & (out < 0)] = i
    return out


def hot_spot_counties(geo: Geography, spot: HotSpot) -> list[str]:
    """Adcodes of the counties a hot spot's circle touches (sampled on a 1 km grid)."""
    steps = np.arange(-spot.radius_km, spot.radius_km + 1e-9, 1.0)
    dx, dy = (a.ravel() for a in np.meshgrid(steps, steps))
    keep = dx**2 + dy**2 <= spot.radius_km**2
    lon, lat = offset_km(
        np.full(keep.sum(), spot.lon), np.full(keep.sum(), spot.lat), dx[keep], dy[keep]
    )
    found = locate(geo, lon, lat)
    return sorted({str(geo.county_code[c]) for c in found[found >= 0]})


def park_industries(place: Place | HotSpot) -> NDArray[np.int64]:
    """Positions in ``INDUSTRIES`` of the industries a park or hot spot attracts."""
    return np.array([INDUSTRY_INDEX[c] for c in place.industries], dtype=np.int64)
