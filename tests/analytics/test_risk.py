"""Risk components, scores, tiers, reasons and expected findings on small planted data."""

from __future__ import annotations

import datetime as dt
import json

import h3
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from pandas.testing import assert_frame_equal

from analytics.errors import RiskError
from analytics.risk import cell_risk, enterprise_risk
from analytics.risk_defaults import DEFAULT_RISK_WEIGHTS

AS_OF = dt.date(2024, 12, 31)
RES = 7
CENTRE = h3.latlng_to_cell(22.8170, 108.3665, RES)
#: Ten cells in a row going away from the centre (distinct, non-adjacent beyond the first).
CELLS = [h3.grid_ring(CENTRE, k)[0] for k in range(10)]


def _point(cell: str) -> tuple[float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    return lon, lat


def _enterprises() -> pd.DataFrame:
    """E0..E9, one per cell; E0 key, E1 special, E2 without category, the rest general;
    E0..E4 of industry C2211, E5..E8 of C3360, E9 of none."""
    rows = []
    for i, cell in enumerate(CELLS):
        lon, lat = _point(cell)
        category = {0: "key", 1: "special", 2: None}.get(i, "general")
        industry = "C2211" if i < 5 else ("C3360" if i < 9 else None)
        rows.append(
            {
                "credit_code": f"E{i}",
                "lon": lon,
                "lat": lat,
                "category": category,
                "industry_code": industry,
            }
        )
    return pd.DataFrame(rows)


def _records(codes: list[str | None], dates: list[str], date_column: str) -> pd.DataFrame:
    ents = _enterprises().set_index("credit_code")
    lon = [ents.loc[c, "lon"] if c else _point(CELLS[9])[0] for c in codes]
    lat = [ents.loc[c, "lat"] if c else _point(CELLS[9])[1] for c in codes]
    return pd.DataFrame(
        {"credit_code": codes, "lon": lon, "lat": lat, date_column: pd.to_datetime(dates)}
    )


def _cases() -> pd.DataFrame:
    """E0 the repeat offender (4 cases, big penalties); E1, E3, E4 one small case each."""
    codes: list[str | None] = ["E0", "E0", "E0", "E0", "E1", "E3", "E4", None]
    dates = [
        "2022-03-01",
        "2023-03-01",
        "2024-02-01",
        "2024-06-01",
        "2024-01-10",
        "2023-05-05",
        "2022-08-08",
        "2024-04-04",
    ]
    cases = _records(codes, dates, "decision_date")
    cases["penalty_amount"] = [
        200_000.0,
        300_000.0,
        250_000.0,
        100_000.0,
        5_000.0,
        10_000.0,
        np.nan,
        1_000.0,
    ]
    cases["problem_type"] = [1, 1, 2, 2, 0, 0, -1, np.nan]
    return cases


def _inspections() -> pd.DataFrame:
    """Everyone but E5 inspected; E0 recently, E6 long ago (before the window)."""
    codes = ["E0", "E1", "E2", "E3", "E4", "E6", "E7", "E8", "E9", "E2"]
    dates = [
        "2024-11-01",
        "2024-06-01",
        "2023-06-01",
        "2024-03-01",
        "2024-09-01",
        "2019-01-01",
        "2023-01-01",
        "2022-05-01",
        "2024-10-01",
        "2024-01-01",
    ]
    inspections = _records(codes, dates, "inspection_date")  # type: ignore[arg-type]
    inspections["problem_found"] = [
        True,
        False,
        True,
        False,
        False,
        True,
        False,
        False,
        False,
        False,
    ]
    return inspections


def _risk(**kwargs: object) -> pd.DataFrame:
    tables = {
        "cases": _cases(),
        "inspections": _inspections(),
        "exceedances": _records(["E3", "E3", None], ["2024-01-01"] * 3, "date"),
        "complaints": _records(["E4"], ["2024-07-07"], "date"),
    }
    tables.update(kwargs.pop("tables", {}))  # type: ignore[call-overload]
    options: dict[str, object] = {"as_of": AS_OF, "resolution": RES, **kwargs}
    return enterprise_risk(_enterprises(), **tables, **options)  # type: ignore[arg-type]


def test_contributions_sum_to_the_score_for_enterprises_and_cells() -> None:
    out = _risk()
    contributions = out.filter(regex="^c_")
    assert_allclose(contributions.sum(axis=1), out["score"], atol=1e-12)
    assert out["score"].between(0, 1).all()
    cells = cell_risk(_enterprises(), _cases(), _inspections(), as_of=AS_OF)
    assert_allclose(cells.filter(regex="^c_").sum(axis=1), cells["score"], atol=1e-12)
    used = out.attrs["parameters"]["weights"]
    assert list(contributions.columns) == [f"c_{k}" for k in used]
    assert_allclose(contributions.max(), [used[k] for k in used])  # every top unit gets 1


def test_planted_repeat_offender_ranks_first_with_its_reasons() -> None:
    out = _risk()
    top = out.loc[out["score"].idxmax()]
    assert top["credit_code"] == "E0"
    assert top["reasons"][:2] == ["repeat_offending", "severity"]
    assert top["v_repeat_offending"] == 4.0
    assert top["v_severity"] == 850_000.0
    assert top["tier"] == "high"
    assert (out.loc[out["credit_code"] != "E0", "v_repeat_offending"] == 0).all()
    # E4's only case has no known penalty: no severity, and no problem type either
    e4 = out.set_index("credit_code").loc["E4"]
    assert (e4["v_severity"], e4["v_problem_mix"]) == (0.0, 0.0)


def test_problem_mix_is_the_mean_heaviness_of_the_case_types() -> None:
    out = _risk().set_index("credit_code")
    heavy = {0: 7_500.0, 1: 250_000.0, 2: 175_000.0}  # mean penalty of each type
    assert out.loc["E0", "v_problem_mix"] == pytest.approx((2 * heavy[1] + 2 * heavy[2]) / 4)
    assert out.loc["E1", "v_problem_mix"] == pytest.approx(heavy[0])


def test_never_inspected_enterprise_has_the_longest_inspection_gap() -> None:
    out = _risk().set_index("credit_code")
    gap = out["v_inspection_gap"]
    assert gap.idxmax() == "E5"
    assert out.loc["E5", "c_inspection_gap"] == out["c_inspection_gap"].max()
    # records begin 2019-01-01 (E6's inspection): E5 counts as not inspected since then
    end = pd.Timestamp("2025-01-01")
    assert gap["E5"] == pytest.approx((end - pd.Timestamp("2019-01-01")).days / 365.25)
    assert gap["E6"] == pytest.approx(gap["E5"])  # E6 last seen on that very day, none since
    # E2: last inspected 2024-01-01, twice in the window → gap / (1 + 2)
    assert gap["E2"] == pytest.approx((end - pd.Timestamp("2024-01-01")).days / 365.25 / 3)


def test_problems_found_counts_the_windows_inspections_that_found_one() -> None:
    out = _risk().set_index("credit_code")
    # E0 (2024-11-01) and E2 (2023-06-01) found a problem in the window; E6's was in 2019
    found = out["v_problems_found"]
    assert found[found > 0].to_dict() == {"E0": 1.0, "E2": 1.0}
    assert out.loc["E0", "c_problems_found"] == DEFAULT_RISK_WEIGHTS["problems_found"]
    cells = cell_risk(_enterprises(), _cases(), _inspections(), as_of=AS_OF).set_index("h3")
    assert cells["v_problems_found"].sum() == 2.0
    assert cells.loc[h3.str_to_int(CELLS[2]), "v_problems_found"] == 1.0
    # no inspection in the window found a problem: the component has no data
    quiet = _inspections().assign(problem_found=False)
    assert (
        "problems_found"
        not in _risk(tables={"inspections": quiet}).attrs["parameters"]["components"]
    )


def test_industry_rate_is_the_case_rate_of_the_other_enterprises_of_the_industry() -> None:
    out = _risk().set_index("credit_code")
    # C2211 (E0..E4) has 4 + 1 + 1 + 1 = 7 cases in the window; each enterprise's rate
    # leaves its own out: E0 (7 − 4)/4, E2 7/4, E1/E3/E4 6/4; C3360 none; E9 no code
    rate = out["v_industry_rate"]
    assert rate[["E0", "E1", "E2", "E3", "E4"]].tolist() == [0.75, 1.5, 1.75, 1.5, 1.5]
    assert (rate[["E5", "E6", "E7", "E8", "E9"]] == 0).all()
    assert rate.idxmax() == "E2"  # the one clean enterprise of a busy industry
    cells = cell_risk(_enterprises(), _cases(), _inspections(), as_of=AS_OF).set_index("h3")
    assert cells.loc[h3.str_to_int(CELLS[2]), "v_industry_rate"] == 1.75  # its one enterprise
    # without industry codes the component drops out and the others are renormalised
    plain = enterprise_risk(
        _enterprises().drop(columns="industry_code"), _cases(), _inspections(), as_of=AS_OF
    )
    assert "industry_rate" in plain.attrs["parameters"]["components_dropped"]
    assert sum(plain.attrs["parameters"]["weights"].values()) == pytest.approx(1.0)


def test_missing_exceedances_renormalise_the_weights() -> None:
    full = _risk()
    assert "exceedances" in full.attrs["parameters"]["components"]
    dropped = _risk(tables={"exceedances": None})
    parameters = dropped.attrs["parameters"]
    assert "exceedances" not in parameters["components"]
    assert "v_exceedances" not in dropped.columns and "c_exceedances" not in dropped.columns
    rest = 1.0 - DEFAULT_RISK_WEIGHTS["exceedances"]
    expected = {k: w / rest for k, w in DEFAULT_RISK_WEIGHTS.items() if k != "exceedances"}
    assert parameters["weights"] == pytest.approx(expected)
    assert sum(parameters["weights"].values()) == pytest.approx(1.0)
    assert parameters["components_dropped"] == ["exceedances"]
    json.dumps(parameters)  # JSON-ready
    # an empty table, or one with only records after as_of, is no data either
    late = _records(["E3"], ["2025-01-01"], "date")
    assert _risk(tables={"exceedances": late}).attrs["parameters"] == parameters


def test_zero_weights_and_unknown_components() -> None:
    out = _risk(weights={"severity": 1.0, "complaints": 0.0})
    assert out.attrs["parameters"]["weights"] == {"severity": 1.0}
    assert_allclose(out["score"], out["c_severity"])
    with pytest.raises(RiskError, match="unknown risk components"):
        _risk(weights={"severity": 1.0, "typo": 1.0})
    with pytest.raises(RiskError, match="no risk component"):
        _risk(weights={"exceedances": 1.0}, tables={"exceedances": None})
    with pytest.raises(RiskError, match="finite"):
        _risk(weights={"severity": -1.0})


def test_records_after_as_of_are_ignored() -> None:
    base = _risk()
    late_case = _cases().iloc[[4]].assign(decision_date=pd.Timestamp("2025-01-01"))
    late_visit = (
        _inspections()
        .iloc[[0]]
        .assign(credit_code="E5", inspection_date=pd.Timestamp("2025-01-01 08:00"))
    )
    later = _risk(
        tables={
            "cases": pd.concat([_cases(), late_case], ignore_index=True),
            "inspections": pd.concat([_inspections(), late_visit], ignore_index=True),
        }
    )
    assert_frame_equal(base, later)
    # on as_of itself a record counts
    today = _cases().iloc[[4]].assign(decision_date=pd.Timestamp("2024-12-31 17:00"))
    more = _risk(tables={"cases": pd.concat([_cases(), today], ignore_index=True)})
    assert more.set_index("credit_code").loc["E1", "v_repeat_offending"] == 2.0


def test_tiers_follow_the_score_quantiles() -> None:
    out = _risk(tiers=(0.8, 0.5))
    cuts = out.attrs["parameters"]["tiers"]
    assert cuts["high"]["min_score"] == pytest.approx(np.quantile(out["score"], 0.8))
    assert cuts["medium"]["min_score"] == pytest.approx(np.quantile(out["score"], 0.5))
    high = out["score"] >= cuts["high"]["min_score"]
    medium = (out["score"] >= cuts["medium"]["min_score"]) & ~high
    assert (out.loc[high, "tier"] == "high").all() and high.sum() == 2
    assert (out.loc[medium, "tier"] == "medium").all() and medium.sum() == 3
    assert (out.loc[~high & ~medium, "tier"] == "low").all()
    with pytest.raises(RiskError, match="tiers"):
        _risk(tiers=(0.5, 0.8))


@pytest.mark.parametrize(
    ("options", "credibility"),
    [
        ({"tiers": (0.8, 0.5)}, {"high": 0.0, "medium": 0.0, "low": 0.0}),
        # only E4 (complaints, no findings) scores; the low tier's rates are 2, ½, ½, ½ and
        # five 0: m = 7/18, var = 61/162, Z = 1 − (m/2)/var = 59/122
        ({"weights": {"complaints": 1.0}}, {"high": 0.0, "low": 59 / 122}),
    ],
)
def test_expected_findings_shrink_rates_toward_the_tier_mean(
    options: dict[str, object], credibility: dict[str, float]
) -> None:
    out = _risk(window_years=2, **options)
    by_tier = out.attrs["parameters"]["expected_findings"]["by_tier"]
    assert {t: s["credibility"] for t, s in by_tier.items()} == pytest.approx(credibility)
    # findings in 2023-01-01 .. 2024-12-31: cases + inspections that found a problem
    found = {"E0": 3 + 1, "E1": 1, "E3": 1, "E2": 1}
    rate = out["credit_code"].map(found).fillna(0).to_numpy() / 2.0
    for tier, summary in by_tier.items():
        members = (out["tier"] == tier).to_numpy()
        mean = rate[members].mean()
        between = max(rate[members].var() - mean / 2.0, 0.0)
        z = between / (between + mean / 2.0) if mean > 0 else 0.0
        assert summary["mean_rate"] == pytest.approx(mean)
        assert summary["credibility"] == pytest.approx(z)
        assert_allclose(out.loc[members, "expected_findings"], z * rate[members] + (1 - z) * mean)
    assert_allclose(out["expected_findings"].sum(), rate.sum())  # shrinkage keeps tier totals


def test_cells_count_all_records_and_sum_enterprises() -> None:
    cells = cell_risk(
        _enterprises(), _cases(), _inspections(), as_of=AS_OF, resolution=RES
    ).set_index("h3")
    ents = enterprise_risk(_enterprises(), _cases(), _inspections(), as_of=AS_OF)
    last = h3.str_to_int(CELLS[9])
    assert cells.loc[last, "v_case_density"] == 1.0  # the case without a credit code
    assert cells.loc[last, "enterprises"] == 1
    assert cells["enterprises"].sum() == 10
    assert_allclose(cells["expected_findings"].sum(), ents["expected_findings"].sum())
    first = h3.str_to_int(CELLS[0])
    assert cells.loc[first, "v_repeat_offending"] == 4.0
    assert cells.attrs["parameters"]["unit"] == "cell"


def test_hotspot_and_trend_of_cell_counts() -> None:
    cluster = [CENTRE] + [c for c in h3.grid_disk(CENTRE, 1) if c != CENTRE]
    codes = [f"H{i}" for i in range(len(cluster))]
    points = np.array([_point(c) for c in cluster])
    ents = pd.DataFrame({"credit_code": codes, "lon": points[:, 0], "lat": points[:, 1]})
    # three cases per cluster cell; the centre's rising 1, 2, 3 over the three years
    rows = [(c, y) for c in codes[1:] for y in ("2022-06-01", "2023-06-01", "2024-06-01")]
    rows += [("H0", "2022-06-01")] + [("H0", "2023-06-01")] * 2 + [("H0", "2024-06-01")] * 3
    where = ents.set_index("credit_code")
    cases = pd.DataFrame(
        {
            "credit_code": [c for c, _ in rows],
            "lon": [where.loc[c, "lon"] for c, _ in rows],
            "lat": [where.loc[c, "lat"] for c, _ in rows],
            "decision_date": pd.to_datetime([d for _, d in rows]),
            "penalty_amount": 1.0,
        }
    )
    area = np.array([h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 4)], dtype=np.int64)
    out = cell_risk(ents, cases, None, as_of=AS_OF, area_cells=area).set_index("h3")
    centre = h3.str_to_int(CENTRE)
    # Mann–Kendall of (1, 2, 3): S = 3, var = 3·2·11/18, z = (S − 1)/sqrt(var)
    assert out.loc[centre, "v_trend"] == pytest.approx(2 / np.sqrt(66 / 18))
    assert (out.drop(index=centre)["v_trend"] == 0).all()  # flat series
    assert out.loc[centre, "v_hotspot"] > 3  # the cluster against 54 empty cells
    without_area = cell_risk(ents, cases, None, as_of=AS_OF).set_index("h3")
    assert without_area.loc[centre, "v_hotspot"] < out.loc[centre, "v_hotspot"]


