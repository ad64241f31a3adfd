"""The leadership dashboard (领导驾驶舱): KPIs with their trend, a map and charts by month,
industry and problem type, drilled from province to city to county.

The page holds no records. Its script (``/static/dashboard/dashboard.js``, charts by the
vendored Apache ECharts) reads the statistics ledgers (``/stats/cases``,
``/stats/inspections``) and the divisions' outlines (``/collections/jurisdictions/
items``) with the caller's own credentials, under the same filters. So what a caller
sees is exactly what those endpoints give them: anonymous callers the public view at
province level (a drill below it shows a sign-in prompt, from the ledgers' 401), an
account its own jurisdiction and below (a drill outside shows the ledgers' 403 as a
refusal). The page itself carries only where to start and the divisions' names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from html import escape

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, select

from geo_service.api.dependencies import Caller, get_caller, get_engine
from geo_service.core.errors import BadFilterError, StoreNotReadyError
from geo_service.store.models import Jurisdiction

#: The page's own script and style (the style's @font-face names the service's own
#: Chinese font, /static/vendor/fonts/NotoSansSC-Regular.subset.ttf).
STATIC = "/static/dashboard"
ECHARTS = "/static/vendor/echarts/echarts.min.js"
TITLE = "生态环境执法领导驾驶舱"

router = APIRouter()


@dataclass(frozen=True)
class DivisionEntry:
    """A division as the page's breadcrumb, picker and map clicks name it."""

    adcode: str
    name: str
    level: str
    parent: str | None


@dataclass(frozen=True)
class DashboardConfig:
    """What the page's script starts from: no figures, only places and the caller."""

    start: str  # the division shown first
    home: str  # the caller's own division (anonymous: the first province)
    signed_in: bool
    account: str | None  # the account's name
    role: str | None
    divisions: tuple[DivisionEntry, ...]


@router.get("/dashboard", operation_id="dashboard_page", response_class=HTMLResponse)
def dashboard_page(
    jurisdiction: str | None = Query(
        None,
        description="行政区划代码 the division the dashboard opens on (default: the "
        "account's own, or the province)",
    ),
    _period: str | None = Query(
        None,
        alias="period",
        pattern=r"^\d{4}$",
        description="年度 the year shown first (YYYY; default: the latest with records)",
    ),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
) -> HTMLResponse:
    """The leadership dashboard: an HTML page whose script draws the KPIs, map and charts
    from the ledgers (``/stats/…``) as the caller may read them; no figures in the page.
    ``period`` is checked here and read by the page's script from its own address."""
    config = dashboard_config(read_division_entries(engine), caller, jurisdiction)
    return HTMLResponse(dashboard_html(config))


def read_division_entries(engine: Engine) -> tuple[DivisionEntry, ...]:
    """Every loaded division's code, name, level and parent (no outline), by adcode."""
    table = Jurisdiction.__table__
    query = select(table.c.adcode, table.c.name, table.c.level, table.c.parent_adcode)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(table.c.adcode)).all()
    if not rows:
        raise StoreNotReadyError("no jurisdictions are loaded: run geo-service init")
    return tuple(DivisionEntry(str(r[0]), str(r[1]), str(r[2]), r[3] and str(r[3])) for r in rows)


def dashboard_config(
    divisions: tuple[DivisionEntry, ...], caller: Caller, asked: str | None
) -> DashboardConfig:
    """Where the page starts: the division asked for (a loaded one; whether the caller
    may read it is the ledgers' to say), else the caller's own, else the first province."""
    known = {d.adcode for d in divisions}
    if asked is not None and asked not in known:
        raise BadFilterError(
            f"jurisdiction {asked!r} 不是已加载的行政区划 is not a loaded division"
        )
    provinces = [d.adcode for d in divisions if d.level == "province"]
    first = provinces[0] if provinces else divisions[0].adcode
    home = caller.jurisdiction if caller.jurisdiction in known else first
    return DashboardConfig(
        start=asked or home,
        home=home or first,
        signed_in=caller.authenticated,
        account=caller.name if caller.authenticated else None,
        role=caller.role,
        divisions=divisions,
    )


def dashboard_html(config: DashboardConfig) -> str:
    """The page: its frame, the configuration as inert JSON, and the service's own script
    and style (no inline script, no other host)."""
    data = json.dumps(asdict(config), ensure_ascii=False).replace("</", "<\\/")
    account = (
        f'<span class="dash-account">{escape(config.account or "")} · '
        '<a href="/logout">退出 Sign out</a></span>'
        if config.signed_in
        else '<a class="dash-account dash-login" href="/login?next=/dashboard">登录 Sign in</a>'
    )
    kpis = "".join(
        f'<div class="dash-kpi" data-kpi="{key}"><span class="dash-kpi-name">{escape(name)}'
        '</span><b class="dash-kpi-value">—</b><span class="dash-kpi-trend"></span></div>'
        for key, name in KPI_NAMES
    )
    panels = "".join(
        f'<section class="dash-panel dash-{key}"><h2>{escape(title)}</h2>'
        f'<div class="dash-chart" id="chart-{key}"></div></section>'
        for key, title in PANELS
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{TITLE} Leadership dashboard</title>"
        '<link rel="icon" href="/static/maps/favicon.svg">'
        f'<link rel="stylesheet" href="{STATIC}/dashboard.css">'
        f'<script type="application/json" id="dashboard-config">{data}</script>'
        f'<script src="{ECHARTS}" defer></script>'
        f'<script src="{STATIC}/dashboard.js" defer></script>'
        '</head><body data-state="loading">'
        f'<header class="dash-head"><h1>{TITLE} <small>Leadership dashboard</small></h1>'
        '<nav class="dash-crumbs" aria-label="行政区划 Divisions"></nav>'
        '<label>年度 Year <select class="dash-year"></select></label>'
        '<label>下钻 Drill down <select class="dash-child"></select></label>'
        f'<a class="dash-home" href="/">首页 Home</a>{account}</header>'
        '<div class="dash-notices" aria-live="polite"></div>'
        f'<div class="dash-kpis">{kpis}</div><main class="dash-grid">{panels}</main>'
        '<footer class="dash-foot">数据来自统计台账 /stats/cases、/stats/inspections；'
        "未登录时为全省公开视图（计数经随机扰动，不含金额和比率）。"
        "Figures from the ledgers; without an account the province's public view.</footer>"
        "</body></html>"
    )


#: The KPI cards: the ledger column each shows, and its name.
KPI_NAMES = (
    ("cases", "处罚案件（件） Cases"),
    ("penalty_sum", "罚款金额（万元） Penalties"),
    ("execution_rate", "执行率 Executed"),
    ("inspections", "现场检查（次） Inspections"),
    ("problems_found", "发现问题（次） Problems found"),
    ("problem_rate", "发现问题比例 Problem rate"),
)
#: The chart panels, by the id of their chart.
PANELS = (
    ("map", "下级区划案件分布 Cases by division"),
    ("month", "逐月趋势 By month"),
    ("industry", "行业分布（前十） By industry (top 10)"),
    ("problem", "问题类型 By problem type"),
)
