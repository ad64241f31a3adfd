"""How errors are answered over HTTP: the one table from error class to status.

Only the service's own errors (:mod:`geo_service.core.errors`), the analytics' and the
deliverables' (a request the data or the format cannot answer), request validation and
routing are 4xx; anything else is a fault, answered by :mod:`geo_service.api.unexpected`.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from analytics.errors import AnalyticsError
from geo_service.core.errors import (
    AuthenticationRequiredError,
    BadFilterError,
    BadTileError,
    ConflictError,
    ForbiddenError,
    InputFileError,
    NotFoundError,
    QueryTooLongError,
    RateLimitedError,
    RequestTooLargeError,
    StoreNotReadyError,
    StoreUnavailableError,
    UnknownLayerError,
)
from layers.errors import LayerError

#: Exception class → HTTP status. The only place errors meet HTTP codes.
HTTP_STATUS: dict[type[Exception], int] = {
    RequestValidationError: 400,  # a query or path parameter of the wrong type or range
    BadFilterError: 400,
    InputFileError: 400,
    AnalyticsError: 400,  # the request asks what the data cannot give: a draw not staffed
    LayerError: 400,  # a format the layer has not
    BadTileError: 400,
    AuthenticationRequiredError: 401,
    ForbiddenError: 403,
    ConflictError: 409,
    UnknownLayerError: 404,
    NotFoundError: 404,
    RequestTooLargeError: 413,
    QueryTooLongError: 414,
    RateLimitedError: 429,
    StoreNotReadyError: 503,
    StoreUnavailableError: 503,
    OperationalError: 503,  # the driver's: answered as StoreUnavailableError
    HTTPException: 404,  # from routing: no route for the path (a 405 keeps its own status)
}


def describe(exc: Exception) -> tuple[str, str]:
    """The ``code`` and ``description`` of an error's JSON body."""
    if isinstance(exc, RequestValidationError):
        reasons = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return "bad_parameter", "; ".join(reasons)
    if isinstance(exc, HTTPException):  # not_found, method_not_allowed …
        return _phrase(exc.status_code).lower().replace(" ", "_"), str(exc.detail)
    if isinstance(exc, OperationalError):  # no SQL, host or path of the store in the answer
        return StoreUnavailableError.code, StoreUnavailableError.message
    return str(getattr(exc, "code", type(exc).__name__)), str(exc)


def http_status_for(exc: Exception) -> int:
    """Return the HTTP status for an exception, most specific class first (500 if none)."""
    if isinstance(exc, HTTPException):
        return exc.status_code
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"
