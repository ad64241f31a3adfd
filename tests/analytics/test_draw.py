"""The 双随机 draw: quotas, exclusions, shortfalls, teams, commitments and byte-identical records."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from analytics.draw import (
    DEFAULT_QUOTAS,
    RECORD_FORMAT,
    assign_inspectors,
    draw_enterprises,
    exponential_keys,
    record_bytes,
    record_digest,
    run_draw,
    sample_by_keys,
    sampling_weights,
    seed_commitment,
    seeded_generator,
    stratum_quota,
    verify_seed,
)
from analytics.errors import DrawError, StaffingError

SINCE = dt.date(2025, 1, 1)
CONTEXT = {"data_version": 7, "quarter": "2025-Q1", "jurisdiction": "450100"}


def _enterprises(key: int = 10, special: int = 20, general: int = 41) -> pd.DataFrame:
    """``key``/``special``/``general`` enterprises with weights 1, 2, 3, … (special's last has no category)."""
    n = key + special + general
    category: list[str | None] = ["key"] * key + ["special"] * special + ["general"] * general
    return pd.DataFrame(
        {
            "credit_code": [f"9145010{i:011d}" for i in range(n)],
            "name": [f"企业{i}" for i in range(n)],
            "category": category,
            "weight": np.arange(1.0, n + 1.0),
            "last_inspected": pd.NaT,
            "reasons": [["超标排放", "信访投诉"] if i % 2 else [] for i in range(n)],
        }
    )


def _roster(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {"inspector_id": [f"I{i:02d}" for i in range(n)], "name": [f"执法员{i}" for i in range(n)]}
    )


def test_quota_is_rounded_up_and_met_exactly_per_stratum() -> None:
    # 0.25 × 10 = 2.5 → 3; 0.15 × 20 = 3.0000000000000004 in floats → 3, not 4; 0.05 × 41 = 2.05 → 3
    assert [stratum_quota(0.25, 10), stratum_quota(0.15, 20), stratum_quota(0.05, 41)] == [3, 3, 3]
    for seed in range(20):
        out = draw_enterprises(_enterprises(), exclude_since=None, seed=seed)
        assert Counter(out["stratum"]) == {"key": 3, "special": 3, "general": 3}
        assert out["draw_order"].tolist() == list(range(1, 10))
        assert out["stratum"].tolist() == ["key"] * 3 + ["special"] * 3 + ["general"] * 3
    assert out.attrs["strata"] == {
        "key": {"population": 10, "eligible": 10, "quota": 3, "selected": 3, "shortfall": 0},
        "special": {"population": 20, "eligible": 20, "quota": 3, "selected": 3, "shortfall": 0},
        "general": {"population": 41, "eligible": 41, "quota": 3, "selected": 3, "shortfall": 0},
    }


def test_missing_category_counts_as_general() -> None:
    frame = _enterprises(0, 0, 20).assign(category=[None, "", *["general"] * 18])
    out = draw_enterprises(frame, exclude_since=None, seed="s")
    assert out.attrs["strata"]["general"]["population"] == 20
    assert out.attrs["strata"]["key"]["population"] == 0


def test_recently_inspected_enterprises_are_never_drawn() -> None:
    frame = _enterprises()
    recent = frame.index % 3 == 0
    frame["last_inspected"] = np.where(recent, pd.Timestamp(SINCE), pd.Timestamp("2024-12-31"))
    recent_codes = set(frame.loc[recent, "credit_code"])
    drawn: set[str] = set()
    for seed in range(100):
        drawn |= set(draw_enterprises(frame, exclude_since=SINCE, seed=seed)["credit_code"])
    assert not drawn & recent_codes  # inspected on the first day of the window: excluded
    assert len(drawn) > 30  # inspected the day before: still drawn
    out = draw_enterprises(frame, exclude_since=None, seed=0)
    assert out.attrs["strata"]["key"]["eligible"] == 10


def test_shortfall_is_reported_when_too_few_are_eligible() -> None:
    frame = _enterprises(key=8, special=0, general=20)
    frame.loc[:6, "last_inspected"] = pd.Timestamp("2025-02-10")  # 7 of 8 key enterprises
    out = draw_enterprises(frame, exclude_since=SINCE, seed="q1")
    assert out.attrs["strata"]["key"] == {
        "population": 8,
        "eligible": 1,
        "quota": 2,
        "selected": 1,
        "shortfall": 1,
    }
    assert out.loc[out["stratum"] == "key", "credit_code"].tolist() == [frame.loc[7, "credit_code"]]
    record = run_draw(frame, _roster(), exclude_since=SINCE, seed="q1", context=CONTEXT)
    assert record["strata"]["key"]["shortfall"] == 1


def test_probability_is_the_share_of_the_floored_stratum_weight() -> None:
    frame = pd.DataFrame({"credit_code": list("abcd"), "weight": [0.0, 1.0, 4.0, 20.0]})
    out = draw_enterprises(frame, quotas={"general": 1.0}, exclude_since=None, seed=1)
    # floor 0.05 × 20 = 1: sampling weights 1, 1, 4, 20 of 26
    assert_allclose(
        out.set_index("credit_code")["probability"].sort_index(), [1 / 26, 1 / 26, 4 / 26, 20 / 26]
    )
    assert sorted(out["credit_code"]) == list("abcd")


def test_single_draw_frequencies_match_the_weights() -> None:
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    e = exponential_keys(seeded_generator(3, "test"), 40_000, 4)
    first = sample_by_keys(e, weights, [np.arange(4)], [1])[:, 0]
    assert_allclose(np.bincount(first, minlength=4) / 40_000, weights / 10, atol=0.01)
    pairs = sample_by_keys(e, weights, [np.arange(4)], [2])
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert (pairs[:, 0] == first).all()  # the first of two is the single draw


def test_high_weight_enterprises_are_drawn_more_often_and_low_ones_still_can_be() -> None:
    n = 100
    weight = np.where(np.arange(n) < 10, 10.0, np.where(np.arange(n) < 50, 1.0, 0.0))
    frame = pd.DataFrame({"credit_code": [f"c{i:03d}" for i in range(n)], "weight": weight})
    counts = Counter[str]()
    for seed in range(300):
        counts.update(draw_enterprises(frame, exclude_since=None, seed=f"s{seed}")["credit_code"])
    per = {
        g: sum(counts[f"c{i:03d}"] for i in rows) / len(rows) / 300
        for g, rows in {"high": range(10), "mid": range(10, 50), "zero": range(50, n)}.items()
    }
    # 5 draws from 10 × 10 + 40 × 1 + 50 × 0.5 (floor): inclusion ≈ 0.32, 0.04, 0.02
    assert per["high"] > 0.25
    assert per["high"] > 4 * per["mid"]
    assert 0 < per["zero"] < per["mid"]


def test_same_inputs_and_seed_give_identical_bytes_whatever_the_row_order() -> None:
    frame, roster = _enterprises(), _roster()
    exclusions = [("I00", frame.loc[i, "credit_code"]) for i in range(0, 71, 4)]
    one = run_draw(
        frame, roster, exclusions=exclusions, exclude_since=SINCE, seed="7f3a", context=CONTEXT
    )
    two = run_draw(
        frame.sample(frac=1.0, random_state=5),
        roster.sample(frac=1.0, random_state=6),
        exclusions=list(reversed(exclusions)),
        exclude_since=SINCE,
        seed="7f3a",
        context=dict(reversed(CONTEXT.items())),
    )
    assert record_bytes(one) == record_bytes(two)
    assert record_digest(one) == record_digest(two)
    other = run_draw(
        frame, roster, exclusions=exclusions, exclude_since=SINCE, seed="7f3b", context=CONTEXT
    )
    assert record_bytes(other) != record_bytes(one)
    assert [e["credit_code"] for e in other["selected"]] != [
        e["credit_code"] for e in one["selected"]
    ]


def test_record_layout_and_canonical_json() -> None:
    frame = _enterprises().assign(weight=lambda f: f["weight"] / 3)
    record = run_draw(frame, _roster(), exclude_since=SINCE, seed=42, context=CONTEXT)
    assert set(record) == {
        "format",
        "seed",
        "seed_commitment",
        "data_version",
        "parameters",
        "method",
        "strata",
        "selected",
    }
    assert (record["format"], record["seed"], record["data_version"]) == (RECORD_FORMAT, "42", 7)
    assert record["parameters"] == {
        "quarter": "2025-Q1",
        "jurisdiction": "450100",
        "quotas": dict(DEFAULT_QUOTAS),
        "exclude_since": SINCE,
        "min_weight": 0.05,
        "team_size": 2,
        "roster_size": 6,
        "conflict_exclusions": 0,
    }
    first = record["selected"][0]
    assert set(first) == {
        "draw_order",
        "credit_code",
        "name",
        "stratum",
        "weight",
        "probability",
        "last_inspected",
        "reasons",
        "inspectors",
        "inspector_names",
    }
    assert len(first["inspectors"]) == 2 and first["inspectors"] == sorted(first["inspectors"])
    data = record_bytes(record)
    assert b"NaN" not in data and b": " not in data and "企业".encode() in data
    parsed = json.loads(data)
    assert parsed["parameters"]["exclude_since"] == "2025-01-01"
    assert all(len(repr(e["weight"]).split(".")[-1]) <= 6 for e in parsed["selected"])
    assert parsed["selected"][0]["weight"] == round(first["weight"], 6)
    assert verify_seed(parsed["seed"], parsed["seed_commitment"])


def test_seed_commitment_verifies_only_the_seed() -> None:
    commitment = seed_commitment("2025Q1-9c1d4e")
    assert verify_seed("2025Q1-9c1d4e", commitment)
    assert verify_seed("2025Q1-9c1d4e", commitment.upper())
    assert not verify_seed("2025Q1-9c1d4f", commitment)
    assert seed_commitment(42) == seed_commitment("42")
    with pytest.raises(DrawError):
        seed_commitment(True)


def _selected(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"credit_code": [f"e{i:03d}" for i in range(n)], "draw_order": range(1, n + 1)}
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**9),
    n_enterprises=st.integers(1, 30),
    n_inspectors=st.integers(3, 9),
    conflicts=st.sets(st.tuples(st.integers(0, 8), st.integers(0, 29)), max_size=40),
)
def test_no_excluded_pair_is_ever_assigned(
    seed: int, n_enterprises: int, n_inspectors: int, conflicts: set[tuple[int, int]]
) -> None:
    selected = _selected(n_enterprises)
    exclusions = [(f"I{i:02d}", f"e{e:03d}") for i, e in conflicts]
    try:
        out = assign_inspectors(selected, _roster(n_inspectors), exclusions=exclusions, seed=seed)
    except StaffingError:
        free = Counter(e for i, e in conflicts if i < n_inspectors and e < n_enterprises)
        assert any(n_inspectors - k < 2 for k in free.values())
        return
    pairs = {
        (i, c) for c, team in zip(out["credit_code"], out["inspectors"], strict=True) for i in team
    }
    assert not pairs & set(exclusions)
    assert all(len(set(t)) == 2 and t == sorted(t) for t in out["inspectors"])
    assert out["inspector_names"].tolist() == [
        [f"执法员{int(i[1:])}" for i in t] for t in out["inspectors"]
    ]


