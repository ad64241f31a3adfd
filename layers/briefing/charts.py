"""The briefing's maps and chart, drawn offline with matplotlib (Agg, no pyplot state)
from the service's own layers: the case-density surface and the Gi* hot spots over the
jurisdiction's divisions, outlined and named, and the leading problem types as bars.
Each is a PNG's bytes, its text set in the bundled font."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import geopandas as gpd
import matplotlib as mpl
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure as PlotFigure
from matplotlib.patches import Patch

from analytics.projection import EQUAL_AREA_CRS
from layers.briefing.content import MapInputs, ProblemTypeRow
from layers.briefing.fonts import BriefFonts
from layers.maps import GI_CLASSES, YL_OR_RD

DPI = 150
MAP_SIZE_IN = (7.0, 5.4)
_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]


@contextmanager
def _style(fonts: BriefFonts) -> Iterator[None]:
    family = fonts.for_plots()
    with mpl.rc_context(
        {"font.family": [family], "axes.unicode_minus": False, "svg.fonttype": "none"}
    ):
        yield


def _png(figure: PlotFigure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _base_map(inputs: MapInputs) -> tuple[PlotFigure, Axes]:
    """A figure with the divisions outlined and named, in the equal-area CRS."""
    figure = PlotFigure(figsize=MAP_SIZE_IN, dpi=DPI)
    axes = figure.add_axes((0.02, 0.02, 0.8, 0.96))
    outline = inputs.outline.to_crs(EQUAL_AREA_CRS)
    west, south, east, north = outline.total_bounds
    pad = 0.04 * max(east - west, north - south)
    axes.set_xlim(west - pad, east + pad)
    axes.set_ylim(south - pad, north + pad)
    axes.set_aspect("equal")
    axes.set_axis_off()
    return figure, axes


def _outline_and_names(axes: Axes, inputs: MapInputs) -> None:
    places = inputs.places.to_crs(EQUAL_AREA_CRS)
    places.boundary.plot(ax=axes, color="#555555", linewidth=0.6, zorder=3)
    inputs.outline.to_crs(EQUAL_AREA_CRS).boundary.plot(
        ax=axes, color="#222222", linewidth=1.2, zorder=3
    )
    points = places.geometry.representative_point()
    for name, point in zip(places["name"], points, strict=True):
        axes.annotate(
            str(name),
            (point.x, point.y),
            ha="center",
            va="center",
            fontsize=7,
            color="#111111",
            path_effects=_HALO,
            zorder=5,
        )


def density_map_png(inputs: MapInputs, fonts: BriefFonts) -> bytes:
    """The case-density surface (cases per km²) under the divisions, with its scale."""
    with _style(fonts):
        figure, axes = _base_map(inputs)
        surface = inputs.density
        if surface is not None and np.isfinite(surface.values).any():
            values = np.where(np.isfinite(surface.values), surface.values, np.nan)
            peak = float(np.nanmax(values))
            shown = np.ma.masked_where(~(values > 0.02 * peak), values)
            grid = surface.grid
            extent = (
                grid.x_min_m,
                grid.x_min_m + grid.nx * grid.cell_m,
                grid.y_max_m - grid.ny * grid.cell_m,
                grid.y_max_m,
            )
            image = axes.imshow(
                shown,
                extent=extent,
                origin="upper",
                cmap=ListedColormap(YL_OR_RD),
                zorder=2,
                interpolation="nearest",
            )
            bar = figure.colorbar(image, ax=axes, fraction=0.04, pad=0.01)
            bar.set_label("案件密度（件/平方公里）", fontsize=8)
            bar.ax.tick_params(labelsize=7)
        else:
            axes.text(0.5, 0.04, "本期无精确定位的案件", transform=axes.transAxes, ha="center")
        _outline_and_names(axes, inputs)
        return _png(figure)


def hotspot_map_png(inputs: MapInputs, fonts: BriefFonts) -> bytes:
    """The Gi* hot and cold spots (ArcGIS's confidence classes) under the divisions."""
    with _style(fonts):
        figure, axes = _base_map(inputs)
        cells = inputs.hotspots
        handles = []
        if not cells.empty:
            cells = cells.to_crs(EQUAL_AREA_CRS)
            for value, colour, label in GI_CLASSES:
                chosen = cells[cells["gi_bin"] == value]
                if value == 0 or chosen.empty:
                    continue
                chosen.plot(ax=axes, color=colour, edgecolor="#999999", linewidth=0.2, zorder=2)
                handles.append(Patch(facecolor=colour, label=" ".join(label.split(" ")[:3])))
        _outline_and_names(axes, inputs)
        if handles:
            axes.legend(handles=handles, loc="lower left", fontsize=7, frameon=True)
        else:
            axes.text(0.5, 0.04, "本期未检出显著热点或冷点", transform=axes.transAxes, ha="center")
        return _png(figure)


def problem_type_chart_png(rows: Sequence[ProblemTypeRow], fonts: BriefFonts) -> bytes:
    """The leading problem types' cases this period beside the period before, as bars."""
    with _style(fonts):
        figure = PlotFigure(figsize=(7.0, 0.5 + 0.45 * max(len(rows), 1)), dpi=DPI)
        axes = figure.add_axes((0.42, 0.12, 0.55, 0.84))
        labels = ["\n".join(textwrap.wrap(r.label, 20)[:2]) for r in rows]
        y = np.arange(len(rows))
        axes.barh(y - 0.2, [r.cases for r in rows], 0.4, color="#e31a1c", label="本期")
        axes.barh(y + 0.2, [r.previous for r in rows], 0.4, color="#bdbdbd", label="上期")
        axes.set_yticks(y, labels, fontsize=7)
        axes.invert_yaxis()
        axes.tick_params(axis="x", labelsize=7)
        axes.set_xlabel("案件数（件）", fontsize=8)
        axes.legend(fontsize=7, loc="lower right")
        return _png(figure)


def map_places(divisions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The divisions with ``name`` and geometry only (what the maps read)."""
    return divisions[["name", "geometry"]].reset_index(drop=True)