def test_deterministic_and_independent_of_row_order() -> None:
    a, b = _risk(), _risk()
    assert_frame_equal(a, b)
    shuffled = enterprise_risk(
        _enterprises().sample(frac=1.0, random_state=3),
        _cases().sample(frac=1.0, random_state=4),
        _inspections().sample(frac=1.0, random_state=5),
        _records(["E3", "E3", None], ["2024-01-01"] * 3, "date"),
        _records(["E4"], ["2024-07-07"], "date"),
        as_of=AS_OF,
    )
    assert_frame_equal(
        a.set_index("credit_code").sort_index(), shuffled.set_index("credit_code").sort_index()
    )


def test_bad_inputs_raise() -> None:
    ents = _enterprises()
    with pytest.raises(RiskError, match="unique"):
        enterprise_risk(pd.concat([ents, ents.iloc[[0]]]), _cases(), None, as_of=AS_OF)
    with pytest.raises(RiskError, match="penalty_amount"):
        enterprise_risk(ents, _cases().drop(columns="penalty_amount"), None, as_of=AS_OF)
    with pytest.raises(RiskError, match="window_years"):
        enterprise_risk(ents, _cases(), None, as_of=AS_OF, window_years=0)
    with pytest.raises(ValueError):  # RiskError is a ValueError
        enterprise_risk(ents, _cases(), None, as_of="2024-12-31")  # type: ignore[arg-type]
