"""The briefing as a sequence of blocks (headings, paragraphs, tables, pictures, sources),
in the order a bureau leader reads it; :mod:`layers.briefing.pdf` and
:mod:`layers.briefing.html` each lay the same blocks out, so the two never differ."""

from __future__ import annotations

import json
from dataclasses import dataclass

from layers.briefing.charts import density_map_png, hotspot_map_png, problem_type_chart_png
from layers.briefing.content import Brief, Figure, Source
from layers.briefing.fonts import BriefFonts
from layers.briefing.text import figure_row, share_text

_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1  # 0: the title


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[int, ...]  # relative column widths


@dataclass(frozen=True)
class Picture:
    png: bytes
    caption: str
    alt: str


@dataclass(frozen=True)
class SourceLine:
    """Where the figures above come from: ``GET`` and the request."""

    text: str


Block = Heading | Paragraph | Table | Picture | SourceLine


def _source(*sources: Source) -> SourceLine:
    return SourceLine("来源 source：" + "；".join(f"GET {s.url}" for s in sources))


def _headline(brief: Brief) -> list[Block]:
    previous, year_ago = brief.period.previous(), brief.period.year_before()
    header = ("指标", f"本期 {brief.period}", f"较上期 {previous}", f"同比 {year_ago}", "注")
    rows = tuple((*figure_row(f), f"[{i}]") for i, f in enumerate(brief.figures, start=1))
    return [Table(header, rows, (26, 24, 24, 24, 8))]


def _changes(brief: Brief) -> list[Block]:
    blocks: list[Block] = [
        Paragraph(
            f"时空热点分析（新兴热点，{brief.changes_window}）：截至本期末新增、加强、减弱的热点，"
            "按所在地区列出。"
        )
    ]
    if brief.changes:
        rows = tuple((c.label_zh, c.place, str(c.cells)) for c in brief.changes)
        blocks.append(Table(("变化", "地区", "H3 网格数"), rows, (30, 40, 30)))
    else:
        blocks.append(Paragraph("窗口内未见新增、加强或减弱的热点。"))
    return [*blocks, _source(brief.changes_source)]


def _problem_types(brief: Brief, fonts: BriefFonts) -> list[Block]:
    if not brief.problem_types:
        return [Paragraph("本期无已分类的案件。"), _source(brief.problem_types_source)]
    rows = tuple((r.label, str(r.cases), str(r.previous)) for r in brief.problem_types)
    chart = problem_type_chart_png(brief.problem_types, fonts)
    return [
        Picture(chart, "主要问题类型：本期与上期案件数", "主要问题类型柱状图"),
        Table(("问题类型", "本期案件数", "上期案件数"), rows, (64, 18, 18)),
        _source(brief.problem_types_source),
    ]


def _commonalities(brief: Brief) -> list[Block]:
    if brief.common:
        common = "；".join(
            f"{c.label}（占 {share_text(c.share)}，各地 {share_text(c.share_min)}–"
            f"{share_text(c.share_max)}）"
            for c in brief.common
        )
        blocks: list[Block] = [Paragraph(f"各地共有的问题类型：{common}。")]
    else:
        blocks = [Paragraph("各地共有的问题类型：无（检验的地区不足或无共同类型）。")]
    rows = tuple(
        (
            d.place,
            str(d.records),
            d.dominant or "—",
            d.distinctive if d.tested else "记录不足 30 条，未检验",
        )
        for d in brief.differences
    )
    if rows:
        blocks.append(
            Table(
                ("地区", "已分类记录", "最多的问题类型", "突出问题（显著偏多）"),
                rows,
                (14, 12, 37, 37),
            )
        )
    return [*blocks, _source(brief.commonalities_source)]


