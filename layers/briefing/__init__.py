"""The periodic enforcement briefing (执法态势简报): its content as typed records, its maps
and chart drawn offline, laid out as a PDF (fonts embedded) and as a printable page.

The geo_service side gathers the figures from the ledgers, layers, draws and the
data-quality report (``geo_service/api/brief_content.py``); nothing here reads a store.
"""

from layers.briefing.content import Brief
from layers.briefing.fonts import BriefFonts
from layers.briefing.html import brief_to_html
from layers.briefing.pdf import brief_to_pdf
from layers.briefing.periods import BriefPeriod, BriefPeriodError

__all__ = [
    "Brief",
    "BriefFonts",
    "BriefPeriod",
    "BriefPeriodError",
    "brief_to_html",
    "brief_to_pdf",
]
