"""Problem types from Chinese texts: planted families recovered, whole-word labels mapped
to violation categories, the number of clusters chosen by a stated criterion (stability)
that finds a planted number of families inside the range, not at its top."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from analytics.problem_types import (
    K_CRITERION,
    STABILITY_TOLERANCE,
    ProblemTypeError,
    _choose_k,
    find_problem_types,
    problem_type_mix,
)
from analytics.segmenter import phrase_words, tokenizer, violation_categories, words

# Held-out wording: none of these sentences is the sample generator's.
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
#: The category each family's offences belong to (vocabulary/violation_categories.tsv).
CATEGORY = {
    "wastewater": "water",
    "eia": "construction_project",
    "permit": "permit",
    "hazardous": "hazardous_waste",
    "monitoring": "monitoring",
    "dust": "dust",
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


@pytest.fixture(scope="module")
def found():  # type: ignore[no-untyped-def]
    texts, family = _corpus(1200)
    return texts, family, find_problem_types(texts, n_clusters_range=(3, 20), seed=1)


def test_planted_families_are_recovered_without_hints(found) -> None:  # type: ignore[no-untyped-def]
    texts, family, types = found
    assert adjusted_rand_score(family, types.labels) >= 0.9
    majority = {np.bincount(family[types.labels == t]).argmax() for t in range(types.n_types)}
    assert majority == set(range(len(FAMILIES)))
    assert sum(types.sizes) == len(texts) and len(types.labels) == len(texts)
    # each type is the planted family's violation category
    names = list(FAMILIES)
    for t in range(types.n_types):
        planted = names[np.bincount(family[types.labels == t]).argmax()]
        assert types.categories[t] == CATEGORY[planted], types.type_labels[t]


def _stated_rule(parameters: dict[str, object]) -> int:
    """The number of clusters the recorded stabilities give by the stated rule."""
    scores = {int(k): float(v) for k, v in parameters["stability_by_k"].items()}  # type: ignore[attr-defined]
    best = max(scores.values())
    tolerance = float(parameters["stability_tolerance"])  # type: ignore[arg-type]
    return min(k for k, v in scores.items() if v >= best - tolerance)


def test_the_number_of_clusters_is_chosen_by_stability_and_reported(found) -> None:  # type: ignore[no-untyped-def]
    """Six families told in 18 fixed wordings: silhouette kept rising to the range's top
    (20); stability stops where more clusters are no more reproducible."""
    _, _, types = found
    scores = {int(k): v for k, v in types.parameters["stability_by_k"].items()}
    assert sorted(scores) == list(range(3, 21))
    assert 3 < types.parameters["n_clusters"] < 20
    assert all(-1.0 <= v <= 1.0 for v in scores.values())
    assert types.parameters["n_clusters"] == _stated_rule(types.parameters)
    assert types.parameters["k_criterion"] == K_CRITERION
    assert types.parameters["stability_tolerance"] == STABILITY_TOLERANCE
    assert -1.0 <= types.quality <= 1.0  # the chosen clustering's silhouette, for information
    # the clusters of one category are one type, and its sub-types
    assert sum(len(s) for s in types.subtypes) == types.parameters["n_clusters"]
    assert [sum(s["size"] for s in sub) for sub in types.subtypes] == types.sizes


#: Six offences, each told in any four of its eight words: no wording of a family recurs
#: enough to be a group of its own, so the texts hold six groups, planted.
POOLS = {
    "wastewater": "废水 化学需氧量 氨氮 总磷 排污口 污水处理设施 外排 超标排放",
    "dust": "扬尘 施工工地 抑尘 覆盖 洒水 渣土 围挡 冲洗",
    "hazardous": "危险废物 贮存 转移联单 危废 台账 处置 防渗 标志",
    "monitoring": "自动监测 监测数据 篡改 伪造 在线监测 数据 逃避监管 设备",
    "eia": "环境影响评价 未批先建 报批 环评文件 开工 建设项目 主体工程 验收",
    "noise": "噪声 夜间施工 隔声 减振 扰民 分贝 降噪 厂界噪声",
}


def _pooled(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    names = list(POOLS)
    family = rng.integers(0, len(names), n)
    texts = []
    for f in family:
        said = rng.choice(POOLS[names[f]].split(), size=4, replace=False)
        texts.append(f"{BOILER[rng.integers(0, 3)]}{'，'.join(said)}。")
    return texts, family


def test_stability_finds_the_planted_number_of_families_inside_the_range() -> None:
    """Six planted families, a range of 3…15: the number of clusters chosen lies inside
    the range, and its clusters, taken as types (no grouping by category), are the
    families."""
    texts, family = _pooled(600)
    types = find_problem_types(texts, n_clusters_range=(3, 15), by_category=False, seed=0)
    params = types.parameters
    assert sorted(int(k) for k in params["stability_by_k"]) == list(range(3, 16))
    k = params["n_clusters"]
    assert 3 < k < 15 and k == _stated_rule(params)
    assert adjusted_rand_score(family, types.labels) >= 0.75
    assert types.n_types == k  # types are the clusters here: what the criterion chose


def test_the_rule_takes_the_fewest_clusters_within_the_tolerance_of_the_best() -> None:
    """Stabilities closer than the tolerance are not told apart: the fewer clusters win;
    a k clearly less stable than the best is never chosen."""
    near = 0.86 - STABILITY_TOLERANCE / 2
    assert _choose_k({4: 0.5, 5: 0.7, 6: near, 7: 0.86, 8: 0.84}) == 6
    assert _choose_k({4: 0.5, 5: 0.7, 6: 0.86 - 2 * STABILITY_TOLERANCE, 7: 0.86}) == 7
    assert _choose_k({4: 1.0, 5: 1.0}) == 4


def test_labels_are_whole_words_and_name_the_category(found) -> None:  # type: ignore[no-untyped-def]
    """Every phrase of a label is a word of the segmenter's dictionary (jieba's or the
    domain dictionary), or two such words side by side in one of the type's texts."""
    texts, _, types = found
    dictionary = tokenizer().FREQ
    categories = violation_categories()
    for t, label in enumerate(types.type_labels):
        category, _, phrases = label.partition("：")
        assert category == categories[types.categories[t]].name
        assert phrases.split("、") == types.top_terms[t][:3]
        cut = [words(text) for text, own in zip(texts, types.labels == t, strict=True) if own]
        runs = {"".join(w[i : i + n]) for w in cut for n in (1, 2) for i in range(len(w))}
        for phrase in types.top_terms[t][:3]:
            assert phrase in runs, (label, phrase)  # whole words of the type's texts
            assert any(
                all(dictionary.get(w) for w in split) and len(split) <= 2
                for split in _splits(phrase, dictionary)
            ), (label, phrase)


