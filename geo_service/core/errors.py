"""The service's own errors: each has a ``code`` and says what was wrong. How they are
answered over HTTP is :mod:`geo_service.api.error_answers`."""

from __future__ import annotations


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
