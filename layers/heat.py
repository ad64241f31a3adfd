"""Heat raster tiles: a density surface resampled to 256 × 256 Web Mercator PNG tiles.

The colour scale is fixed per surface — breaks at shares of its peak, the same
classes as the isoband downloads (:data:`layers.rasters.BAND_SHARES`) — so that
neighbouring tiles agree and a legend holds for all of them. Densities below
the first break are transparent. Pixel centres are transformed with pyproj to
the surface's equal-area CRS and sampled bilinearly, from a coarser copy of the
surface (2 × 2 means) where a pixel covers several cells.

Examples
--------
>>> scale = HeatScale((1.0, 2.0), ((255, 255, 255, 100), (0, 0, 0, 200)), "cases per km²")
>>> scale.colourize(np.array([0.5, 1.5, 3.0])).tolist()
[[0, 0, 0, 0], [128, 128, 128, 150], [0, 0, 0, 200]]
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from pyproj import Transformer

from analytics.density import DensitySurface
from analytics.projection import EQUAL_AREA_CRS
from layers.rasters import BAND_SHARES
from layers.tiles import mercator_to_lonlat, tile_bounds_m

TILE_SIZE: Final = 256
#: ColorBrewer YlOrRd (8 classes), more opaque as the density rises.
RAMP: Final = (
    (255, 255, 204, 120),
    (255, 237, 160, 140),
    (254, 217, 118, 160),
    (254, 178, 76, 180),
    (253, 141, 60, 195),
    (252, 78, 42, 210),
    (227, 26, 28, 225),
    (177, 0, 38, 235),
)

FloatArray = NDArray[np.float64]


def _significant(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True)
class HeatScale:
    """Colours reached at each break (densities in ``units``), linear in between."""

    breaks: tuple[float, ...]
    colours: tuple[tuple[int, int, int, int], ...]
    units: str

    def colourize(self, values: FloatArray) -> NDArray[np.uint8]:
        """RGBA of densities: transparent below the first break (or where it is 0)."""
        out = np.zeros((*values.shape, 4), dtype=np.uint8)
        shown = (values >= self.breaks[0]) & (values > 0)
        ramp = np.asarray(self.colours, dtype=np.float64)
        for channel in range(4):
            out[..., channel][shown] = np.rint(
                np.interp(values[shown], self.breaks, ramp[:, channel])
            )
        return out

    def legend(self, title: str, **extra: Any) -> dict[str, Any]:
        """The legend as JSON: breaks, colours (#rrggbb), opacities, classes."""
        hexes = ["#{:02x}{:02x}{:02x}".format(*c[:3]) for c in self.colours]
        uppers = [*self.breaks[1:], None]
        opacity = [round(c[3] / 255, 3) for c in self.colours]
        rows = zip(self.breaks, uppers, hexes, opacity, strict=True)
        classes = [{"from": b, "to": u, "colour": h, "opacity": o} for b, u, h, o in rows]
        return {
            "title": title,
            "units": self.units,
            "breaks": list(self.breaks),
            "colours": hexes,
            "opacity": opacity,
            "transparent_below": self.breaks[0],
            "classes": classes,
            **extra,
        }


def heat_scale(
    surface: DensitySurface,
    shares: Sequence[float] = BAND_SHARES,
    ramp: Sequence[tuple[int, int, int, int]] = RAMP,
) -> HeatScale:
    """Breaks at ``shares`` of the surface's peak (3 significant digits), one colour each."""
    if len(shares) != len(ramp):
        raise ValueError("one colour per break")
    finite = surface.values[np.isfinite(surface.values)]
    peak = float(finite.max()) if finite.size else 0.0
    if peak <= 0:
        breaks = tuple(float(s) for s in shares)  # nothing will be shown; breaks stay ordered
    else:
        breaks = tuple(_significant(peak * s) for s in shares)
    return HeatScale(breaks, tuple(tuple(c) for c in ramp), surface.units)  # type: ignore[misc]


@dataclass(frozen=True)
class _Level:
    values: FloatArray  # padded with a ring of zeros
    x_min_m: float
    y_max_m: float
    cell_m: float


def _coarser(level: _Level) -> _Level:
    """2 × 2 block means (odd edges padded with zeros)."""
    inner = level.values[1:-1, 1:-1]
    ny, nx = inner.shape
    even = np.pad(inner, ((0, ny % 2), (0, nx % 2)))
    blocks = even.reshape(even.shape[0] // 2, 2, even.shape[1] // 2, 2).mean(axis=(1, 3))
    return _Level(np.pad(blocks, 1), level.x_min_m, level.y_max_m, 2 * level.cell_m)


class HeatSource:
    """A density surface prepared for tiles: zero-padded values, coarser copies, the
    transformation from Web Mercator and the colour scale."""

    def __init__(self, surface: DensitySurface, scale: HeatScale | None = None) -> None:
        self.surface = surface
        self.scale = scale or heat_scale(surface)
        grid = surface.grid
        values = np.nan_to_num(surface.values, nan=0.0, posinf=0.0, neginf=0.0)
        self.levels = [_Level(np.pad(values, 1), grid.x_min_m, grid.y_max_m, grid.cell_m)]
        while min(self.levels[-1].values.shape) > 6:
            self.levels.append(_coarser(self.levels[-1]))
        self.to_surface = Transformer.from_crs("EPSG:3857", EQUAL_AREA_CRS, always_xy=True)
        edge_x = grid.x_min_m + np.linspace(0, grid.nx * grid.cell_m, 65)
        edge_y = grid.y_max_m - np.linspace(0, grid.ny * grid.cell_m, 65)
        xs = np.concatenate([edge_x, edge_x, np.full(65, edge_x[0]), np.full(65, edge_x[-1])])
        ys = np.concatenate([np.full(65, edge_y[0]), np.full(65, edge_y[-1]), edge_y, edge_y])
        mx, my = Transformer.from_crs(EQUAL_AREA_CRS, "EPSG:3857", always_xy=True).transform(xs, ys)
        self.bounds_m = (float(np.min(mx)), float(np.min(my)), float(np.max(mx)), float(np.max(my)))

    @property
    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """West, south, east, north of the surface (WGS84)."""
        lon, lat = mercator_to_lonlat(self.bounds_m[::2], self.bounds_m[1::2])
        return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])

    def sample(self, x_m: FloatArray, y_m: FloatArray, pixel_m: float) -> FloatArray:
        """Bilinear densities at Web Mercator points, from the coarsest copy whose cells
        are no wider than a pixel (``pixel_m``: ground size of a pixel)."""
        level = self.levels[0]
        for candidate in self.levels[1:]:
            if candidate.cell_m > pixel_m:
                break
            level = candidate
        ax, ay = self.to_surface.transform(x_m, y_m)
        col = (np.asarray(ax) - level.x_min_m) / level.cell_m + 0.5  # +1 pad −0.5 centre
        row = (level.y_max_m - np.asarray(ay)) / level.cell_m + 0.5
        ny, nx = level.values.shape
        outside = (col < 0) | (row < 0) | (col > nx - 1) | (row > ny - 1) | ~np.isfinite(col)
        col = np.where(outside, 0.0, col)
        row = np.where(outside, 0.0, row)
        c0 = np.minimum(np.floor(col).astype(np.int64), nx - 2)
        r0 = np.minimum(np.floor(row).astype(np.int64), ny - 2)
        fc, fr = col - c0, row - r0
        v = level.values
        top = v[r0, c0] * (1 - fc) + v[r0, c0 + 1] * fc
        bottom = v[r0 + 1, c0] * (1 - fc) + v[r0 + 1, c0 + 1] * fc
        return np.where(outside, 0.0, top * (1 - fr) + bottom * fr)


