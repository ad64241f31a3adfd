"""Open a QGIS project headless and report each layer as QGIS sees it (JSON on stdout).

Run by the system Python that has QGIS (Debian ``python3-qgis``), not the project's venv:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/geo_service/qgis_check.py project.qgs \
        [auth.xml profile-dir]

With ``auth.xml`` the documented step comes first: QGIS starts on a fresh profile in
``profile-dir`` (its own authentication database), the master password is set, and
the authentication configuration is imported, as Settings ▸ Options ▸ Authentication
▸ Import does. For every layer: provider, validity, whether it is on, its scale range
and metadata abstract, renderer, the features QGIS counts and fetches (vector
layers), and how many pixels it draws over the project's default view (so styles and
data sources are exercised, tiles included); then the whole project as it opens (the
layers that are on) rendered by the parallel renderer, as QGIS's canvas draws it.
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
    elif isinstance(layer, qgis.QgsRasterLayer) and layer.isValid():
        info["renderer"] = layer.renderer().type()
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
