"""Open a QGIS project headless and report each layer as QGIS sees it (JSON on stdout).

Run by the system Python that has QGIS (Debian ``python3-qgis``), not the project's venv:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/geo_service/qgis_check.py project.qgs

For every layer: provider, validity, renderer, the features QGIS counts and
fetches (vector layers), and how many pixels it draws over the project's
default view (so styles and data sources are exercised, tiles included).
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


def _describe(qgis: Any, project: Any, layer: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": layer.name(),
        "provider": layer.providerType(),
        "valid": layer.isValid(),
        "crs": layer.crs().authid(),
    }
    if isinstance(layer, qgis.QgsVectorLayer) and layer.isValid():
        info["feature_count"] = layer.featureCount()
        info["features_fetched"] = sum(1 for _ in layer.getFeatures())
        info["renderer"] = layer.renderer().type()
    elif isinstance(layer, qgis.QgsVectorTileLayer):
        info["renderer"] = layer.renderer().type()
        info["styles"] = [s.styleName() for s in layer.renderer().styles()]
    elif isinstance(layer, qgis.QgsRasterLayer) and layer.isValid():
        info["renderer"] = layer.renderer().type()
    if layer.isValid():
        info["drawn_pixels"] = _drawn_pixels(qgis, project, layer)
    return info


def main(path: str) -> dict[str, Any]:
    """Read the project at ``path``; its CRS, default view and every layer's report."""
    import qgis.core as qgis

    app = qgis.QgsApplication([], False)
    app.initQgis()
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
        "layers": {lid: _describe(qgis, project, lyr) for lid, lyr in project.mapLayers().items()},
    }
    print(json.dumps(report, ensure_ascii=False), flush=True)
    project.clear()
    app.exitQgis()
    return report


if __name__ == "__main__":
    main(sys.argv[1])