def _splits(phrase: str, dictionary: dict[str, int]) -> list[list[str]]:
    """Ways to read ``phrase`` as one or two dictionary words."""
    out = [[phrase]] if dictionary.get(phrase) else []
    return out + [
        [phrase[:i], phrase[i:]]
        for i in range(1, len(phrase))
        if dictionary.get(phrase[:i]) and dictionary.get(phrase[i:])
    ]


def test_old_fragments_are_gone(found) -> None:  # type: ignore[no-untyped-def]
    """The n-gram labels of before ("取覆盖·采取覆") cut words apart; these do not."""
    _, _, types = found
    dust = types.type_labels[types.categories.index("dust")]
    assert "扬尘" in dust and "取覆" not in dust and "·" not in dust


def test_clusters_as_types_when_asked() -> None:
    texts, _ = _corpus(300)
    types = find_problem_types(texts, n_clusters=8, by_category=False, seed=2)
    assert types.n_types == 8 and types.parameters["types_by"] == "cluster"
    assert types.parameters["k_criterion"] == "given (n_clusters)"
    assert types.parameters["stability_by_k"] == {}  # nothing chosen, nothing measured
    assert all(len(s) == 1 for s in types.subtypes)


def test_deterministic_for_a_seed() -> None:
    texts, _ = _corpus(400)
    a = find_problem_types(texts, n_clusters=6, seed=3)
    b = find_problem_types(texts, n_clusters=6, seed=3)
    assert (a.labels == b.labels).all() and a.type_labels == b.type_labels


def test_mix_per_group() -> None:
    labels = np.array([0] * 80 + [1] * 20 + [0] * 10 + [1] * 90)
    groups = ["制造"] * 100 + ["建筑"] * 100
    mix = problem_type_mix(labels, groups)
    assert mix.loc["建筑", 1] == pytest.approx(0.9)
    assert mix.sum(axis=1).tolist() == pytest.approx([1.0, 1.0])


def test_too_few_texts_are_refused() -> None:
    with pytest.raises(ProblemTypeError):
        find_problem_types(["a", "b"])


def test_texts_without_a_recurring_word_are_refused_as_such() -> None:
    """Each text its own words: there is nothing to type by (a ProblemTypeError, which the
    service answers as the request's, not sklearn's ValueError, which would be a fault)."""
    with pytest.raises(ProblemTypeError, match="no recurring words"):
        find_problem_types(["甲乙", "丙丁", "戊己", "庚辛", "壬癸"])


def test_phrase_words_split_a_feature() -> None:
    assert phrase_words("未\u2009覆盖") == ["未", "覆盖"]
