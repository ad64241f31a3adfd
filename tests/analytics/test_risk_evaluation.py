"""Risk evaluation metrics on hand-made cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analytics.risk_evaluation import (
    EvaluationError,
    beats,
    evaluate_split,
    fit_calibration,
    ranking,
    reliability,
    top_share,
)


def test_auc_and_average_precision_of_a_hand_made_ranking() -> None:
    # positives at ranks 1, 3, 4 of 6: of the 3 × 3 positive-negative pairs, the
    # positive is ahead in 3 + 2 + 2 = 7, so AUC = 7/9; precision at each positive
    # 1/1, 2/3, 3/4, so AP = (1 + 2/3 + 3/4) / 3
    score = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1]
    outcome = [1, 0, 1, 1, 0, 0]
    r = ranking(score, outcome)
    assert_allclose(r["roc_auc"], 7 / 9)
    assert_allclose(r["pr_auc"], (1 + 2 / 3 + 3 / 4) / 3)


def test_ties_count_one_half_in_the_auc() -> None:
    # one positive tied with one negative, both above the other negative: (1 + 0.5) / 2
    assert_allclose(ranking([0.5, 0.5, 0.1], [1, 0, 0])["roc_auc"], 0.75)
    # a constant score ranks nothing
    assert ranking([1.0] * 4, [1, 0, 0, 1])["roc_auc"] == 0.5


def test_auc_matches_the_mann_whitney_count_on_random_scores() -> None:
    rng = np.random.default_rng(3)
    score = rng.integers(0, 5, 300).astype(float)
    outcome = rng.random(300) < 0.2
    pos, neg = score[outcome], score[~outcome]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert_allclose(ranking(score, outcome)["roc_auc"], pairs / (pos.size * neg.size))


def test_lift_at_k_takes_tied_units_in_proportion() -> None:
    # 10 units, 2 positives; the top 20 % are units 0 and 1, one of them positive
    score = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    outcome = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    top = top_share(score, outcome, 0.2)
    assert top == {"k": 2, "precision": 0.5, "recall": 0.5, "lift": 2.5}
    # one unit above the cut, four tied at it holding one positive: 1 + 1 × 1/4 expected
    tied = top_share([5, 1, 1, 1, 1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 0, 0, 0], 0.2)
    assert_allclose(tied["precision"], 1.25 / 2)
    assert_allclose(tied["lift"], (1.25 / 2) / 0.2)
    # a perfect ranking at 5 % of 100 units with 5 positives: lift 1 / 0.05 = 20
    perfect = top_share(np.arange(100.0), np.arange(100) >= 95, 0.05)
    assert perfect["lift"] == 20.0 and perfect["recall"] == 1.0


def test_reliability_table_of_a_calibrated_and_a_miscalibrated_forecast() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0.0, 0.6, 20_000)
    outcome = rng.random(p.size) < p
    good = reliability(p, outcome, bins=5)
    assert len(good["table"]) == 5 and sum(r["n"] for r in good["table"]) == p.size
    for row in good["table"]:
        assert abs(row["observed"] - row["predicted"]) < 0.03
        assert row["low"] <= row["predicted"] <= row["high"]
    assert good["ece"] < 0.02 and good["brier"] < good["brier_reference"]
    doubled = reliability(np.clip(2 * p, 0, 1), outcome, bins=5)
    assert doubled["ece"] > 0.2 and doubled["brier"] > good["brier"]


def test_isotonic_calibration_maps_a_score_to_the_observed_rates() -> None:
    # scores 0..3 with observed rates 0, 1/4, 1/2, 1 become those probabilities
    score = np.repeat([0.0, 1.0, 2.0, 3.0], 4)
    outcome = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1])
    model = fit_calibration(score, outcome)
    assert_allclose(model.predict([0.0, 1.0, 2.0, 3.0, 9.0]), [0.0, 0.25, 0.5, 1.0, 1.0])


def test_a_split_calibrates_on_train_and_ranks_on_test() -> None:
    rng = np.random.default_rng(11)
    n = 5000
    risk_train, risk_test = rng.gamma(2.0, 1.0, n), rng.gamma(2.0, 1.0, n)
    y_train = rng.random(n) < 1 - np.exp(-0.1 * risk_train)
    y_test = rng.random(n) < 1 - np.exp(-0.1 * risk_test)
    train = {"model": risk_train, "noise": rng.random(n)}
    test = {"model": risk_test, "noise": rng.random(n)}
    result = evaluate_split(train, y_train, test, y_test, model="model")
    assert result["units"] == n and result["positives"] == int(y_test.sum())
    model, noise = result["scores"]["model"], result["scores"]["noise"]
    assert model["roc_auc"] > 0.6 and abs(noise["roc_auc"] - 0.5) < 0.05
    assert model["pr_auc"] > noise["pr_auc"] and model["brier"] < noise["brier"]
    assert set(model["lift_at"]) == {"5%", "10%", "20%"}
    assert model["lift_at"]["5%"]["lift"] > model["lift_at"]["20%"]["lift"] > 1.0
    calibration = result["calibration"]
    assert calibration["method"].startswith("isotonic")
    assert calibration["ece"] < 0.02
    assert beats(result, "model", ["noise"]) == {"noise": True}


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(EvaluationError, match="one class"):
        ranking([0.1, 0.2], [0, 0])
    with pytest.raises(EvaluationError, match="one length"):
        ranking([0.1, 0.2], [0, 1, 1])
    with pytest.raises(EvaluationError, match="0/1"):
        ranking([0.1, 0.2], [0, 2])
    with pytest.raises(EvaluationError, match="finite"):
        ranking([np.nan, 0.2], [0, 1])
    with pytest.raises(EvaluationError, match="fraction"):
        top_share([0.1, 0.2], [0, 1], 0.0)
    with pytest.raises(EvaluationError, match="same scores"):
        evaluate_split({"a": [0, 1]}, [0, 1], {"b": [0, 1]}, [0, 1], model="a")
    with pytest.raises(EvaluationError, match=r"\[0, 1\]"):
        reliability([1.5, 0.2], [0, 1])
