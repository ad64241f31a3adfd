"""Maps for leadership (Folium, every asset served locally) and the HTML landing page."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request

router = APIRouter()


def landing_page(request: Request, links: list[dict[str, str]]) -> str:
    """The landing page for browsers: every map, layer, download and the API docs."""
    items = "".join(
        f'<li><a href="{escape(link["href"])}">{escape(link.get("title", link["rel"]))}</a></li>'
        for link in links
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>geo-service</title></head><body><h1>生态环境执法地图 geo-service</h1>"
        f"<ul>{items}</ul></body></html>"
    )
