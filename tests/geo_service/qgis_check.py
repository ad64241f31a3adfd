"""Open a QGIS project headless and report each layer as QGIS sees it (JSON on stdout).

Run by the system Python that has QGIS (Debian ``python3-qgis``), not the project's venv:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/geo_service/qgis_check.py project.qgs \
        [auth.xml profile-dir]

With ``auth.xml`` the documented step comes first: QGIS starts on a fresh profile in
``profile-dir`` (its own authentication database), the master password is set, and
the authentication configuration is imported, as Settings ▸ Options ▸ Authentication
▸ Import does. For every layer, on or off: provider, validity, whether it is on, its
scale range and metadata abstract, renderer, what data it holds — vector layers: the
features QGIS counts and fetches; vector tile layers: the features QGIS decodes from
the tiles over the project's default view, per tile layer; raster layers: the extent
and statistics of the band over the default view (the pixels drawn and colours of
an RGBA tile layer) — and how many pixels it draws over the default view (so styles
and data sources are exercised, tiles included); then the whole project as it opens
(the layers that are on) rendered by the parallel renderer, as QGIS's canvas draws it.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _drawn_pixels(qgis: Any, project: Any, layer: Any) -> int:
    """Non-background pixels of ``layer`` rendered alone over the project's default view."""
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    settings = qgis.QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(project.crs())
    settings.setOutputSize(QSize(256, 256))
    settings.setExtent(project.viewSettings().defaultViewExtent())
    settings.setBackgroundColor(QColor(255, 255, 255, 0))
    job = qgis.QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    return sum(
        1 for x in range(0, 256, 2) for y in range(0, 256, 2) if image.pixelColor(x, y).alpha() > 0
    )


