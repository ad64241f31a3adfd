"""geo-service evaluate-risk on the bundled slice: output shape, splits, and the model
against its baselines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from geo_service.cli import app as cli
from geo_service.core.settings import get_settings
from tests.geo_service.draw_store import six_kind_store

BASELINES = {"last_year_cases", "window_cases", "any_prior_case", "uniform"}


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory, divisions_gdf) -> Engine:  # type: ignore[no-untyped-def]
    return six_kind_store(tmp_path_factory.mktemp("evaluate_six"), divisions_gdf)


@pytest.fixture
def evaluate(six: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run ``geo-service evaluate-risk --store URL`` with extra arguments."""
    monkeypatch.delenv("GEO_RISK_WEIGHTS", raising=False)
    get_settings.cache_clear()
    url = six.url.render_as_string(hide_password=False)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["evaluate-risk", "--store", url, *args])

    yield run
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def default_run(six: Engine) -> dict[str, Any]:
    """The default evaluation (two latest years) of the slice, parsed, with its table."""
    get_settings.cache_clear()
    url = six.url.render_as_string(hide_password=False)
    answer = CliRunner().invoke(cli, ["evaluate-risk", "--store", url, "--draws", "100"])
    assert answer.exit_code == 0, answer.output
    return {"json": json.loads(answer.stdout), "table": answer.stderr}


def test_output_has_every_metric_per_split_and_score(default_run: dict[str, Any]) -> None:
    result = default_run["json"]
    assert result["model"] == "risk_score" and set(result["baselines"]) == BASELINES
    assert result["lift_at"] == ["5%", "10%", "20%"]
    # the slice holds cases of 2021-2025: the two latest years with a training pair
    assert [s["test_year"] for s in result["splits"]] == [2024, 2025]
    for split in result["splits"]:
        year = split["test_year"]
        assert split["train_until"] == f"{year - 1}-12-31"
        assert split["calibrated_on"] == {
            "scores_as_of": f"{year - 2}-12-31",
            "outcomes_of": year - 1,
        }
        # every located enterprise of the slice is a unit
        assert split["units"] == 3000 and 0 < split["positives"] < split["units"]
        assert split["prevalence"] == pytest.approx(split["positives"] / split["units"])
        assert set(split["scores"]) == {"risk_score", *BASELINES}
        for score in split["scores"].values():
            assert 0 <= score["roc_auc"] <= 1 and 0 < score["pr_auc"] <= 1
            assert 0 <= score["brier"] <= 1
            assert set(score["lift_at"]) == {"5%", "10%", "20%"}
            for top in score["lift_at"].values():
                assert set(top) == {"k", "precision", "recall", "lift"}
        table = split["calibration"]
        assert table["method"].startswith("isotonic")
        assert sum(row["n"] for row in table["table"]) == split["units"]
        for row in table["table"]:
            assert set(row) == {"low", "high", "n", "predicted", "observed"}
        assert set(split["beats"]) == BASELINES
        draw = split["draw"]
        assert draw["n_draws"] == 100 and draw["lift"]["ratio_of_means"] > 1.0
    assert set(result["risk"]) == {"weights", "window_years", "resolution"}


def test_the_readable_table_names_each_split_and_score(default_run: dict[str, Any]) -> None:
    table = default_run["table"]
    for name in ("risk_score", *BASELINES, "ROC AUC", "PR-AUC", "lift@5%", "calibration"):
        assert name in table
    assert "test 2024 (risk to 2023-12-31)" in table and "test 2025" in table


def test_the_score_beats_every_baseline_on_three_splits(evaluate: Any) -> None:
    answer = evaluate("--draws", "50", *[f"--test-year={y}" for y in (2023, 2024, 2025)])
    assert answer.exit_code == 0, answer.output
    splits = json.loads(answer.stdout)["splits"]
    assert [s["test_year"] for s in splits] == [2023, 2024, 2025]
    for split in splits:
        assert split["beats"] == dict.fromkeys(BASELINES, True), split["scores"]
        model = split["scores"]["risk_score"]
        assert model["roc_auc"] > 0.65 and model["lift_at"]["10%"]["lift"] > 2.0


def test_bad_years_and_stores_are_refused(evaluate: Any, tmp_path: Any) -> None:
    for args in (("--test-year", "1800"), ("--test-year", "2021"), ("--window-years", "9")):
        bad = evaluate(*args)
        assert bad.exit_code == 2, (args, bad.output)
        assert "error" in bad.stderr
    empty = CliRunner().invoke(
        cli, ["evaluate-risk", "--store", f"sqlite:///{tmp_path / 'none.db'}"]
    )
    assert empty.exit_code == 2 and "not initialised" in empty.stderr
