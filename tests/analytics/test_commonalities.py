"""Commonalities and differences: a planted over-representation is found, the minimum
support is kept, and the tests and FDR are the textbook ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control, fisher_exact

from analytics.commonalities import (
    MIN_SUPPORT_FLOOR,
    TESTED,
    TOO_FEW,
    CommonalityError,
    commonalities,
)

BASE = np.array([0.4, 0.3, 0.2, 0.1])  # the types' shares everywhere but the planted place


def _records(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Twelve counties of 200 records; county C05 has type 3 at 35 % (10 % elsewhere); county
    T01 has five records, all of type 3 (the rarest)."""
    rng = np.random.default_rng(seed)
    types, groups = [], []
    for c in range(12):
        shares = BASE if c != 5 else np.array([0.3, 0.2, 0.15, 0.35])
        types.append(rng.choice(4, size=200, p=shares))
        groups += [f"C{c:02d}"] * 200
    types.append(np.full(5, 3))
    groups += ["T01"] * 5
    return np.concatenate(types), np.array(groups)


def test_a_planted_over_representation_is_found_and_little_else() -> None:
    types, groups = _records()
    found = commonalities(types, groups, min_records=30)
    distinctive = found.distinctive()
    pairs = set(zip(distinctive["group"], distinctive["type"], strict=True))
    assert ("C05", 3) in pairs
    assert len(pairs - {("C05", 3)}) <= 1  # FDR 5 %: a false discovery at most, here
    row = distinctive[(distinctive["group"] == "C05") & (distinctive["type"] == 3)].iloc[0]
    assert row["share"] > 0.25 and row["share_elsewhere"] < 0.15 and row["ratio"] > 2


def test_a_place_with_five_records_is_never_called_distinctive() -> None:
    types, groups = _records()
    for min_records in (MIN_SUPPORT_FLOOR, 30, 100):
        found = commonalities(types, groups, min_records=min_records)
        status = found.groups.set_index("group")["status"]
        assert status["T01"] == TOO_FEW
        assert "T01" not in set(found.tests["group"])
        assert "T01" not in set(found.distinctive()["group"])
    # its five records still count in the shares of the others
    found = commonalities(types, groups, min_records=30)
    assert found.common.set_index("type").loc[3, "count"] == (types == 3).sum()


def test_the_minimum_support_cannot_be_set_below_the_floor() -> None:
    types, groups = _records()
    with pytest.raises(CommonalityError, match="at least"):
        commonalities(types, groups, min_records=MIN_SUPPORT_FLOOR - 1)
    with pytest.raises(CommonalityError):
        commonalities(types, groups, alpha=1.5)


def test_p_values_are_fisher_s_and_q_values_benjamini_hochberg_s() -> None:
    types, groups = _records(seed=3)
    found = commonalities(types, groups, min_records=30)
    tests = found.tests
    assert len(tests) == 12 * 4  # every tested county × every type
    for _, row in tests.sample(8, random_state=0).iterrows():
        inside = groups == row["group"]
        a = int(((types == row["type"]) & inside).sum())
        b = int(inside.sum()) - a
        c = int(((types == row["type"]) & ~inside).sum())
        d = int((~inside).sum()) - c
        expected = fisher_exact([[a, b], [c, d]], alternative="greater").pvalue
        assert row["p"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert tests["q"].to_numpy() == pytest.approx(false_discovery_control(tests["p"], method="bh"))
    assert (tests["q"] >= tests["p"] - 1e-15).all()
    assert found.parameters["test"].startswith("one-sided Fisher exact")


def test_common_types_are_those_present_in_every_tested_place() -> None:
    types = np.array(["废水"] * 60 + ["扬尘"] * 40 + ["废水"] * 70 + ["噪声"] * 30 + ["扬尘"] * 3)
    groups = np.array(["甲"] * 100 + ["乙"] * 100 + ["丙"] * 3)
    found = commonalities(types, groups, min_records=50)
    assert found.common_types() == ["废水"]  # 扬尘 is missing in 乙; 丙 is not tested
    common = found.common.set_index("type")
    assert common.loc["废水", "groups_present"] == 2 and common.loc["废水", "groups_tested"] == 2
    assert common.loc["废水", "share_min"] == pytest.approx(0.6)
    assert common.loc["废水", "share_max"] == pytest.approx(0.7)
    assert found.groups.set_index("group").loc["丙", "status"] == TOO_FEW
    assert set(found.groups["status"]) == {TESTED, TOO_FEW}


def test_no_place_with_enough_records_means_nothing_common_and_nothing_tested() -> None:
    found = commonalities(["废水"] * 12, ["甲"] * 6 + ["乙"] * 6, min_records=10)
    assert found.tests.empty and found.common_types() == []
    assert (found.groups["status"] == TOO_FEW).all()


def test_records_without_a_place_count_elsewhere_only() -> None:
    types = ["废水"] * 40 + ["扬尘"] * 40
    groups = pd.Series(["甲"] * 40 + [None] * 40)
    found = commonalities(types, groups, min_records=10)
    assert found.groups["group"].tolist() == ["甲"]
    row = found.tests.set_index("type").loc["废水"]
    assert row["share"] == 1.0 and row["share_elsewhere"] == 0.0