def _priorities(brief: Brief) -> list[Block]:
    blocks: list[Block] = []
    if brief.priority_areas:
        rows = tuple(
            (
                str(a.rank),
                a.place,
                str(a.cells),
                f"{a.score:.3f}",
                f"{a.expected_findings:.1f}",
                a.reasons_zh,
                "、".join(a.enterprises),
            )
            for a in brief.priority_areas
        )
        header = ("排名", "地区", "网格", "风险分", "预期发现问题", "主要原因", "重点企业")
        blocks.append(Table(header, rows, (7, 12, 7, 9, 11, 22, 32)))
    else:
        blocks.append(Paragraph("本期未划出重点区域。"))
    blocks.append(_source(brief.priority_source))
    draw = brief.draw
    if draw is None:
        blocks.append(Paragraph("双随机抽查：辖区内尚无抽查记录。"))
    else:
        blocks.append(
            Paragraph(
                f"最近一次双随机抽查：{draw.quarter}（{draw.place}），抽取企业 {draw.selected} 家，"
                f"于 {draw.created_at} 生成，数据版本 {draw.data_version}，编号 {draw.draw_id}。"
            )
        )
    return [*blocks, _source(brief.draw_source)]


def _quality(brief: Brief) -> list[Block]:
    rows = tuple(
        (q.kind_zh, str(q.records), share_text(q.placed_precisely), share_text(q.link_rate))
        for q in brief.quality
    )
    return [
        Paragraph("辖区内全部记录（不限本期）的定位与关联情况："),
        Table(("记录", "记录数", "精确定位比例", "关联一源一档比例"), rows, (25, 25, 25, 25)),
        _source(brief.quality_source),
    ]


def _notes(brief: Brief) -> list[Block]:
    blocks: list[Block] = []
    for i, figure in enumerate(brief.figures, start=1):
        blocks.append(Paragraph(f"[{i}] {figure.label_zh}（列 {figure.key}）"))
        blocks.append(_source(figure.source, figure.previous_source, figure.year_ago_source))
    blocks.append(
        Paragraph(f"数据版本 data version：{brief.data_version}；生成时间 {brief.generated_at}")
    )
    for layer, provenance in brief.parameters.items():
        text = json.dumps(provenance, ensure_ascii=False, sort_keys=True, default=str)
        blocks.append(SourceLine(f"{layer}: {text}"))
    return blocks


def brief_blocks(brief: Brief, fonts: BriefFonts) -> list[Block]:
    """The briefing's blocks, its maps and chart drawn (PNG) in the bundled font."""
    start, end = brief.period.bounds()
    sections: list[tuple[str, list[Block]]] = [
        ("主要指标", _headline(brief)),
        (
            "案件密度",
            [
                Picture(
                    density_map_png(brief.maps, fonts), "案件核密度（件/平方公里）", "案件密度图"
                ),
                _source(brief.density_source),
            ],
        ),
        (
            "热点分布",
            [
                Picture(
                    hotspot_map_png(brief.maps, fonts), "案件热点（Gi*，FDR 校正）", "热点分布图"
                ),
                _source(brief.hotspot_source),
            ],
        ),
        ("热点变化", _changes(brief)),
        ("主要问题类型", _problem_types(brief, fonts)),
        ("共性与差异", _commonalities(brief)),
        ("重点区域与双随机抽查", _priorities(brief)),
        ("数据质量", _quality(brief)),
        ("数据来源与参数", _notes(brief)),
    ]
    blocks: list[Block] = [
        Heading(brief.title, 0),
        Paragraph(
            f"辖区：{brief.jurisdiction_name}（{brief.jurisdiction}）；时段：{brief.period.label_zh}"
            f"（{start.isoformat()} 至 {end.isoformat()}）；数据版本 {brief.data_version}；"
            f"生成于 {brief.generated_at}。各数字的来源接口见其后或“数据来源与参数”。"
        ),
    ]
    for number, (title, content) in enumerate(sections):
        blocks.append(Heading(f"{_NUMERALS[number]}、{title}"))
        blocks.extend(content)
    return blocks


def figure_by_key(brief: Brief, key: str) -> Figure:
    """The headline figure of a ledger column (``cases``, ``penalty_sum`` …)."""
    return next(f for f in brief.figures if f.key == key)