def heat_tile(source: HeatSource, z: int, x: int, y: int, size: int = TILE_SIZE) -> bytes:
    """The PNG tile ``z/x/y`` of the surface (RGBA), or b"" where nothing shows."""
    min_x, min_y, max_x, max_y = tile_bounds_m(z, x, y)
    b = source.bounds_m
    if max_x < b[0] or min_x > b[2] or max_y < b[1] or min_y > b[3]:
        return b""
    step = (max_x - min_x) / size
    centres = (np.arange(size) + 0.5) * step
    mx, my = np.meshgrid(min_x + centres, max_y - centres)
    lat = math.atan(math.sinh((min_y + max_y) / 2 / 6378137.0))
    values = source.sample(mx.ravel(), my.ravel(), step * math.cos(lat))
    rgba = source.scale.colourize(values.reshape(size, size))
    if not rgba[..., 3].any():
        return b""
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def legend_png(scale: HeatScale, box_px: tuple[int, int] = (28, 16)) -> bytes:
    """A vertical legend: one box per class with its lower break, the units below."""
    width, height = box_px
    n = len(scale.colours)
    image = Image.new("RGBA", (190, 8 + n * (height + 2) + 20), (255, 255, 255, 230))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    ink = (40, 40, 40, 255)
    for i, (colour, value) in enumerate(zip(scale.colours, scale.breaks, strict=True)):
        top = 6 + (n - 1 - i) * (height + 2)  # the highest class on top
        draw.rectangle((8, top, 8 + width, top + height), fill=colour, outline=(120, 120, 120))
        draw.text((16 + width, top + 2), f">= {_label(value)}", fill=ink, font=font)
    units = scale.units.replace("²", "2")  # the built-in font has ASCII only
    draw.text((8, 8 + n * (height + 2)), units, fill=ink, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
