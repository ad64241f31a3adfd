"""The geocoding chain: row coordinates, then the register, then the address or adcode.

Works on whole columns at once. Each step fills the rows still unplaced and
records how (``geocode_method``) and how finely (``geocode_precision``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.coords import (
    in_china_envelope,
    normalize_crs_name,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from analytics.errors import UnknownCRSError
from analytics.spatial_join import points_to_polygons
from geo_service.geocoding import Gazetteer, normalize_company_name
from geo_service.ingest.parsing import blank, parse_numbers
from geo_service.linkage.matching import AMBIGUOUS, LinkRules, Links, Located, link
from geo_service.linkage.register import RegisterIndex
from geo_service.store.boundaries import Divisions

#: Columns the chain adds to each placed row.
LOCATION_COLUMNS = (
    "lon",
    "lat",
    "source_lon",
    "source_lat",
    "source_crs",
    "geocode_method",
    "geocode_precision",
    "coord_flags",
    "adcode",
    "city_adcode",
    "province_adcode",
)


@dataclass
class Outcome:
    """Per-row verdicts: the rejection reason and detail (None while the row is fine)."""

    reason: pd.Series
    detail: pd.Series

    @classmethod
    def empty(cls, index: pd.Index) -> Outcome:
        """No row rejected yet."""
        return cls(
            pd.Series(None, index=index, dtype=object), pd.Series(None, index=index, dtype=object)
        )

    @property
    def ok(self) -> pd.Series:
        """Rows not rejected so far."""
        return self.reason.isna()

    def reject(self, mask: pd.Series, reason: str, detail: str | pd.Series) -> None:
        """Reject the rows of ``mask`` that are not rejected already."""
        target = mask & self.ok
        if not target.any():
            return
        self.reason[target] = reason
        self.detail[target] = detail[target] if isinstance(detail, pd.Series) else detail


class Locator:
    """Places rows on the map with the stored divisions and register."""

    def __init__(
        self,
        divisions: Divisions,
        register: RegisterIndex | None,
        rules: LinkRules | None = None,
    ) -> None:
        self.divisions = divisions
        self.counties = divisions.counties
        self.register = register
        self.rules = rules
        self.gazetteer = Gazetteer(divisions.table[["adcode", "name", "level", "city_adcode"]])

    def locate_and_link(
        self, rows: pd.DataFrame, outcome: Outcome, default_crs: str | None
    ) -> tuple[pd.DataFrame, Links | None]:
        """Place every row not yet rejected and, with a register, link it.

        Coordinates place a row first; the link then places the rows without them at
        their register entry, and an address or adcode the rest. Rows placed by an
        address that were not linked are linked again with their county, which may
        tell namesakes apart or bound a fuzzy search. Rejects ``bad_coordinates`` and
        ``unlocatable``.
        """
        out = pd.DataFrame(index=rows.index, columns=list(LOCATION_COLUMNS), dtype=object)
        has_coords = self._from_coordinates(rows, outcome, default_crs, out)
        links = None
        register = self.register
        if register is not None:
            links = link(rows, Located.of(out), register, self.rules)
            todo = outcome.ok & ~has_coords & links.linked
            if todo.any():
                self._from_register(links.frame["enterprise_credit_code"][todo], out)
        todo = outcome.ok & out["geocode_method"].isna()
        if todo.any():
            self._from_divisions(rows, todo, out)
        if links is not None and register is not None:
            again = outcome.ok & out["geocode_method"].isin(["address", "adcode"]) & ~links.linked
            if again.any():
                where = Located.of(out[again])
                links.update(link(rows[again], where, register, self.rules))
        unplaced = out["geocode_method"].isna()
        if links is not None:
            several = unplaced & links.frame["link_method"].eq(AMBIGUOUS)
            detail = pd.Series(None, index=rows.index, dtype=object)
            for row in several[several].index:
                codes = "、".join(c["credit_code"] for c in links.candidates[row])
                detail[row] = (
                    f"名录中多家单位同名（{codes}），无法确定位置 (several register entries "
                    f"share this name: {codes}; no coordinates or address tell them apart)"
                )
            outcome.reject(several, "unlocatable", detail)
        outcome.reject(
            unplaced,
            "unlocatable",
            "no coordinates, no register match and no division named in the address",
        )
        return out, links

    # -- step 1 --------------------------------------------------------------
    def _from_coordinates(
        self, rows: pd.DataFrame, outcome: Outcome, default_crs: str | None, out: pd.DataFrame
    ) -> pd.Series:
        lon_text, lat_text = _column(rows, "lon"), _column(rows, "lat")
        has_lon, has_lat = ~blank(lon_text), ~blank(lat_text)
        outcome.reject(has_lon ^ has_lat, "bad_coordinates", "only one of lon/lat given")
        given = has_lon & has_lat & outcome.ok
        if not given.any():
            return given
        x, y = parse_numbers(lon_text), parse_numbers(lat_text)
        outcome.reject(given & (x.isna() | y.isna()), "bad_coordinates", "lon/lat not numbers")
        crs = self._row_crs(rows, given & outcome.ok, outcome, default_crs)
        work = given & outcome.ok
        swap = work & ~_in_china(x, y) & _in_china(y, x)
        x, y = x.where(~swap, y), y.where(~swap, x)
        outcome.reject(work & ~_in_china(x, y), "bad_coordinates", "lon/lat outside China")
        work &= outcome.ok
        wx, wy = x.copy(), y.copy()
        for name in crs[work].unique():
            sel = work & (crs == name)
            wx[sel], wy[sel] = point_by_point_to_wgs84(x[sel].to_numpy(), y[sel].to_numpy(), name)
        county = self._county_of(wx, wy, work)
        outcome.reject(work & county.isna(), "bad_coordinates", "outside the service area")
        placed = work & county.notna()
        out.loc[placed, ["lon", "lat"]] = np.column_stack([wx[placed], wy[placed]])
        out.loc[placed, "source_lon"] = x[placed]  # as given (a swap repaired), before conversion
        out.loc[placed, "source_lat"] = y[placed]
        out.loc[placed, "source_crs"] = crs[placed]
        out.loc[placed, ["geocode_method", "geocode_precision"]] = ("coordinates", "point")
        out.loc[placed & swap, "coord_flags"] = "swapped"
        self._set_divisions(out, placed, county)
        return given

    def _row_crs(
        self, rows: pd.DataFrame, sel: pd.Series, outcome: Outcome, default_crs: str | None
    ) -> pd.Series:
        labels = _column(rows, "crs").fillna("").astype(str).str.strip()
        labels = labels.where(labels != "", default_crs or "WGS84")
        canonical = pd.Series(None, index=rows.index, dtype=object)
        for label in labels[sel].unique():
            mask = sel & (labels == label)
            try:
                canonical[mask] = normalize_crs_name(label)
            except UnknownCRSError:
                outcome.reject(mask, "bad_coordinates", f"unknown coordinate system {label!r}")
        return canonical

    def _county_of(self, lon: pd.Series, lat: pd.Series, sel: pd.Series) -> pd.Series:
        result = pd.Series(None, index=lon.index, dtype=object)
        if sel.any():
            idx = points_to_polygons(lon[sel], lat[sel], list(self.counties.geometry))
            codes = np.where(idx >= 0, self.counties["adcode"].to_numpy()[idx], None)
            result[sel] = codes
        return result

    def _set_divisions(self, out: pd.DataFrame, sel: pd.Series, adcode: pd.Series) -> None:
        table = self.divisions.table
        codes = adcode[sel]
        level = codes.map(table["level"])
        out.loc[sel, "adcode"] = codes.where(level == "county")
        out.loc[sel, "city_adcode"] = codes.map(table["city_adcode"])
        out.loc[sel, "province_adcode"] = codes.map(table["province_adcode"])

    # -- step 2 --------------------------------------------------------------
    def _from_register(self, codes: pd.Series, out: pd.DataFrame) -> None:
        """Rows without coordinates, at the point of the register entry they are linked to."""
        assert self.register is not None
        frame = self.register.frame
        positions = codes.map(self.register.position).astype(int).to_numpy()
        idx = codes.index
        for col in ("lon", "lat", "geocode_precision", "adcode", "city_adcode", "province_adcode"):
            out.loc[idx, col] = frame[col].to_numpy(object)[positions]
        out.loc[idx, "geocode_method"] = "register"

    # -- step 3 --------------------------------------------------------------
    def _from_divisions(self, rows: pd.DataFrame, sel: pd.Series, out: pd.DataFrame) -> None:
        table = self.divisions.table
        found = self.gazetteer.resolve_many(_column(rows, "address")[sel])
        adcode = found["adcode"].reindex(rows.index)
        method = pd.Series(None, index=rows.index, dtype=object)
        method[adcode.notna()] = "address"
        stated = _column(rows, "adcode").fillna("").astype(str).str.strip()
        usable = stated.map(table["level"]).isin(["city", "county"])
        by_code = sel & adcode.isna() & usable
        adcode[by_code] = stated[by_code]
        method[by_code] = "adcode"
        placed = sel & adcode.notna()
        if not placed.any():
            return
        codes = adcode[placed]
        out.loc[placed, "lon"] = codes.map(table["rep_lon"])
        out.loc[placed, "lat"] = codes.map(table["rep_lat"])
        out.loc[placed, "geocode_method"] = method[placed]
        out.loc[placed, "geocode_precision"] = codes.map(table["level"])
        self._set_divisions(out, placed, adcode)


#: The iteratively inverted systems: the forward conversion from WGS84.
_FORWARD = {"GCJ02": wgs84_to_gcj02, "BD09": wgs84_to_bd09}


def point_by_point_to_wgs84(
    x: np.ndarray, y: np.ndarray, crs: str, tol_deg: float = 1e-10, max_iter: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`analytics.coords.to_wgs84`, each point's result depending on that point alone.

    GCJ-02 and BD-09 are inverted by the same fixed-point iteration as
    ``analytics.coords`` (same tolerance and limit), but each point stops when its own
    error is within the tolerance, where ``to_wgs84`` stops all points when the worst
    one is: there a point's last bits depend on which other points share the call (up
    to 3e-13°), and the records of a file would depend on how it is cut into chunks.

    Examples
    --------
    >>> from analytics.coords import wgs84_to_gcj02
    >>> gx, gy = wgs84_to_gcj02(np.array([108.3, 110.29]), np.array([22.8, 25.27]))
    >>> one = point_by_point_to_wgs84(gx[:1], gy[:1], "GCJ02")
    >>> both = point_by_point_to_wgs84(gx, gy, "GCJ02")
    >>> bool(one[0][0] == both[0][0] and one[1][0] == both[1][0])
    True
    >>> [round(float(v), 9) for v in both[0]]
    [108.3, 110.29]
    """
    name = normalize_crs_name(crs)
    forward = _FORWARD.get(name)
    if forward is None:  # WGS84, CGCS2000: point by point already
        wx, wy = to_wgs84(x, y, name)
        return np.asarray(wx, dtype=np.float64), np.asarray(wy, dtype=np.float64)
    lon, lat = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    wx, wy = lon.copy(), lat.copy()
    active = np.arange(lon.size)
    for _ in range(max_iter):
        if active.size == 0:
            break
        fx, fy = forward(wx[active], wy[active])
        ex, ey = fx - lon[active], fy - lat[active]
        wx[active] -= ex
        wy[active] -= ey
        # NaN errors compare False: such points stop, as to_wgs84's nanmax ignores them
        active = active[(np.abs(ex) > tol_deg) | (np.abs(ey) > tol_deg)]
    return wx, wy


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    if name in rows.columns:
        return rows[name]
    return pd.Series("", index=rows.index, dtype=object)


def _in_china(x: pd.Series, y: pd.Series) -> pd.Series:
    inside = in_china_envelope(x.fillna(-999.0).to_numpy(), y.fillna(-999.0).to_numpy())
    return pd.Series(inside, index=x.index)


__all__ = [
    "LOCATION_COLUMNS",
    "Locator",
    "Outcome",
    "normalize_company_name",
    "point_by_point_to_wgs84",
]
