"""HTTP range requests (RFC 9110 §14) of a body made in memory: one range, or the whole.

GDAL's ``/vsicurl/`` reads a remote file by ranges and gives up on a server that answers
a range with the whole file; QGIS signs ``/vsicurl/`` URLs only (not
``/vsicurl_streaming/``) with an authentication configuration. So a file GDAL reads
over HTTP, the KDE GeoTIFF of the QGIS project, is answered by ranges.
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse, Response

_SINGLE = re.compile(r"bytes=(\d*)-(\d*)")


def ranged(
    data: bytes, range_header: str | None, media_type: str, headers: dict[str, str]
) -> Response:
    """``data`` whole (200), or the one byte range ``range_header`` asks for (206).

    A header that is not one ``bytes=`` range (several ranges, another unit, junk) is
    ignored, as RFC 9110 allows: the whole body is sent. A range starting beyond the
    end is a 416 with the JSON error body.
    """
    headers = {**headers, "Accept-Ranges": "bytes"}
    match = _SINGLE.fullmatch((range_header or "").strip())
    if match is None or match.group(1) == match.group(2) == "":
        return Response(data, media_type=media_type, headers=headers)
    size = len(data)
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:  # invalid: ignored
            return Response(data, media_type=media_type, headers=headers)
    if start >= size or size == 0:
        body = {
            "code": "range_not_satisfiable",
            "description": f"请求的字节范围超出文件大小 (the range starts beyond the {size} bytes)",
        }
        return JSONResponse(body, status_code=416, headers={"Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start : end + 1], status_code=206, media_type=media_type, headers=headers)
