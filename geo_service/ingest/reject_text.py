"""What each reject means, in Chinese, under the file's own headers.

The store and the rejects file keep ``reason`` (a code) and ``detail`` (English, naming
the service's columns): programs and tests read those. A clerk reads the ``原因说明``
column this module writes beside them: the same verdict in Chinese, naming the columns
as the clerk's file heads them (「处罚决定日期」, not ``decision_date``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from analytics.coords import CRS_NAMES

#: The column of the rejects file that explains each row in Chinese.
EXPLANATION_COLUMN = "原因说明"

Headers = Mapping[str, str]  # the service's column name → the file's header for it


def _h(headers: Headers, column: str) -> str:
    return f"「{headers.get(column, column)}」"


def _coordinates(detail: str, headers: Headers) -> str:
    both = f"{_h(headers, 'lon')}{_h(headers, 'lat')}"
    if detail.startswith("only one of"):
        return f"{both}只填了一个，经度和纬度须同时填写"
    if detail.startswith("lon/lat not numbers"):
        return f"{both}不是数字"
    if detail.startswith("lon/lat outside China"):
        return f"{both}不在中国境内（经纬度是否填反，或坐标系是否写错）"
    if detail.startswith("outside the service area"):
        return f"{both}不在本服务已载入的行政区划内"
    system = re.match(r"unknown coordinate system '(.*)'", detail)
    if system:
        return f"坐标系「{system[1]}」无法识别，可填：{'、'.join(CRS_NAMES)}"
    return f"{both}有误"


#: reason → how to say it: a fixed text, or a function of the English detail's column
#: (its first word) and the headers.
_BY_COLUMN: dict[str, str] = {
    "missing_required": "{h}为空，此项必填",
    "bad_date": "{h}不是 1990 年至今的有效日期（如 2024-05-31）",
    "bad_amount": "{h}不是非负的金额（如 20000 或 2万）",
    "bad_number": "{h}不是数字",
    "bad_value": "{h}须填 是/否（在岗/离岗）",
}


def _malformed(detail: str, headers: Headers) -> str:
    found = re.match(r"(\d+) fields, expected (\d+)", detail)
    if not found:
        return "本行的列数与表头不符"
    return (
        f"本行有 {found[1]} 列，表头有 {found[2]} 列"
        "（单元格里的逗号或换行是否未加引号，或行尾多了分隔符）"
    )


def _duplicate(detail: str, headers: Headers) -> str:
    found = re.search(r"row (\d+)", detail)
    where = f"第 {found[1]} 行" if found else "文件中的另一行"
    return f"编号与{where}重复，只收第一次出现的行"


def _unlocatable(detail: str, headers: Headers) -> str:
    if "（" in detail:  # several register entries: the detail says which, in Chinese
        return detail.split(" (", 1)[0]
    return "无法定位：没有坐标，名录中找不到该单位，地址中也没有可识别的行政区划"


def _credit_code(detail: str, headers: Headers) -> str:
    if detail.startswith("excluded_credit_codes"):
        return f"{_h(headers, 'excluded_credit_codes')}中有不是 18 位统一社会信用代码的值"
    what = "校验位错误" if "check character" in detail else "不是 18 位代码"
    return f"{_h(headers, 'credit_code')}校验不通过（GB 32100：{what}）"


def _outside(detail: str, headers: Headers) -> str:
    if re.match(r"[\u4e00-\u9fff]", detail):
        return detail.split(" (", 1)[0]
    found = re.search(r"outside (\d+)", detail)
    return f"位置在上传账号的辖区 {found[1] if found else ''} 之外".replace("  ", " ")


def _not_a_point(detail: str, headers: Headers) -> str:
    kind = detail.split(" ", 1)[0]
    return f"几何是 {kind}，不是点；如需取其内部一点，导入时加 --centroids"


def _unknown_adcode(detail: str, headers: Headers) -> str:
    found = re.search(r"adcode (\S+)", detail)
    code = found[1] if found else ""
    return f"{_h(headers, 'adcode')} {code} 不是已载入的行政区划代码"


_BY_DETAIL: dict[str, Callable[[str, Headers], str]] = {
    "malformed_row": _malformed,
    "duplicate_id": _duplicate,
    "bad_coordinates": _coordinates,
    "unlocatable": _unlocatable,
    "bad_credit_code": _credit_code,
    "outside_jurisdiction": _outside,
    "not_a_point": _not_a_point,
    "unknown_adcode": _unknown_adcode,
}


def explain(reason: str, detail: str | None, headers: Headers) -> str:
    """The reject in Chinese, naming the file's own headers.

    >>> explain("bad_date", "decision_date is not a date in 1990–today",
    ...         {"decision_date": "处罚决定日期"})
    '「处罚决定日期」不是 1990 年至今的有效日期（如 2024-05-31）'
    """
    detail = detail or ""
    if reason in _BY_COLUMN:
        column = detail.split(" ", 1)[0] if detail else ""
        return _BY_COLUMN[reason].format(h=_h(headers, column))
    if reason in _BY_DETAIL:
        return _BY_DETAIL[reason](detail, headers)
    return "见 detail 列 (see the detail column)"
