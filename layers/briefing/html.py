"""The briefing as one printable HTML page: the same blocks as the PDF, its maps and chart
inline (PNG data), its style inline, no external asset. The text asks for the bundled
font as the service serves it (``/static/vendor/fonts``)."""

from __future__ import annotations

import base64
import html
import re

from layers.briefing.content import Brief
from layers.briefing.document import (
    Block,
    Heading,
    Paragraph,
    Picture,
    SourceLine,
    Table,
    brief_blocks,
)
from layers.briefing.fonts import FAMILY, BriefFonts
from layers.offline import check_offline
from layers.printable import printable_page

#: A picture's inline data (base64 holds "//", which is no address).
_INLINE_PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
FONT_URL = "/static/vendor/fonts/NotoSansSC-{}.subset.ttf"
_CSS = (
    "@font-face{{font-family:'{family}';src:url('{regular}') format('truetype');}}"
    "@font-face{{font-family:'{family}';font-weight:bold;"
    "src:url('{bold}') format('truetype');}}"
    "body{{font-family:'{family}',sans-serif;max-width:52em;margin:1.5em auto;"
    "color:#111;font-size:14px;line-height:1.6}}"
    "h1{{font-size:1.5em}}h2{{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.4em}}"
    "table{{border-collapse:collapse;width:100%;font-size:0.85em;margin:.4em 0}}"
    "th,td{{border:1px solid #bbb;padding:.2em .4em;text-align:left;vertical-align:top}}"
    "th{{background:#eee}}figure{{margin:.6em 0;text-align:center}}img{{max-width:100%}}"
    "figcaption,.source{{color:#666;font-size:.8em;word-break:break-all}}"
    "@media print{{body{{max-width:none}}h2{{break-after:avoid}}figure{{break-inside:avoid}}}}"
).format(family=FAMILY, regular=FONT_URL.format("Regular"), bold=FONT_URL.format("Bold"))


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        tag = "h1" if block.level == 0 else "h2"
        return f"<{tag}>{html.escape(block.text)}</{tag}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, SourceLine):
        return f'<p class="source">{html.escape(block.text)}</p>'
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(c)}</th>" for c in block.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return _picture(block)


def _picture(picture: Picture) -> str:
    data = base64.b64encode(picture.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(picture.alt)}">'
        f"<figcaption>{html.escape(picture.caption)}</figcaption></figure>"
    )


def brief_to_html(brief: Brief, fonts: BriefFonts) -> str:
    """The briefing's page."""
    body = "\n".join(_block(b) for b in brief_blocks(brief, fonts))
    page = printable_page(brief.title, _CSS, body)
    check_offline(_INLINE_PNG.sub("data:", page))  # nothing from outside the service
    return page
