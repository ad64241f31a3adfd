"""Errors of the service layer; the HTTP mapping of every error lives in one table here."""

from __future__ import annotations

from http import HTTPStatus

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException


class ServiceError(Exception):
    """Base class of errors raised by geo_service."""

    code = "service_error"


class InputFileError(ServiceError, ValueError):
    """An input file cannot be read at all (format, encoding, header)."""

    code = "bad_input_file"


class StoreNotReadyError(ServiceError):
    """The store has not been initialised (run ``geo-service init``)."""

    code = "store_not_ready"


class StoreUnavailableError(ServiceError):
    """The store cannot be reached or opened (server down, file gone); a retry may succeed.

    The driver's :class:`sqlalchemy.exc.OperationalError` (connection refused or lost,
    ``unable to open database file``, ``database is locked``) is answered as this error.
    """

    code = "store_unavailable"
    message = "the store cannot be reached or opened right now; try again shortly"


class BadFilterError(ServiceError, ValueError):
    """A filter (jurisdiction, industry, period, dates) cannot be understood."""

    code = "bad_filter"


class UnknownLayerError(ServiceError, LookupError):
    """A layer name that does not exist."""

    code = "unknown_layer"


class NotFoundError(ServiceError, LookupError):
    """A thing asked for by path that does not exist (a feature, a tile beyond the data)."""

    code = "not_found"


class BadTileError(ServiceError, ValueError):
    """Tile coordinates that cannot exist (x or y outside 0 … 2^z − 1, a negative zoom)."""

    code = "bad_tile"


class AuthenticationRequiredError(ServiceError):
    """No valid credentials where an account is needed (point records, admin routes)."""

    code = "authentication_required"


class ForbiddenError(ServiceError):
    """An account asking for what its role or jurisdiction does not cover."""

    code = "forbidden"


class ConflictError(ServiceError):
    """What is asked for clashes with what is stored (another draw under the same id)."""

    code = "conflict"


class RequestTooLargeError(ServiceError):
    """A request body larger than the service accepts (``max_body_bytes``)."""

    code = "request_too_large"


class QueryTooLongError(ServiceError):
    """A query string longer than the service reads (``max_query_chars``)."""

    code = "query_too_long"


class RateLimitedError(ServiceError):
    """Too many requests from one API key or address (``rate_limit_per_minute``)."""

    code = "rate_limited"


#: Exception class → HTTP status. The only place errors meet HTTP codes.
HTTP_STATUS: dict[type[Exception], int] = {
    RequestValidationError: 400,  # a query or path parameter of the wrong type or range
    BadFilterError: 400,
    InputFileError: 400,
    ValueError: 400,  # analytics' errors among them: a draw that cannot be made or staffed
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
