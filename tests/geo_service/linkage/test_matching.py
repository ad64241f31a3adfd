"""The linkage steps on a hand-built register: what links, how, and what is never linked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_service.linkage.codes import credit_code_flags
from geo_service.linkage.inherit import inherit
from geo_service.linkage.matching import LinkRules, Located, link
from geo_service.linkage.register import NameCores, RegisterIndex, place_words

# valid GB 32100 codes (analytics.credit_codes.make_credit_codes)
A, B, C, D, E = (
    "91450103382465005Y",
    "91450103478583479B",
    "91450202331491342B",
    "91450304MA5LJFLF6D",
    "91450103MA5NYP14XG",
)
NANNING = (108.366, 22.817)  # 青秀区
LIUZHOU = (109.412, 24.326)  # 城中区 (about 180 km away)


def _register() -> RegisterIndex:
    frame = pd.DataFrame(
        {
            "credit_code": [A, B, C, D, E],
            "name": [
                "南宁鑫华糖业有限公司",
                "广西宏泰化工有限公司",
                "柳州宏泰化工有限责任公司",  # B's namesake: the same normalised name
                "桂林象山制糖厂",
                "南宁鑫华糖业机械有限公司",
            ],
            "address": [
                "南宁市青秀区民族大道1号",
                "南宁市青秀区",
                "柳州市城中区",
                "桂林市象山区",
                "",
            ],
            "industry_code": ["C1340", "C2614", "C2614", "C1340", "C3512"],
            "category": ["key", "general", "special", "key", "general"],
            "lon": [NANNING[0], NANNING[0] + 0.01, LIUZHOU[0], 110.29, NANNING[0] + 0.3],
            "lat": [NANNING[1], NANNING[1] + 0.01, LIUZHOU[1], 25.27, NANNING[1] + 0.3],
            "geocode_precision": ["point"] * 5,
            "adcode": ["450103", "450103", "450202", "450304", "450103"],
            "city_adcode": ["450100", "450100", "450200", "450300", "450100"],
            "province_adcode": ["450000"] * 5,
        }
    )
    frame["name_norm"] = None
    frame.loc[2, "name"] = "宏泰化工有限公司"  # normalises as B's (province prefix, legal form)
    words = place_words(["南宁市", "青秀区", "柳州市", "城中区", "桂林市", "象山区"])
    return RegisterIndex(frame, NameCores(words))


def _records(rows: list[dict[str, object]]) -> tuple[pd.DataFrame, Located]:
    frame = pd.DataFrame(rows)
    for column in ("credit_code", "enterprise_name", "address", "lon", "lat", "geocode_precision"):
        if column not in frame:
            frame[column] = None
    frame["adcode"] = frame.get("adcode")
    frame["city_adcode"] = frame.get("city_adcode")
    return frame, Located.of(frame)


def test_each_step_links_what_it_can_and_says_how() -> None:
    index = _register()
    records, where = _records(
        [
            {"credit_code": A.lower(), "enterprise_name": "全然不同的名字"},  # the code wins
            {"enterprise_name": "广西南宁鑫华糖业有限责任公司"},  # normalised name
            # a dropped place word and legal form, 300 m from A: name + distance
            {
                "enterprise_name": "鑫华糖业",
                "lon": NANNING[0] + 0.002,
                "lat": NANNING[1] + 0.002,
                "geocode_precision": "point",
            },
            {
                "enterprise_name": "某某贸易有限公司",
                "lon": NANNING[0],
                "lat": NANNING[1],
                "geocode_precision": "point",
            },
            {"address": "南宁市青秀区"},  # names no enterprise
        ]
    )
    links = link(records, where, index).frame
    assert links["link_method"].tolist() == ["credit_code", "name", "fuzzy", "unmatched", None]
    assert links["enterprise_credit_code"].tolist()[:3] == [A, A, A]
    assert links.loc[3:, "enterprise_credit_code"].isna().all()
    assert links.loc[:1, "link_score"].tolist() == [1.0, 1.0]
    assert 0.8 <= links.loc[2, "link_score"] < 1.0


def test_a_code_failing_its_check_is_flagged_and_the_name_links_instead() -> None:
    index = _register()
    wrong = A[:-1] + ("X" if A[-1] != "X" else "Y")
    records, where = _records(
        [
            {"credit_code": wrong, "enterprise_name": "南宁鑫华糖业有限公司"},
            {"credit_code": "12345", "enterprise_name": "桂林象山制糖厂"},
            {"credit_code": D, "enterprise_name": ""},
        ]
    )
    links = link(records, where, index).frame
    assert links["credit_code_flag"].tolist() == ["bad_check", "bad_format", None]
    assert links["link_method"].tolist() == ["name", "name", "credit_code"]
    assert links["enterprise_credit_code"].tolist() == [A, D, D]


def test_namesakes_are_told_apart_by_distance_or_county_and_otherwise_never_linked() -> None:
    index = _register()
    near_b = {"lon": NANNING[0] + 0.012, "lat": NANNING[1] + 0.01, "geocode_precision": "point"}
    records, where = _records(
        [
            {"enterprise_name": "宏泰化工有限公司", **near_b},
            {
                "enterprise_name": "宏泰化工有限公司",
                "geocode_precision": "county",
                "adcode": "450202",
            },
            {"enterprise_name": "宏泰化工有限公司"},  # nothing tells them apart
            # halfway between the two: neither is near while the other is far
            {
                "enterprise_name": "宏泰化工有限公司",
                "lon": 108.9,
                "lat": 23.6,
                "geocode_precision": "point",
            },
        ]
    )
    result = link(records, where, index)
    links = result.frame
    assert links["link_method"].tolist() == ["name", "name", "ambiguous", "ambiguous"]
    assert links["enterprise_credit_code"].tolist()[:2] == [B, C]
    assert links.loc[2:, "enterprise_credit_code"].isna().all()
    assert sorted(c["credit_code"] for c in result.candidates[2]) == [B, C]
    assert set(result.candidates) == {2, 3}
    assert all(c["distance_km"] > 20 for c in result.candidates[3])


def test_fuzzy_candidates_that_fit_equally_are_listed_not_linked() -> None:
    index = _register()
    # halfway between A and E (same core 鑫华糖业 / 鑫华糖业机械): only a close call
    records, where = _records(
        [
            {
                "enterprise_name": "鑫华糖业公司",
                "lon": NANNING[0] + 0.15,
                "lat": NANNING[1] + 0.15,
                "geocode_precision": "point",
            }
        ]
    )
    rules = LinkRules(search_km=50)
    result = link(records, where, index, rules)
    method = result.frame.loc[0, "link_method"]
    # A's core is exactly 鑫华糖业; E's is 鑫华糖业机械: A is clearly ahead, whatever the distance
    assert method == "fuzzy" and result.frame.loc[0, "enterprise_credit_code"] == A
    # the same name with no place at all is never matched fuzzily
    records, where = _records([{"enterprise_name": "鑫华糖业公司"}])
    assert link(records, where, index, rules).frame.loc[0, "link_method"] == "unmatched"


def test_fuzzy_margin_leaves_close_candidates_ambiguous() -> None:
    frame = pd.DataFrame(
        {
            "credit_code": [A, B],
            "name": ["南宁鑫华糖业有限公司", "南宁鑫华塘业有限公司"],  # one character apart
            "lon": [NANNING[0], NANNING[0] + 0.001],
            "lat": [NANNING[1], NANNING[1]],
            "adcode": ["450103", "450103"],
            "city_adcode": ["450100", "450100"],
        }
    )
    frame["name_norm"] = None
    index = RegisterIndex(frame, NameCores(place_words(["南宁市"])))
    records, where = _records(
        [
            {
                "enterprise_name": "鑫华x业",
                "lon": NANNING[0],
                "lat": NANNING[1],
                "geocode_precision": "point",
            }
        ]
    )
    result = link(records, where, index, LinkRules(min_score=0.5, min_name=0.5))
    assert result.frame.loc[0, "link_method"] == "ambiguous"
    assert [c["credit_code"] for c in result.candidates[0]] == [A, B]


def test_linked_records_inherit_what_they_lack_and_say_so() -> None:
    index = _register()
    own = pd.DataFrame({"industry_code": [None, "C3000", None]})
    codes = pd.Series([A, B, None])
    taken = inherit(own, codes, index)
    assert taken["industry_code"].tolist() == ["C1340", "C3000", None]
    assert taken["supervision_category"].tolist() == ["key", "general", None]
    assert taken["inherited"].tolist() == [
        "industry_code,supervision_category",
        "supervision_category",
        None,
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([A, B, E, "91450000UNKNOWN00X", None]),
            st.sampled_from([None, "", " ", "C3000"]),
        ),
        max_size=10,
    ),
    st.booleans(),
)
def test_each_record_inherits_as_its_own_entry_says(
    rows: list[tuple[str | None, str | None]], blank_entry: bool
) -> None:
    """Record by record: a linked record takes the entry's category, and its industry
    where it states none; ``inherited`` names what it took, in order."""
    index = _register()
    if blank_entry:  # an entry with no industry and no category gives nothing
        index.frame.loc[0, ["industry_code", "category"]] = [None, ""]
    own = pd.DataFrame({"industry_code": [i for _, i in rows]}, dtype=object)
    codes = pd.Series([c for c, _ in rows], dtype=object)
    got = inherit(own, codes, index)
    for k, (code, industry) in enumerate(rows):
        entry = index.frame.iloc[index.position[code]] if code in index.position else None
        theirs = (
            {}
            if entry is None
            else {
                "industry_code": entry["industry_code"],
                "supervision_category": entry["category"],
            }
        )
        theirs = {f: v for f, v in theirs.items() if v is not None and str(v) != ""}
        mine = industry if industry is not None and industry.strip() else None
        fill = "industry_code" in theirs and mine is None
        assert got.at[k, "industry_code"] == (theirs["industry_code"] if fill else mine)
        assert got.at[k, "supervision_category"] == theirs.get("supervision_category")
        taken = [
            f
            for f in ("industry_code", "supervision_category")
            if f in theirs and (f != "industry_code" or fill)
        ]
        assert got.at[k, "inherited"] == (",".join(taken) or None)


@pytest.mark.parametrize(
    "code, flag",
    [
        ("91450103382465005Y", None),
        ("91450103382465005y", None),  # lower case is the same code
        (" 91450103382465005Y ", None),
        ("91450103382465005X", "bad_check"),
        ("91450103382465005", "bad_format"),
        ("9145010338246500OY", "bad_format"),  # O is not in the alphabet
        ("12345", "bad_format"),
    ],
)
def test_credit_code_flags(code: str, flag: str | None) -> None:
    assert credit_code_flags(pd.Series([code, None])).tolist() == [flag, None]


def test_an_empty_register_links_nothing() -> None:
    empty = RegisterIndex(pd.DataFrame(columns=["credit_code", "name"]), NameCores(()))
    records, where = _records([{"credit_code": A, "enterprise_name": "南宁鑫华糖业有限公司"}])
    links = link(records, where, empty).frame
    assert links["enterprise_credit_code"].isna().all()
    assert np.isnan(links.loc[0, "link_score"])


def test_register_groups_positions_as_a_group_by_would() -> None:
    from geo_service.linkage.register import _positions_by

    values = np.array(["乙", None, "甲", "", "乙", None, "甲", "丙"], dtype=object)
    grouped = pd.Series(np.arange(len(values))).groupby(values).agg(list)
    expected = {str(k): v for k, v in grouped.items() if k}
    assert _positions_by(values) == expected == {"乙": [0, 4], "甲": [2, 6], "丙": [7]}
    assert _positions_by(np.array([], dtype=object)) == {}
