"""Why a layer could not be built from the data: a reason in Chinese and English.

A build on thin or partial data (a few cases, no register, one county) skips the
layers the data cannot carry and builds the rest. Only errors that say the data or the
filters cannot give the layer are skipped; a broken store or a bug still stops the build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analytics.clusters import ClusterError
from analytics.commonalities import CommonalityError
from analytics.density import DensityError
from analytics.emerging import EmergingHotspotError
from analytics.errors import AnalyticsError, PriorityError, RiskError
from analytics.hexagons import ResolutionError
from analytics.hotspots import HotspotError
from analytics.local_moran import LocalMoranError
from analytics.problem_types import ProblemTypeError
from analytics.weights import WeightsError
from geo_service.core.errors import BadFilterError
from layers.errors import LayerError

#: The errors by which the data or the filters say a layer cannot be made.
THIN_DATA: tuple[type[Exception], ...] = (AnalyticsError, LayerError, BadFilterError)

#: What each kind of error means for the layer, for a clerk (the English detail follows).
_IN_CHINESE: tuple[tuple[type[Exception], str], ...] = (
    (DensityError, "筛选范围内精确定位的点太少，无法计算密度"),
    (HotspotError, "数据不足，无法做热点分析"),
    (LocalMoranError, "数据不足，无法做聚类和异常值分析"),
    (EmergingHotspotError, "时间跨度或数据不足，无法做时空热点分析"),
    (ClusterError, "精确定位的点太少，无法识别聚集区"),
    (ProblemTypeError, "案件和检查的描述太少，无法归纳问题类型"),
    (CommonalityError, "各辖区的记录太少，无法比较共性与差异"),
    (RiskError, "风险评分所需的数据不足（例如没有污染源名录）"),
    (PriorityError, "无法确定重点检查区域"),
    (WeightsError, "单元太少，无法建立空间权重"),
    (ResolutionError, "六边形分辨率不适用于这些数据"),
)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Skipped:
    """A layer left out of a build, and why (``code`` is the error's class)."""

    layer: str
    code: str
    reason: str  # Chinese, then the English detail in brackets

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


def skipped(layer: str, exc: Exception) -> Skipped:
    """The layer skipped for ``exc``; a message already in Chinese is kept as it is."""
    detail = str(exc) or type(exc).__name__
    if _CJK.search(detail):
        return Skipped(layer, type(exc).__name__, detail)
    chinese = next(
        (text for kind, text in _IN_CHINESE if isinstance(exc, kind)),
        "现有数据无法计算该图层",
    )
    return Skipped(layer, type(exc).__name__, f"{chinese} ({detail})")
