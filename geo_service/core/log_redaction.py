"""No secret reaches a log: API keys and tokens in logged URLs are redacted.

uvicorn's access log prints each request line with its query string; a key put in a URL
(``/login?api_key=…``, which the service refuses, or any other route) would be kept
there. :class:`RedactSecrets` is a logging filter that rewrites the values of secret
query parameters (``api_key=``, ``token=``, ``password=`` …) and anything shaped like a
service key (``gs_…``) or a Bearer token in a record's message and arguments;
:func:`server_log_config` is uvicorn's logging configuration with the filter on its
access and error handlers, which the service's own warnings and errors go through too
(``geo-service serve`` runs uvicorn with it).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

REDACTED = "[redacted]"
#: Query parameters whose value is a secret (matched case-insensitively).
SECRET_PARAMETERS = (
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "session",
    "password",
    "secret",
    "geo_session",
)
_PARAMETER = re.compile(
    r"(?i)(?P<name>(?:^|(?<=[?&;\s]))(?:" + "|".join(map(re.escape, SECRET_PARAMETERS)) + r")=)"
    r"[^&;\s\"']*"
)
#: A service API key (``gs_`` and 43 URL-safe characters) or a Bearer token anywhere.
_KEY = re.compile(r"\bgs_[A-Za-z0-9_-]{16,}")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """``text`` with secret values replaced by ``[redacted]``.

    Examples
    --------
    >>> redact("GET /login?next=/maps&api_key=gs_abcdefghijklmnopqrstuvwxyz HTTP/1.1")
    'GET /login?next=/maps&api_key=[redacted] HTTP/1.1'
    >>> redact("/collections/cases/items?sort_key=1&limit=5")
    '/collections/cases/items?sort_key=1&limit=5'
    """
    text = _PARAMETER.sub(lambda m: m["name"] + REDACTED, text)
    text = _KEY.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m[1] + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Redact secrets in every record a handler emits. The arguments are redacted one by
    one, so the record keeps its shape (uvicorn's access formatter reads them); when a
    secret is only visible in the formatted message (``"?api_key=%s"``), the message is
    redacted as a whole. The record is changed in place, for every handler after this."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: logging reports it itself
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def server_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with :class:`RedactSecrets` on its handlers
    (the access log's request lines and the error log alike)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    # the service's own warnings and errors go through the same handler (and filter)
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
