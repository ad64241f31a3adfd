"""Figures as a briefing prints them: values with their unit, and changes against the
period before and a year before (a rate's in percentage points)."""

from __future__ import annotations

from layers.briefing.content import Figure


def value_text(value: float | None, unit: str) -> str:
    """A value as printed: counts whole, yuan to the fen, rates as percentages.

    Examples
    --------
    >>> value_text(1234567.5, "元"), value_text(0.625, "%"), value_text(42, "件")
    ('1,234,567.50 元', '62.50%', '42 件')
    >>> value_text(None, "%")
    '—'
    """
    if value is None:
        return "—"
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit == "元":
        return f"{value:,.2f} 元"
    return f"{round(value):,} {unit}"


def change_text(value: float | None, base: float | None, unit: str) -> str:
    """The change from ``base`` to ``value``: a rate's in percentage points, else the
    difference and its share of ``base``.

    Examples
    --------
    >>> change_text(110, 100, "件"), change_text(0.5, 0.625, "%")
    ('+10 件（+10.0%）', '-12.50 个百分点')
    >>> change_text(3, 0, "件")
    '+3 件（基数为 0）'
    """
    if value is None or base is None:
        return "—"
    diff = value - base
    if unit == "%":
        return f"{diff * 100:+.2f} 个百分点"
    shown = f"{diff:+,.2f} 元" if unit == "元" else f"{round(diff):+,} {unit}"
    if base == 0:
        return f"{shown}（基数为 0）"
    return f"{shown}（{diff / base * 100:+.1f}%）"


def figure_row(figure: Figure) -> tuple[str, str, str, str]:
    """A headline figure's cells: label, value, change on the period before, on a year
    before."""
    return (
        figure.label_zh,
        value_text(figure.value, figure.unit),
        change_text(figure.value, figure.previous, figure.unit),
        change_text(figure.value, figure.year_ago, figure.unit),
    )


def share_text(share: float | None) -> str:
    """A share as a percentage with one decimal (— without one)."""
    return "—" if share is None else f"{share * 100:.1f}%"