@pytest.mark.parametrize("seed", range(30))
def test_workload_differs_by_at_most_one_when_conflicts_allow(seed: int) -> None:
    rng = np.random.default_rng(seed)
    selected = _selected(37)
    exclusions = [(f"I{rng.integers(7):02d}", f"e{rng.integers(37):03d}") for _ in range(25)]
    out = assign_inspectors(selected, _roster(7), exclusions=exclusions, seed=seed)
    load = Counter(i for team in out["inspectors"] for i in team)
    assert sum(load.values()) == 74
    assert max(load.values()) - min(load.values()) <= 1 and len(load) == 7


def test_balance_needs_reassignment_when_the_conflicts_bind() -> None:
    # one inspector per enterprise; e002 and e003 only A may take: B must take e000 and e001
    roster = pd.DataFrame({"inspector_id": ["A", "B"], "name": ["甲", "乙"]})
    exclusions = [("B", "e002"), ("B", "e003")]
    for seed in range(40):
        out = assign_inspectors(_selected(4), roster, exclusions=exclusions, seed=seed, team_size=1)
        assert out["inspectors"].tolist() == [["B"], ["B"], ["A"], ["A"]]


def test_an_inspector_conflicted_everywhere_gets_nothing_and_the_rest_stay_even() -> None:
    exclusions = [("I05", f"e{i:03d}") for i in range(20)]
    out = assign_inspectors(_selected(20), _roster(6), exclusions=exclusions, seed="x")
    load = Counter(i for team in out["inspectors"] for i in team)
    assert "I05" not in load and sorted(load.values()) == [8, 8, 8, 8, 8]


