"""The briefing as an A4 PDF (fpdf2: pure Python), set in the bundled Noto Sans SC, which
is embedded (subset) in the file: a reader needs no Chinese font of its own."""

from __future__ import annotations

import io

from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from fpdf.fonts import FontFace

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

_SIZES = {0: 16, 1: 12.5}
_GREY = (110, 110, 110)
#: The room a section needs below its heading, else it starts on a new page.
KEEP_WITH_HEADING_MM = 60


def _document(brief: Brief, fonts: BriefFonts) -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(16, 14, 16)
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_font(FAMILY, "", str(fonts.regular))
    pdf.add_font(FAMILY, "B", str(fonts.bold))
    pdf.set_title(brief.title)
    pdf.set_lang("zh-CN")
    pdf.set_creator("geo-service")
    pdf.add_page()
    return pdf


def _text(
    pdf: FPDF, text: str, size: float, style: str = "", colour: tuple[int, ...] = (0, 0, 0)
) -> None:
    pdf.set_font(FAMILY, style, size)
    pdf.set_text_color(*colour)
    pdf.multi_cell(0, size * 0.5, text, wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)


def _table(pdf: FPDF, table: Table) -> None:
    pdf.set_font(FAMILY, "", 8)
    with pdf.table(
        col_widths=table.widths,
        line_height=4.2,
        wrapmode=WrapMode.CHAR,
        text_align="LEFT",
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
        padding=0.8,
    ) as grid:
        for cells in (table.header, *table.rows):
            row = grid.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(1.5)


def _block(pdf: FPDF, block: Block) -> None:
    if isinstance(block, Heading):
        if block.level and pdf.will_page_break(KEEP_WITH_HEADING_MM):
            pdf.add_page()  # a section's heading stays with what follows it
        elif block.level:
            pdf.ln(2)
        _text(pdf, block.text, _SIZES.get(block.level, 11), "B")
        pdf.ln(1)
    elif isinstance(block, Paragraph):
        _text(pdf, block.text, 9.5)
        pdf.ln(0.8)
    elif isinstance(block, SourceLine):
        _text(pdf, block.text, 6.5, colour=_GREY)
        pdf.ln(0.8)
    elif isinstance(block, Table):
        _table(pdf, block)
    else:
        _picture(pdf, block)


def _picture(pdf: FPDF, picture: Picture) -> None:
    width = pdf.epw * 0.92
    pdf.image(
        io.BytesIO(picture.png),
        x=pdf.l_margin + (pdf.epw - width) / 2,
        w=width,
        alt_text=picture.alt,
    )
    _text(pdf, picture.caption, 8, colour=_GREY)


def brief_to_pdf(brief: Brief, fonts: BriefFonts) -> bytes:
    """The briefing's PDF bytes."""
    pdf = _document(brief, fonts)
    for block in brief_blocks(brief, fonts):
        _block(pdf, block)
    return bytes(pdf.output())