def _render_alone(qgis: Any, project: Any, layer: Any, size: int) -> None:
    """Render ``layer`` alone over the project's default view in this thread (so a
    renderer written in Python runs here, not in a worker thread)."""
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QImage, QPainter

    settings = qgis.QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(project.crs())
    settings.setOutputSize(QSize(size, size))
    settings.setExtent(project.viewSettings().defaultViewExtent())
    image = QImage(QSize(size, size), QImage.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    qgis.QgsMapRendererCustomPainterJob(settings, painter).renderSynchronously()
    painter.end()


def _counting_renderer(qgis: Any, inner: Any, counts: dict[str, int]) -> Any:
    """A vector tile renderer that draws nothing and adds up, per tile layer, the
    features the provider decodes for it; ``inner`` (the layer's own renderer) still
    chooses which tile layers are needed."""

    class Counter(qgis.QgsVectorTileRenderer):
        def type(self) -> str:
            return "feature-counter"

        def clone(self) -> Any:
            return _counting_renderer(qgis, inner.clone(), counts)

        def startRender(self, context: Any, zoom: int, tiles: Any) -> None:  # noqa: N802
            inner.startRender(context, zoom, tiles)

        def requiredLayers(self, context: Any, zoom: int) -> Any:  # noqa: N802
            return inner.requiredLayers(context, zoom)

        def stopRender(self, context: Any) -> None:  # noqa: N802
            inner.stopRender(context)

        def renderTile(self, tile: Any, context: Any) -> None:  # noqa: N802
            for name in tile.layers():
                counts[name] = counts.get(name, 0) + len(tile.layerFeatures(name))

        def writeXml(self, element: Any, context: Any) -> None:  # noqa: N802
            pass

        def readXml(self, element: Any, context: Any) -> None:  # noqa: N802
            pass

    return Counter()


def _tile_features(qgis: Any, project: Any, layer: Any) -> dict[str, int]:
    """Features per tile layer that QGIS decodes from the vector tiles over the default
    view: a copy of ``layer`` (same source, auth configuration and zoom choice) drawn
    by a renderer that counts what the provider hands it."""
    counts: dict[str, int] = {}
    copy = layer.clone()
    copy.setRenderer(_counting_renderer(qgis, layer.renderer().clone(), counts))
    _render_alone(qgis, project, copy, 256)
    return counts


def _raster_statistics(qgis: Any, project: Any, layer: Any) -> dict[str, Any]:
    """Band 1 over the default view: statistics of a data raster (the GeoTIFF), or the
    pixels with colour and their distinct colours of an RGBA tile layer (XYZ PNG)."""
    view = project.viewSettings().defaultViewExtent()
    to_layer = qgis.QgsCoordinateTransform(view.crs(), layer.crs(), project)
    area = to_layer.transformBoundingBox(qgis.QgsRectangle(view))
    provider = layer.dataProvider()
    if provider.dataType(1) in (qgis.Qgis.ARGB32, qgis.Qgis.ARGB32_Premultiplied):
        block = provider.block(1, area, 64, 64)
        colours = [block.color(r, c) for r in range(64) for c in range(64)]
        coloured = [c for c in colours if (c >> 24) & 0xFF]
        return {"count": len(coloured), "colours": len(set(coloured))}
    stats = provider.bandStatistics(1, qgis.QgsRasterBandStats.All, area, 4096)
    return {
        "count": stats.elementCount,
        "min": stats.minimumValue,
        "max": stats.maximumValue,
        "mean": stats.mean,
    }


def _render_project(qgis: Any, project: Any, out: str | None) -> dict[str, Any]:
    """The layers that are on, rendered together over the default view (512 px square,
    the parallel renderer): the pixels drawn and the distinct colours among them."""
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    layers = project.layerTreeRoot().checkedLayers()
    settings = qgis.QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(project.crs())
    settings.setOutputSize(QSize(512, 512))
    settings.setExtent(project.viewSettings().defaultViewExtent())
    settings.setBackgroundColor(QColor(255, 255, 255, 0))
    job = qgis.QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    if out:
        image.save(out, "PNG")
    drawn = [
        image.pixel(x, y)
        for x in range(0, 512, 2)
        for y in range(0, 512, 2)
        if image.pixelColor(x, y).alpha() > 0
    ]
    return {
        "layers": [layer.name() for layer in layers],
        "drawn_pixels": len(drawn),
        "colours": len(set(drawn)),
        "errors": [f"{e.layerID}: {e.message}" for e in job.errors()],
    }


def _authenticate(qgis: Any, xml: str) -> dict[str, Any]:
    """Set the master password of the fresh authentication database and import ``xml``."""
    manager = qgis.QgsApplication.authManager()
    master = manager.setMasterPassword("qgis-check-master", True)
    imported = manager.importAuthenticationConfigsFromXml(xml, "", True)
    return {
        "database": manager.authenticationDatabasePath(),
        "master_password_set": master,
        "imported": imported,
        "configs": sorted(manager.configIds()),
    }


def _describe(qgis: Any, project: Any, layer: Any) -> dict[str, Any]:
    node = project.layerTreeRoot().findLayer(layer.id())
    info: dict[str, Any] = {
        "name": layer.name(),
        "provider": layer.providerType(),
        "valid": layer.isValid(),
        "crs": layer.crs().authid(),
        "visible": bool(node is not None and node.isVisible()),
        "scale_based": layer.hasScaleBasedVisibility(),
        "min_scale": layer.minimumScale(),
        "abstract": layer.metadata().abstract(),
    }
    if isinstance(layer, qgis.QgsVectorLayer) and layer.isValid():
        info["feature_count"] = layer.featureCount()
        info["features_fetched"] = sum(1 for _ in layer.getFeatures())
        info["renderer"] = layer.renderer().type()
    elif isinstance(layer, qgis.QgsVectorTileLayer):
        info["renderer"] = layer.renderer().type()
        info["styles"] = [s.styleName() for s in layer.renderer().styles()]
        if layer.isValid():
            info["tile_features"] = _tile_features(qgis, project, layer)
    elif isinstance(layer, qgis.QgsRasterLayer) and layer.isValid():
        info["renderer"] = layer.renderer().type()
        extent = layer.extent()
        info["extent"] = [
            extent.xMinimum(),
            extent.yMinimum(),
            extent.xMaximum(),
            extent.yMaximum(),
        ]
        info["extent_empty"] = extent.isEmpty()
        info["statistics"] = _raster_statistics(qgis, project, layer)
    if layer.isValid():
        info["drawn_pixels"] = _drawn_pixels(qgis, project, layer)
    return info


def main(path: str, auth_xml: str | None = None, profile: str | None = None) -> dict[str, Any]:
    """Read the project at ``path`` (after importing ``auth_xml`` into a fresh profile in
    ``profile``); its CRS, default view, every layer's report and the rendered project."""
    import qgis.core as qgis

    app = qgis.QgsApplication([], False, profile) if profile else qgis.QgsApplication([], False)
    app.initQgis()
    auth = _authenticate(qgis, auth_xml) if auth_xml else None
    project = qgis.QgsProject.instance()
    read = project.read(path)
    view = project.viewSettings().defaultViewExtent()
    report = {
        "read": read,
        "qgis_version": qgis.Qgis.QGIS_VERSION,
        "crs": project.crs().authid(),
        "view": [view.xMinimum(), view.yMinimum(), view.xMaximum(), view.yMaximum()],
        "view_crs": view.crs().authid(),
        "groups": [g.name() for g in project.layerTreeRoot().children()],
        "auth": auth,
        "layers": {lid: _describe(qgis, project, lyr) for lid, lyr in project.mapLayers().items()},
        "render": _render_project(qgis, project, path + ".png"),
    }
    print(json.dumps(report, ensure_ascii=False), flush=True)
    project.clear()
    app.exitQgis()
    return report


if __name__ == "__main__":
    main(*sys.argv[1:4])
