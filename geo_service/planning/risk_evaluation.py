"""Does the risk score predict next year's cases? Time-split evaluation over the store.

For a test year ``Y`` the score is computed, exactly as the risk layer and the draw
compute it (:func:`geo_service.builds.risk_inputs.enterprise_scores` with the
settings' weights), from the records dated up to ``Y − 1``-12-31, and each located
register enterprise of the jurisdiction is a unit whose outcome is "at least one
penalty case decided in ``Y``" (linked by ``enterprise_credit_code``, as
everywhere). The same score one year earlier (up to ``Y − 2``-12-31, against the
outcomes of ``Y − 1``) is the training pair on which the score is calibrated to a
probability; nothing of ``Y`` is seen before the evaluation.

Baselines, each from the same records up to ``Y − 1``: last year's case count,
the count over the score's window, any prior penalty case at all (repeat
offender) and a seeded random score (uniform). The draw's lift is that of
:func:`analytics.backtest.backtest_draws` on the same scores and outcomes
(cases of ``Y`` per enterprise), as ``geo-service backtest`` gives it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from analytics.backtest import backtest_draws
from analytics.draw import seeded_generator
from analytics.risk_evaluation import LIFT_AT, beats, evaluate_split
from geo_service.builds.risk_inputs import enterprise_scores, read_risk_records
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings, parse_quotas
from geo_service.planning.draws import YEARS
from geo_service.store.queries import read_frame

MODEL = "risk_score"
#: Baselines, in the order they are reported, and what each is.
BASELINES: dict[str, str] = {
    "last_year_cases": "cases of the enterprise in the last year before the test year",
    "window_cases": "cases of the enterprise in the score's window (the same years)",
    "any_prior_case": "1 for an enterprise with any case up to the year before (repeat "
    "offender), else 0",
    "uniform": "a seeded random score (a uniform draw)",
}
OUTCOME = "at least one penalty case decided in the test year, linked to the enterprise"


def _year_end(year: int) -> dt.date:
    return dt.date(year, 12, 31)


def _case_years(engine: Engine, jurisdiction: str | None) -> pd.DataFrame:
    """Linked cases of the jurisdiction: ``credit_code`` and ``year``."""
    cases = read_frame(
        engine,
        "cases",
        Filters(jurisdiction=jurisdiction),
        ["enterprise_credit_code", "decision_date"],
    ).dropna()
    return pd.DataFrame(
        {
            "credit_code": cases["enterprise_credit_code"].astype(str).to_numpy(),
            "year": pd.to_datetime(cases["decision_date"]).dt.year.to_numpy(),
        }
    )


def default_test_years(engine: Engine, jurisdiction: str | None = None) -> list[int]:
    """The two latest years with cases that have two earlier years of cases (a training
    pair needs the year before the test year and one before that)."""
    years = sorted(set(_case_years(engine, jurisdiction)["year"].tolist()))
    usable = [y for y in years if y - 1 in years and y - 2 in years]
    return usable[-2:]


def _counts(cases: pd.DataFrame, codes: pd.Series, first: int, last: int) -> np.ndarray:
    within = cases[(cases["year"] >= first) & (cases["year"] <= last)]
    counts = within["credit_code"].value_counts()
    return counts.reindex(codes.astype(str), fill_value=0).to_numpy(dtype=np.float64)


def _scored(
    engine: Engine,
    cases: pd.DataFrame,
    year: int,
    settings: Settings,
    jurisdiction: str | None,
    window_years: int,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """Scores as of ``year``-12-31 (model and baselines) and the cases of ``year + 1``."""
    records = read_risk_records(engine, jurisdiction, _year_end(year))
    ents = enterprise_scores(
        engine,
        records,
        jurisdiction=jurisdiction,
        window_years=window_years,
        weights=settings.risk_weights,
        tiers=settings.risk_tier_quantiles,
    )
    codes = ents["credit_code"]
    rng = seeded_generator(seed, f"evaluate-risk:{year}")
    scores = {
        MODEL: ents["score"].to_numpy(dtype=np.float64),
        "last_year_cases": _counts(cases, codes, year, year),
        "window_cases": _counts(cases, codes, year - window_years + 1, year),
        "any_prior_case": (_counts(cases, codes, YEARS[0], year) > 0).astype(np.float64),
        "uniform": rng.random(len(ents)),
    }
    return ents, scores, _counts(cases, codes, year + 1, year + 1)


def evaluate_risk(
    engine: Engine,
    *,
    test_years: list[int],
    settings: Settings,
    jurisdiction: str | None = None,
    window_years: int = 3,
    n_draws: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """The model against its baselines on each test year (see the module docstring).

    Returns
    -------
    dict
        ``outcome``, ``model``, ``baselines`` (name → meaning), ``lift_at``, and
        ``splits``: per test year ``train_until``, ``calibrated_on``, the
        :func:`analytics.risk_evaluation.evaluate_split` result, ``beats`` (baseline →
        whether the model's ROC AUC and PR-AUC both exceed it) and ``draw`` (the
        draw's hit rates and lift over the uniform draw); ``risk`` the score's
        parameters of the last split.

    Raises
    ------
    BadFilterError
        A test year outside the bounds, or one without cases or with no case in
        the years the training pair needs.
    """
    if not test_years:
        raise BadFilterError("no test year: the store needs cases in three successive years")
    cases = _case_years(engine, jurisdiction)
    quotas = parse_quotas(settings.draw_quotas)
    splits = []
    parameters: dict[str, Any] = {}
    for year in sorted(set(test_years)):
        if not YEARS[0] + 2 <= year <= YEARS[1]:
            raise BadFilterError(f"test year {year} is outside {YEARS[0] + 2}-{YEARS[1]}")
        _, train, train_cases = _scored(
            engine, cases, year - 2, settings, jurisdiction, window_years, seed
        )
        ents, test, test_cases = _scored(
            engine, cases, year - 1, settings, jurisdiction, window_years, seed
        )
        try:
            result = evaluate_split(train, train_cases > 0, test, test_cases > 0, model=MODEL)
            draw = backtest_draws(
                test[MODEL],
                ents["category"].to_numpy(object),
                test_cases,
                quotas=quotas,
                n_draws=n_draws,
                seed=seed,
            )
        except ValueError as exc:
            raise BadFilterError(f"test year {year}: {exc}") from exc
        splits.append(
            {
                "test_year": year,
                "train_until": _year_end(year - 1).isoformat(),
                "calibrated_on": {
                    "scores_as_of": _year_end(year - 2).isoformat(),
                    "outcomes_of": year - 1,
                },
                **result,
                "beats": beats(result, MODEL, list(BASELINES)),
                "draw": {
                    "lift": draw["lift"],
                    "risk_weighted_hit_rate": draw["risk_weighted_hit_rate"],
                    "uniform_hit_rate": draw["uniform_hit_rate"],
                    "n_draws": draw["n_draws"],
                    "violations": draw["violations"],
                },
            }
        )
        parameters = dict(ents.attrs.get("parameters", {}))
    return {
        "outcome": OUTCOME,
        "jurisdiction": jurisdiction,
        "model": MODEL,
        "baselines": BASELINES,
        "lift_at": [f"{f:.0%}" for f in LIFT_AT],
        "seed": seed,
        "splits": splits,
        "risk": {k: parameters.get(k) for k in ("weights", "window_years", "resolution")},
    }


def evaluation_table(result: dict[str, Any]) -> str:
    """The evaluation as a readable text table: one block per split, one row per score."""
    lines = []
    header = f"{'score':<16} {'ROC AUC':>8} {'PR-AUC':>8} " + " ".join(
        f"{'lift@' + k:>9}" for k in result["lift_at"]
    )
    for split in result["splits"]:
        lines.append(
            f"test {split['test_year']} (risk to {split['train_until']}): "
            f"{split['units']} enterprises, {split['positives']} with a case "
            f"({split['prevalence']:.1%})"
        )
        lines.append(header)
        for name, s in split["scores"].items():
            lifts = " ".join(f"{s['lift_at'][k]['lift']:>9.2f}" for k in result["lift_at"])
            lines.append(f"{name:<16} {s['roc_auc']:>8.3f} {s['pr_auc']:>8.3f} {lifts}")
        calibration = split["calibration"]
        lines.append(
            f"calibration (isotonic, fitted on {split['calibrated_on']['scores_as_of']} → "
            f"{split['calibrated_on']['outcomes_of']}): Brier {calibration['brier']:.4f} "
            f"(rate only {calibration['brier_reference']:.4f}), ECE {calibration['ece']:.4f}"
        )
        lines.append(f"  {'predicted':>20} {'n':>6} {'mean p':>8} {'observed':>8}")
        for row in calibration["table"]:
            span = f"{row['low']:.3f}–{row['high']:.3f}"
            lines.append(
                f"  {span:>20} {row['n']:>6} {row['predicted']:>8.3f} {row['observed']:>8.3f}"
            )
        lift = split["draw"]["lift"]
        lines.append(
            f"draw lift over uniform: {lift['ratio_of_means']:.2f} "
            f"(p05–p95 {lift['p05']:.2f}–{lift['p95']:.2f}); beats "
            + ", ".join(f"{b} {'yes' if ok else 'NO'}" for b, ok in split["beats"].items())
        )
        lines.append("")
    return "\n".join(lines)
