"""The answers to 401 and 403: JSON for programs, a page with a way to sign in for people.

A browser that opens a page it may not see (a city's map without an account, a county
outside the account's jurisdiction) gets a page in Chinese with English beside it: what
happened, and a link to ``/login?next=<the page>`` (for 403: that the account's role or
jurisdiction does not cover it). Everything else — GDAL, QGIS, curl, the maps' own
``fetch`` calls, tiles loaded as images — keeps the JSON ``{"code", "description"}``.
Which one is chosen by the ``Accept`` header alone (:func:`prefers_html`): a page only
when ``text/html`` is preferred over ``application/json``, as browsers ask when they
navigate; ``*/*`` (curl, TestClient, Python's urllib) and image requests tie, and get
JSON. The status stays 401 or 403 either way, and ``Vary: Accept`` says it depends.

A browser whose log-in session ended is served as anonymous
(:func:`geo_service.api.dependencies.caller_of`); its 401 says the session ended and
clears the stale cookie.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import Request

from geo_service.access.policy import Caller
from geo_service.api.dependencies import SESSION_COOKIE, known_caller
from geo_service.api.pages import account_text, html_page, login_href, page_target

#: What a 401 of an ended session adds to its description.
SESSION_ENDED = (
    "登录已结束（已过期、已退出或账号已停用），请重新登录 "
    "(the log-in session has ended: expired, logged out or the account disabled; "
    "log in again)"
)
_HTML = "text/html"
_JSON = "application/json"


def _accept_q(ranges: list[tuple[str, float]], media: str) -> float:
    """The quality ``ranges`` give ``media``: the most specific range naming it wins
    (``type/sub`` over ``type/*`` over ``*/*``, RFC 9110 §12.5.1); 0 when none does."""
    kind = media.split("/")[0]
    best, found = -1, 0.0
    for name, q in ranges:
        rank = 2 if name == media else 1 if name == f"{kind}/*" else 0 if name == "*/*" else -1
        if rank > best:
            best, found = rank, q
    return found if best >= 0 else 0.0


def accept_ranges(header: str) -> list[tuple[str, float]]:
    """An ``Accept`` header as (media range, quality) pairs; a range whose ``q`` cannot be
    read counts as 0 (refused), not as 1."""
    ranges = []
    for part in header.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((name.lower(), q))
    return ranges


def prefers_html(request: Request) -> bool:
    """Whether a request asks for a page rather than JSON: a GET or HEAD whose ``Accept``
    prefers ``text/html`` to ``application/json`` (a browser's navigation). Without an
    ``Accept`` header, with ``*/*`` or with the two equal: JSON."""
    if request.method not in ("GET", "HEAD"):
        return False
    ranges = accept_ranges(request.headers.get("accept", "*/*"))
    return _accept_q(ranges, _HTML) > _accept_q(ranges, _JSON)


def refusal(request: Request, status: int, code: str, description: str) -> Response:
    """The answer to a 401 or 403: a page for browsers, else the JSON error body."""
    caller = known_caller(request) or Caller()
    ended = status == 401 and caller.session_ended
    headers = {"Vary": "Accept", "Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="geo-service"'
    response: Response
    if prefers_html(request):
        if status == 401:
            page = _unauthorised(request, description, ended)
        else:
            page = _forbidden(request, caller, description)
        response = HTMLResponse(page, status_code=status, headers=headers)
    else:
        shown = f"{description}; {SESSION_ENDED}" if ended else description
        body = {"code": code, "description": shown}
        response = JSONResponse(body, status_code=status, headers=headers)
    if ended:  # the stale cookie: once told, the browser is a plain visitor
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _actions(request: Request, sign_in: str) -> str:
    href = escape(login_href(page_target(request)))
    return (
        f'<p><a class="signin" href="{href}" target="_top">{sign_in}</a></p>'
        '<p><a href="/" target="_top">返回首页 Back to the landing page</a></p>'
    )


def _unauthorised(request: Request, description: str, ended: bool) -> str:
    note = f'<p class="note">{escape(SESSION_ENDED)}</p>' if ended else ""
    body = (
        "<h1>需要登录 Sign-in needed</h1>"
        f"{note}<p>此页面需要账号：请登录后查看。未登录时只提供省级汇总的公开视图。<br>"
        "This page needs an account: sign in to see it. Visitors get the public "
        "province-level view only.</p>"
        f"<p><span>原因 Reason: {escape(description)}</span></p>"
        f"{_actions(request, '登录 Sign in')}"
    )
    return html_page("需要登录 Sign-in needed · geo-service", body)


def _forbidden(request: Request, caller: Caller, description: str) -> str:
    engine = request.app.state.engine
    who = f"<p>当前账号 Signed in as: {account_text(engine, caller)}</p>"
    body = (
        "<h1>无权查看 Not permitted</h1>"
        f"{who if caller.authenticated else ''}"
        "<p>此页面超出当前账号的辖区或角色范围，无法查看。如需查看，请使用有权限的账号登录，"
        "或联系管理员。<br>This page is outside what the account's jurisdiction or role "
        "covers. Sign in with an account that covers it, or ask the administrator.</p>"
        f"<p><span>原因 Reason: {escape(description)}</span></p>"
        f"{_actions(request, '换一个账号登录 Sign in with another account')}"
    )
    return html_page("无权查看 Not permitted · geo-service", body)
