"""What the printable reports share: the frame of a Chinese page, and a workbook's bytes.

The draw record, the enterprise file and the data-quality report are each one page
with its style inline (nothing from the network) and one workbook.
"""

from __future__ import annotations

import html
import io

from openpyxl import Workbook


def printable_page(title: str, css: str, body: str) -> str:
    """A whole HTML page (``zh-CN``, UTF-8) titled ``title`` (escaped here) around ``body``."""
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def workbook_bytes(book: Workbook) -> bytes:
    """The workbook as an XLSX file's bytes."""
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
