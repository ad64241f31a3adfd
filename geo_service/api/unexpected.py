"""The answer to an error nobody expected: a logged 500 with an opaque id, no raw message.

The service's own errors are answered by the one error table (:mod:`geo_service.core.errors`);
anything else is a fault of the service. Its traceback goes to the log under a random
id, and the caller gets that id to quote, never the exception's text (which may hold
SQL, paths or data of another jurisdiction).
"""

from __future__ import annotations

import logging
import secrets

from fastapi import Request
from fastapi.responses import JSONResponse

LOG = logging.getLogger("geo_service.core.errors")


def error_id() -> str:
    """A fresh id to find one failure in the log by (64 random bits, hexadecimal)."""
    return secrets.token_hex(8)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Log ``exc`` with its traceback under a new id; answer 500 with the id alone."""
    ident = error_id()
    LOG.error("internal error %s on %s %s", ident, request.method, request.url.path, exc_info=exc)
    body = {
        "code": "internal_error",
        "description": f"服务器内部错误，请将编号 {ident} 告知管理员 "
        f"(internal error: quote id {ident} to the administrator)",
        "id": ident,
    }
    return JSONResponse(body, status_code=500)