def test_an_enterprise_that_cannot_be_staffed_is_named() -> None:
    selected = _selected(3).assign(name=["甲公司", "乙公司", "丙公司"])
    roster = _roster(3)
    exclusions = [("I00", "e001"), ("I01", "e001")]
    with pytest.raises(StaffingError, match="e001 乙公司"):
        assign_inspectors(selected, roster, exclusions=exclusions, seed=1)
    with pytest.raises(ValueError, match="fewer than 2 of the 3"):
        assign_inspectors(selected, roster, exclusions=exclusions, seed=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(credit_code="same"), "listed twice"),
        (lambda f: f.assign(weight=-1.0), "finite and ≥ 0"),
        (lambda f: f.assign(weight=np.nan), "finite and ≥ 0"),
        (lambda f: f.assign(category="other"), "no quota for categories 'other'"),
        (lambda f: f.drop(columns="weight"), "credit_code and weight"),
    ],
)
def test_unusable_enterprises_are_refused(
    change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(DrawError, match=message):
        draw_enterprises(change(_enterprises()), exclude_since=None, seed=1)


def test_unusable_parameters_are_refused() -> None:
    with pytest.raises(DrawError, match="in \\[0, 1\\]"):
        draw_enterprises(
            _enterprises(),
            quotas={"key": 1.5, "special": 0.1, "general": 0.1},
            exclude_since=None,
            seed=1,
        )
    with pytest.raises(DrawError, match="min_weight"):
        sampling_weights(np.ones(3), [np.arange(3)], 0.0)
    with pytest.raises(DrawError, match="lacks data_version"):
        run_draw(
            _enterprises(),
            _roster(),
            exclude_since=None,
            seed=1,
            context={"quarter": "q", "jurisdiction": "j"},
        )


def test_teams_come_back_in_draw_order_whatever_the_index() -> None:
    selected = _selected(6).iloc[::-1].set_axis([0, 0, 1, 1, 2, 2])
    out = assign_inspectors(selected, _roster(4), seed=2)
    assert out["draw_order"].tolist() == [1, 2, 3, 4, 5, 6]
    assert Counter(i for team in out["inspectors"] for i in team) == dict.fromkeys(
        ["I00", "I01", "I02", "I03"], 3
    )
