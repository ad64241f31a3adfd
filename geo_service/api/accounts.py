"""Browser log-in (a session cookie for the maps and the tiles they load) and the audit log."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from geo_service.access.audit import AuditLog
from geo_service.access.policy import authenticate, read_audit, require_role
from geo_service.access.sessions import SESSION_TTL, end_session, start_session
from geo_service.api.dependencies import (
    SESSION_COOKIE,
    Caller,
    get_audit_log,
    get_caller,
    get_engine,
)
from geo_service.api.pages import html_page, safe_next
from geo_service.core.errors import AuthenticationRequiredError

router = APIRouter()
_FORM = (
    "<h1>登录 Sign in</h1>{error}"
    '<form method="post" action="/login"><input type="hidden" name="next" value="{next}">'
    '<label>API 密钥 API key <input name="api_key" type="password" size="50" autofocus>'
    '</label> <button type="submit">登录 Sign in</button></form>'
    "<p><span>登录后返回 After signing in: <code>{next}</code></span></p>"
)
#: The answer to a key no active account has.
_WRONG_KEY = (
    '<p style="color:#b00">密钥无效或账号已停用，请检查后重试。 '
    "The key is not valid (unknown, or its account disabled).</p>"
)


def _form(target: str | None, error: str = "", status: int = 200) -> HTMLResponse:
    """The log-in form, leading back to ``target`` once signed in (a path of this
    service: :func:`~geo_service.api.pages.safe_next`)."""
    body = _FORM.format(error=error, next=escape(safe_next(target)))
    return HTMLResponse(html_page("登录 Sign in · geo-service", body), status)


#: The answer to a key in the address: refused, and the key treated as seen.
_KEY_IN_URL = (
    '<p style="color:#b00">密钥只能通过表单提交，不能写在网址里；'
    "网址会留在服务器日志和浏览器历史中，如密钥可能已被他人看到，请更换。 "
    "The key is taken by this form only (POST), never in the address: addresses stay "
    "in server logs and browser history. If the key may have been seen, ask for a new "
    "one.</p>"
)


def _logged_in(request: Request, engine: Engine, key: str, target: str | None) -> Response:
    """Check the key (the form again with a 401 if wrong) and start a session: the
    cookie carries its token."""
    address = request.client.host if request.client else None
    try:
        token = start_session(engine, authenticate(engine, key, address))
    except AuthenticationRequiredError:
        return _form(target, _WRONG_KEY, 401)
    response = RedirectResponse(safe_next(target), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
    )
    return response


@router.get("/login", operation_id="login", response_class=HTMLResponse, response_model=None)
def login(
    request: Request,
    next: str | None = Query(None, description="where to go after logging in (a path)"),
) -> Response:
    """The log-in form, which posts the key to ``POST /login``; ``next`` is where it
    leads back to, a path of this service only (anything else, another host included,
    leads to ``/``). A key in the address (``?api_key=``) is refused with the form
    (400), never echoed: keys are not taken in URLs, which servers log and browsers
    keep."""
    if "api_key" in request.query_params:
        return _form(next, _KEY_IN_URL, 400)
    return _form(next)


@router.post("/login", operation_id="login_form", response_class=HTMLResponse, response_model=None)
async def login_form(request: Request, engine: Engine = Depends(get_engine)) -> Response:
    """The log-in form's answer (``application/x-www-form-urlencoded``): start a session
    (an HttpOnly cookie) and go to ``next`` (a path of this service, else ``/``); a
    wrong key answers the form again with a 401."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (fields.get("api_key") or [""])[0]
    target = (fields.get("next") or ["/"])[0]
    if not key:
        return _form(target, '<p style="color:#b00">请输入密钥 Enter a key</p>', 400)
    # a worker thread: starting a session writes to the store
    return await run_in_threadpool(_logged_in, request, engine, key, target)


def _logged_out(request: Request, engine: Engine) -> Response:
    end_session(engine, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/logout", operation_id="logout_post", response_class=Response)
def logout_post(request: Request, engine: Engine = Depends(get_engine)) -> Response:
    """End the session: revoked in the store (the cookie no longer works anywhere), and
    the cookie cleared."""
    return _logged_out(request, engine)


@router.get("/logout", operation_id="logout", response_class=Response)
def logout(request: Request, engine: Engine = Depends(get_engine)) -> Response:
    """As ``POST /logout``, for links (the maps' 退出 link)."""
    return _logged_out(request, engine)


@router.get("/audit", operation_id="audit_log")
def audit_log(
    account: str | None = Query(None, description="only this account's entries"),
    since: dt.datetime | None = Query(None, description="only entries from this time on"),
    limit: int = Query(1000, ge=1, le=10_000),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    writer: AuditLog = Depends(get_audit_log),
) -> dict[str, Any]:
    """Who read which point records and who ran which draw (admins only), newest first:
    the entries of the accounts within the admin's jurisdiction.

    Entries still waiting for the store (an ingest holds SQLite's write lock) are
    written first, for up to 10 s; the answer says how many are still waiting."""
    require_role(caller, "admin")
    writer.flush(timeout=10)
    entries = read_audit(engine, reader=caller, account=account, since=since, limit=limit)
    return {"entries": entries, "pending": writer.pending()}
