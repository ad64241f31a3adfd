"""Problem types from Chinese texts: planted families recovered, labels telling, mix and lift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, homogeneity_score

from analytics.problem_types import (
    ProblemTypeError,
    distinctive_types,
    find_problem_types,
    problem_type_mix,
)

FAMILIES = {
    "wastewater": [
        "废水总排口化学需氧量浓度超过排放标准",
        "外排废水氨氮超标排放",
        "生产废水未经处理直接外排超标",
    ],
    "eia": [
        "未依法报批环境影响评价文件擅自开工建设",
        "建设项目环评文件未经批准即开工建设",
        "未批先建项目主体工程已建成",
    ],
    "permit": [
        "未取得排污许可证排放污染物",
        "排污许可证过期后继续排放污染物",
        "无证排污擅自排放大气污染物",
    ],
    "hazardous": [
        "危险废物贮存场所未设置识别标志",
        "危废与一般固废混合贮存",
        "危险废物未按规定转移处置",
    ],
    "monitoring": [
        "篡改自动监测数据逃避监管",
        "干扰在线监测设施人为修改监测数据",
        "伪造在线监测数据上传",
    ],
    "dust": [
        "施工工地未采取覆盖洒水等扬尘防治措施",
        "渣土运输车辆未密闭造成扬尘污染",
        "工地裸土未覆盖扬尘污染",
    ],
}
BOILER = [
    "经查，",
    "现场检查发现，",
    "你单位",
    "该公司",
    "上述行为违反了相关规定。",
    "以上事实有笔录为证。",
]


def _corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    names = list(FAMILIES)
    family = rng.integers(0, len(names), n)
    texts = []
    for f in family:
        phrases = FAMILIES[names[f]]
        body = phrases[rng.integers(0, len(phrases))]
        texts.append(
            f"{BOILER[rng.integers(0, 3)]}{body}，{BOILER[rng.integers(3, 6)]}{rng.integers(1, 99)}号"
        )
    return texts, family


def test_planted_families_are_recovered_without_hints() -> None:
    texts, family = _corpus(1200)
    # the number of types chosen from the data: each type pure, every family found
    found = find_problem_types(texts, n_types_range=(3, 20), seed=1)
    assert 6 <= found.n_types <= 20
    assert homogeneity_score(family, found.labels) > 0.95
    majority = {np.bincount(family[found.labels == t]).argmax() for t in range(found.n_types)}
    assert majority == set(range(len(FAMILIES)))
    assert sum(found.sizes) == len(texts) and len(found.labels) == len(texts)
    # told how many and given the records' violation types, it finds exactly the families
    hints = [list(FAMILIES)[f] for f in family]
    six = find_problem_types(texts, hints=hints, n_types=6, seed=1)
    assert adjusted_rand_score(family, six.labels) > 0.9


def test_each_type_is_labelled_by_a_telling_term() -> None:
    texts, family = _corpus(1200)
    found = find_problem_types(texts, n_types_range=(3, 20), seed=1)
    words = {
        "wastewater": ("废水", "超标"),
        "eia": ("环评", "环境影响", "开工建设", "未批", "先建"),
        "permit": ("许可", "无证"),
        "hazardous": ("危险", "危废", "废物"),
        "monitoring": ("监测",),
        "dust": ("扬尘", "工地"),
    }
    names = list(FAMILIES)
    for t in range(found.n_types):
        majority = names[np.bincount(family[found.labels == t]).argmax()]
        top = found.top_terms[t][:4]
        assert any(w in term for w in words[majority] for term in top), (majority, top)


def test_deterministic_for_a_seed() -> None:
    texts, _ = _corpus(400)
    a = find_problem_types(texts, n_types=6, seed=3)
    b = find_problem_types(texts, n_types=6, seed=3)
    assert (a.labels == b.labels).all() and a.type_labels == b.type_labels


def test_mix_and_lift_show_a_groups_difference() -> None:
    labels = np.array([0] * 80 + [1] * 20 + [0] * 10 + [1] * 90)
    groups = ["制造"] * 100 + ["建筑"] * 100
    mix = problem_type_mix(labels, groups)
    assert mix.loc["建筑", 1] == pytest.approx(0.9)
    overall = pd.Series(labels).value_counts(normalize=True)
    lifted = distinctive_types(mix, overall)
    top = lifted[lifted["group"] == "建筑"].iloc[0]
    assert top["type"] == 1 and top["lift"] == pytest.approx(0.9 / 0.55)


def test_too_few_texts_are_refused() -> None:
    with pytest.raises(ProblemTypeError):
        find_problem_types(["a", "b"])


def test_texts_without_a_recurring_word_are_refused_as_such() -> None:
    """Each text its own words: there is nothing to type by (a ProblemTypeError, which the
    service answers as the request's, not sklearn's ValueError, which would be a fault)."""
    with pytest.raises(ProblemTypeError, match="no recurring words"):
        find_problem_types(["甲乙", "丙丁", "戊己", "庚辛", "壬癸"])
