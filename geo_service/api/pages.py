"""Parts of the service's own HTML pages: the style, the account line and sign-in links.

The landing page, the log-in form and the 401/403 pages share them, so that a person
sees one look and one way to sign in, and so that the one rule for where a log-in may
lead back to (:func:`safe_next`: a path of this service, never another host) is kept
in one place.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlsplit

from sqlalchemy import Engine, select
from starlette.requests import HTTPConnection

from geo_service.access.policy import Caller
from geo_service.store.models import Jurisdiction

#: The roles as a clerk reads them (Chinese, then the role's name).
ROLE_NAMES = {
    "admin": "管理员 admin",
    "leader": "领导 leader",
    "planner": "计划编制 planner",
    "gis": "GIS 人员 gis",
    "inspector": "执法人员 inspector",
}
#: The mark of a link that needs an account, for anonymous visitors.
LOCK_MARK = '<span class="lock" title="需登录 sign-in needed">🔒 需登录 sign-in needed</span>'
#: The longest ``next`` a log-in follows (a page's path and query).
MAX_NEXT_CHARS = 2000
#: Where a log-in never leads back to: the log-in and log-out themselves.
_NOT_NEXT = ("/login", "/logout")

_FONTS = "/static/vendor/fonts/NotoSansSC"
#: The bundled CJK font, used where the system has none (an intranet PC without one).
STYLE = (
    f"@font-face{{font-family:'Noto Sans SC';src:url({_FONTS}-Regular.subset.ttf)}}"
    f"@font-face{{font-family:'Noto Sans SC';font-weight:bold;"
    f"src:url({_FONTS}-Bold.subset.ttf)}}"
    "body{font:14px/1.5 'Microsoft YaHei','PingFang SC','Noto Sans CJK SC','Noto Sans SC',"
    "sans-serif;"
    "margin:0 auto;max-width:1100px;padding:12px 20px;color:#222}"
    "h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:18px 0 6px}"
    "iframe{width:100%;height:480px;border:1px solid #ccc;border-radius:4px}"
    "ul{margin:4px 0;padding-left:20px}li span{color:#666;font-size:12px}"
    "table.dl{border-collapse:collapse}table.dl td,table.dl th{border:1px solid #ddd;"
    "padding:2px 8px;text-align:left}a{color:#1f5fa8}"
    ".account{float:right;font-size:13px;margin-top:10px}"
    ".account form{display:inline;margin:0 0 0 8px}"
    ".lock{color:#8a5a00;font-size:12px;white-space:nowrap}"
    ".note{background:#fff6e0;border:1px solid #e6c27a;border-radius:4px;padding:8px 12px}"
    ".signin{display:inline-block;background:#1f5fa8;color:#fff;padding:6px 16px;"
    "border-radius:4px;text-decoration:none;margin:8px 0}"
)


def safe_next(target: str | None) -> str:
    """Where a log-in may lead back to: a path of this service (with its query), else
    ``/``. Nothing that a browser could read as another host: no ``//`` or ``\\`` start,
    no scheme, no control characters or spaces (browsers drop tabs and newlines, which
    would turn ``/\\t/host`` into ``//host``), nothing longer than
    :data:`MAX_NEXT_CHARS`; never ``/login`` or ``/logout`` themselves.

    Examples
    --------
    >>> safe_next("/maps/hexagons?jurisdiction=450100")
    '/maps/hexagons?jurisdiction=450100'
    >>> [safe_next(t) for t in ("//evil.example", "https://evil.example", "/\\t/evil")]
    ['/', '/', '/']
    """
    if not target or len(target) > MAX_NEXT_CHARS or not target.startswith("/"):
        return "/"
    if target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in _NOT_NEXT:
        return "/"
    return target


def page_target(request: HTTPConnection) -> str:
    """The path and query of a request: where a log-in should lead back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def login_href(target: str) -> str:
    """The log-in form's address, leading back to ``target`` (a path of this service)."""
    return "/login?next=" + quote(safe_next(target), safe="/")


def jurisdiction_name(engine: Engine, adcode: str | None) -> str:
    """A division's name (empty when unknown): one indexed lookup."""
    if not adcode:
        return ""
    with engine.connect() as conn:
        name = conn.execute(select(Jurisdiction.name).where(Jurisdiction.adcode == adcode)).scalar()
    return str(name) if name else ""


def account_text(engine: Engine, caller: Caller) -> str:
    """An account as a line of HTML: name, role, jurisdiction's name and adcode."""
    role = ROLE_NAMES.get(caller.role or "", caller.role or "")
    place = f"{jurisdiction_name(engine, caller.jurisdiction)} {caller.jurisdiction}".strip()
    return f"<b>{escape(caller.name)}</b> · {escape(role)} · 辖区 jurisdiction {escape(place)}"


def account_bar(engine: Engine, caller: Caller, target: str) -> str:
    """The corner of a page: the signed-in account and a sign-out button, or a sign-in
    link leading back to ``target``."""
    if not caller.authenticated:
        href = escape(login_href(target))
        return f'<div class="account"><a href="{href}">登录 Sign in</a></div>'
    return (
        f'<div class="account">已登录 Signed in: {account_text(engine, caller)}'
        '<form method="post" action="/logout"><button type="submit">退出 Sign out</button>'
        "</form></div>"
    )


def html_page(title: str, body: str) -> str:
    """A whole page of the service: Chinese first, the shared style, the favicon."""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="/static/maps/favicon.svg">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
