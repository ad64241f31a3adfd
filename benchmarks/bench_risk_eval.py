"""Risk evaluation: does the score predict next year's cases, better than simple rules?

The default-size generated sample (as ``bench_backtest``: 23k enterprises, all six
kinds ingested; ``--quick``: the bundled slice), evaluated as ``geo-service
evaluate-risk --test-year 2023 --test-year 2024 --test-year 2025`` does: per
located register enterprise, the score from the data up to the end of the year
before the test year against "at least one case in the test year"; ROC AUC,
PR-AUC (average precision) and lift at 5/10/20 % of the enterprises beside the
baselines (last year's cases, cases in the window, any prior case, random); the
reliability of the score after isotonic calibration on the year before; the draw's
lift over a uniform draw.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_backtest import full_sample_store
from benchmarks.report import Row, stopwatch
from benchmarks.serving import sample_store
from geo_service.core.settings import Settings

TEST_YEARS, N_DRAWS = [2023, 2024, 2025], 200


def _figures(score: dict[str, Any]) -> str:
    lifts = "/".join(f"{score['lift_at'][k]['lift']:.2f}" for k in ("5%", "10%", "20%"))
    return f"AUC {score['roc_auc']:.3f}, PR-AUC {score['pr_auc']:.3f}, lift@5/10/20% {lifts}"


def _split_rows(split: dict[str, Any], baselines: dict[str, str], source: str) -> list[Row]:
    year, model = split["test_year"], split["scores"]["risk_score"]
    head = (
        f"{split['units']:,} enterprises, {split['positives']:,} with a case in {year} "
        f"({split['prevalence']:.1%}); {source}"
    )
    rows = [
        Row(
            work=f"risk score vs {name}, test {year} (risk to {split['train_until']})",
            figure=_figures(model),
            target="higher AUC and PR-AUC",
            met=split["beats"][name],
            baseline=f"{name}: {meaning}",
            baseline_figure=_figures(split["scores"][name]),
            note=head if name == next(iter(baselines)) else "",
        )
        for name, meaning in baselines.items()
    ]
    calibration = split["calibration"]
    bins = "; ".join(
        f"{r['predicted']:.3f}→{r['observed']:.3f} (n {r['n']:,})" for r in calibration["table"]
    )
    rows.append(
        Row(
            work=f"calibration, test {year}: isotonic fitted on "
            f"{split['calibrated_on']['scores_as_of']} → {split['calibrated_on']['outcomes_of']}",
            figure=f"Brier {calibration['brier']:.4f}, ECE {calibration['ece']:.4f}",
            target="Brier below the rate-only forecast",
            met=calibration["brier"] < calibration["brier_reference"],
            baseline="the overall rate for everyone",
            baseline_figure=f"Brier {calibration['brier_reference']:.4f}",
            note=f"reliability, mean predicted → observed per bin: {bins}",
        )
    )
    draw = split["draw"]
    lift = draw["lift"]
    rows.append(
        Row(
            work=f"draw lift, test {year}: risk-weighted vs uniform draw",
            figure=f"lift {lift['ratio_of_means']:.2f} (p05–p95 {lift['p05']:.2f}–"
            f"{lift['p95']:.2f})",
            target="lift > 1 (p05)",
            met=lift["p05"] is not None and lift["p05"] > 1.0,
            baseline="uniform draw, same stratified sizes",
            baseline_figure=f"hit rate {draw['uniform_hit_rate']['mean']:.1%} against "
            f"{draw['risk_weighted_hit_rate']['mean']:.1%}",
            note=f"{draw['n_draws']} draws, hits = {int(draw['violations']):,} cases of {year}",
        )
    )
    return rows


def run(quick: bool = False) -> list[Row]:
    from geo_service.planning.risk_evaluation import evaluate_risk
    from geo_service.store import make_engine

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        with stopwatch() as prepare:
            url = sample_store(Path(tmp)) if quick else full_sample_store(Path(tmp))
        engine = make_engine(url)
        with stopwatch() as elapsed:
            result = evaluate_risk(
                engine, test_years=TEST_YEARS, settings=Settings(database_url=url), n_draws=N_DRAWS
            )
        engine.dispose()
    weights = ", ".join(f"{k} {w:.2f}" for k, w in result["risk"]["weights"].items())
    source = (
        f"{'bundled slice' if quick else 'default-size sample'}; evaluation of "
        f"{len(TEST_YEARS)} splits {elapsed():.1f} s (store built in {prepare():.0f} s; "
        f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"other work on the machine); weights used (renormalised; problem_mix drops out "
        f"without problem types): {weights}"
    )
    rows: list[Row] = []
    for split in result["splits"]:
        rows.extend(_split_rows(split, result["baselines"], source))
    return rows
