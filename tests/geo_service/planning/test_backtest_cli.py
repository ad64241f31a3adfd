"""geo-service backtest on the bundled slice with all six kinds: keys, sizes and lift."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from geo_service.cli import app as cli
from geo_service.core.filters import Filters
from geo_service.core.settings import get_settings
from geo_service.store.queries import read_frame
from tests.geo_service.draw_store import six_kind_store


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory, divisions_gdf) -> Engine:  # type: ignore[no-untyped-def]
    return six_kind_store(tmp_path_factory.mktemp("backtest_six"), divisions_gdf)


@pytest.fixture
def backtest(six: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run ``geo-service backtest`` with extra arguments on the six-kind store."""
    monkeypatch.setenv("GEO_DATABASE_URL", six.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(
            cli, ["backtest", "--train-until", "2024-12-31", "--test-year", "2025", *args]
        )

    yield run
    get_settings.cache_clear()


def test_risk_weighted_draws_find_more_of_the_test_years_cases(six: Engine, backtest: Any) -> None:
    answer = backtest("--draws", "200", "--seed", "3")
    assert answer.exit_code == 0, answer.output
    result = json.loads(answer.stdout)
    assert {
        "risk_weighted_hit_rate",
        "uniform_hit_rate",
        "lift",
        "expected_uniform_hit_rate",
        "sample_size",
        "population",
        "violations",
        "violations_definition",
        "n_draws",
    } <= set(result)
    for key in ("risk_weighted_hit_rate", "uniform_hit_rate"):
        assert set(result[key]) == {"mean", "std", "p05", "p95"}
    assert result["n_draws"] == 200 and result["seed"] == 3
    # the whole slice: 300 key, 450 special, 2250 general located enterprises
    assert result["population"] == {"key": 300, "special": 450, "general": 2250}
    assert result["sample_size"] == {"key": 75, "special": 68, "general": 113}
    cases = read_frame(six, "cases", Filters(period="2025"), ["credit_code"])
    assert result["test_year_cases"] == len(cases)
    assert result["violations"] == result["cases_at_register_enterprises"] <= len(cases)
    # the uniform draws' mean hit rate sits at its analytic expectation
    uniform = result["uniform_hit_rate"]
    assert math.isclose(
        uniform["mean"],
        result["expected_uniform_hit_rate"],
        abs_tol=3 * uniform["std"] / math.sqrt(200),
    )
    lift = result["lift"]
    assert lift["ratio_of_means"] > 1.25
    assert lift["p05"] > 1.0 and lift["undefined"] == 0
    assert result["risk_weighted_hit_rate"]["mean"] > uniform["p95"]


def test_a_jurisdiction_and_bad_periods(backtest: Any) -> None:
    city = json.loads(backtest("--draws", "50", "--jurisdiction", "450100").stdout)
    assert city["jurisdiction"] == "450100"
    assert sum(city["population"].values()) < 3000 and city["n_draws"] == 50
    for args in (("--train-until", "2025-03-31"), ("--test-year", "1800"), ("--draws", "0")):
        bad = CliRunner().invoke(
            cli, ["backtest", "--train-until", "2024-12-31", "--test-year", "2025", *args]
        )
        assert bad.exit_code == 2, (args, bad.output)
        assert "error" in bad.stderr
