"""Evaluation of a risk score as a prediction of next year's cases, per enterprise.

A score computed from the data up to the end of year ``T`` is read as a forecast
of the outcome "the enterprise has at least one penalty case in year ``T + 1``".
The functions here are pure (arrays in, JSON-ready dicts out) and use
scikit-learn's metrics:

- **ranking**: ROC AUC (ties count one half, as in the Mann–Whitney U) and
  average precision (PR-AUC, the step-wise area of scikit-learn, tied scores
  forming one step);
- **lift at k**: the share of the positives among the top ``k`` of the units
  over the share of all units, with units tied at the cut counted by their
  expected share under random tie-breaking (so a score with many ties, such as
  last year's case count, is neither helped nor harmed by the order of rows);
- **calibration**: a score in ``[0, 1]`` is not a probability. It is mapped to
  one by isotonic regression fitted on a *training* pair (the score as of
  ``T − 1`` against the outcomes of ``T``) and then applied to the test pair
  (score as of ``T`` against ``T + 1``); the reliability table gives, per bin of
  predicted probability, the mean prediction and the observed rate, with the
  Brier score and the expected calibration error.

:func:`evaluate_split` puts these together for a model score and its
baselines on one train/test split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from analytics.errors import AnalyticsError

#: Shares of the units at which the lift is reported.
LIFT_AT: tuple[float, ...] = (0.05, 0.10, 0.20)

#: Bins of the reliability table (quantiles of the predicted probability).
RELIABILITY_BINS = 10


class EvaluationError(AnalyticsError):
    """Scores and outcomes that cannot be evaluated (lengths, values, one class only)."""


def _pair(score: ArrayLike, outcome: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(outcome)
    if s.ndim != 1 or s.shape != y.shape:
        raise EvaluationError(f"score and outcome must be 1-D of one length: {s.shape}, {y.shape}")
    if not np.isfinite(s).all():
        raise EvaluationError("scores must be finite")
    if not np.isin(y, (0, 1)).all():
        raise EvaluationError("outcomes must be 0/1 (or booleans)")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise EvaluationError("the outcomes hold one class only: AUC and PR-AUC are undefined")
    return s, y


def top_share(score: ArrayLike, outcome: ArrayLike, fraction: float) -> dict[str, float]:
    """Expected positives among the top ``fraction`` of the units by score.

    ``k = round(fraction · n)`` units (at least 1) are taken from the top; units
    tied with the ``k``-th are taken in proportion, as random tie-breaking would
    on average. Returns ``k``, ``precision`` (positive share of the ``k``),
    ``recall`` (share of all positives reached) and ``lift`` (precision over the
    positive share of all units).

    Examples
    --------
    >>> top_share([4, 3, 2, 1], [1, 0, 1, 0], 0.5)
    {'k': 2, 'precision': 0.5, 'recall': 0.5, 'lift': 1.0}
    >>> top_share([1, 1, 1, 1], [1, 0, 0, 0], 0.5)["lift"]  # all tied: a random half
    1.0
    """
    s, y = _pair(score, outcome)
    if not 0 < fraction <= 1:
        raise EvaluationError(f"fraction must be in (0, 1]: {fraction}")
    n = s.size
    k = max(1, min(n, round(fraction * n)))
    cut = np.sort(s)[::-1][k - 1]
    above, tied = s > cut, s == cut
    hits = y[above].sum() + (k - above.sum()) * y[tied].mean()
    precision = float(hits / k)
    prevalence = float(y.mean())
    return {
        "k": int(k),
        "precision": precision,
        "recall": float(hits / y.sum()),
        "lift": precision / prevalence,
    }


def ranking(score: ArrayLike, outcome: ArrayLike) -> dict[str, Any]:
    """ROC AUC, average precision and the lift at :data:`LIFT_AT` of one score.

    Examples
    --------
    >>> r = ranking([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0])
    >>> r["roc_auc"], round(r["pr_auc"], 4)
    (0.75, 0.8333)
    """
    s, y = _pair(score, outcome)
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "lift_at": {f"{f:.0%}": top_share(s, y, f) for f in LIFT_AT},
    }


def fit_calibration(score: ArrayLike, outcome: ArrayLike) -> IsotonicRegression:
    """Isotonic regression of the outcome on the score (non-decreasing, clipped to the
    training range): a probability for any score."""
    s, y = _pair(score, outcome)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    return model.fit(s, y.astype(np.float64))


def reliability(
    probability: ArrayLike, outcome: ArrayLike, bins: int = RELIABILITY_BINS
) -> dict[str, Any]:
    """Reliability table of predicted probabilities against observed outcomes.

    Bins are quantiles of the predictions (equal counts where ties allow; tied
    predictions stay in one bin). Each row has the bin's range, its units, the
    mean prediction and the observed rate. ``brier`` is the mean squared error,
    ``brier_reference`` that of predicting the observed overall rate for every
    unit, and ``ece`` the unit-weighted mean of ``|observed − predicted|`` over
    the bins.

    Examples
    --------
    >>> t = reliability([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1], bins=2)
    >>> [(r["n"], r["predicted"], r["observed"]) for r in t["table"]], round(t["ece"], 9)
    ([(2, 0.1, 0.0), (2, 0.9, 1.0)], 0.1)
    """
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(outcome).astype(np.float64)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise EvaluationError("probabilities and outcomes must be 1-D of one length")
    if not ((p >= 0) & (p <= 1)).all():
        raise EvaluationError("probabilities must lie in [0, 1]")
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(edges.size - 2, 0))
    table = []
    ece = 0.0
    for b in np.unique(which):
        members = which == b
        predicted, observed = float(p[members].mean()), float(y[members].mean())
        ece += members.sum() / p.size * abs(observed - predicted)
        table.append(
            {
                "low": float(p[members].min()),
                "high": float(p[members].max()),
                "n": int(members.sum()),
                "predicted": predicted,
                "observed": observed,
            }
        )
    rate = float(y.mean())
    return {
        "table": table,
        "brier": float(brier_score_loss(y, p)),
        "brier_reference": float(np.mean((y - rate) ** 2)),
        "ece": float(ece),
    }


def evaluate_split(
    train: Mapping[str, ArrayLike],
    train_outcome: ArrayLike,
    test: Mapping[str, ArrayLike],
    test_outcome: ArrayLike,
    *,
    model: str = "model",
    bins: int = RELIABILITY_BINS,
) -> dict[str, Any]:
    """Ranking and calibration of several scores on one time split.

    Parameters
    ----------
    train, test : mapping of name → (n,) array_like
        The same named scores (the model and its baselines) as of the end of the
        training year (``T − 1``, for calibration) and of the test year's eve
        (``T``, evaluated); train and test may hold different units.
    train_outcome, test_outcome : array_like of 0/1
        Whether each unit had a case in the year after the scores' (``T`` and
        ``T + 1``).
    model : str
        Which score is the model (its reliability table is reported).
    bins : int
        Bins of the reliability table.

    Returns
    -------
    dict
        ``units`` and ``positives`` of the test pair, ``prevalence``; ``scores``:
        per name the :func:`ranking` of its test score plus ``brier`` after
        isotonic calibration on the training pair; ``calibration``: the model's
        reliability table (:func:`reliability`) with ``method``.

    Examples
    --------
    >>> r = evaluate_split({"m": [0, 1, 2, 3]}, [0, 0, 1, 1], {"m": [0, 2, 3, 1]},
    ...                    [0, 1, 1, 0], model="m", bins=2)
    >>> r["scores"]["m"]["roc_auc"], r["calibration"]["table"][1]["observed"]
    (1.0, 1.0)
    """
    if model not in test or set(train) != set(test):
        raise EvaluationError("train and test need the same scores, the model among them")
    y = np.asarray(test_outcome)
    scores: dict[str, Any] = {}
    calibration: dict[str, Any] = {}
    for name in test:
        calibrator = fit_calibration(train[name], train_outcome)
        s, y = _pair(test[name], test_outcome)
        probability = calibrator.predict(s)
        table = reliability(probability, y, bins)
        scores[name] = {**ranking(s, y), "brier": table["brier"]}
        if name == model:
            calibration = {
                "method": "isotonic regression fitted on the training pair "
                "(score as of the year before against that year's outcomes)",
                **table,
            }
    return {
        "units": int(y.size),
        "positives": int(y.sum()),
        "prevalence": float(y.mean()),
        "scores": scores,
        "calibration": calibration,
    }


def beats(result: Mapping[str, Any], model: str, baselines: Sequence[str]) -> dict[str, bool]:
    """Whether the model's ROC AUC and PR-AUC both exceed each baseline's."""
    m = result["scores"][model]
    return {
        b: m["roc_auc"] > result["scores"][b]["roc_auc"]
        and m["pr_auc"] > result["scores"][b]["pr_auc"]
        for b in baselines
    }
