"""`geo-service build` on thin data: the layers the data cannot give are skipped, with
the reason in Chinese and English, and the others are built (exit 3, not an abort)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from geo_service.builds.registry import ANALYTIC_LAYERS, RECIPES
from geo_service.cli import app
from geo_service.core.settings import get_settings
from tests.geo_service.bulk_cases import write_cases_csv

CJK = re.compile(r"[\u4e00-\u9fff]")
Run = Callable[..., tuple[int, dict[str, Any], str]]


@pytest.fixture
def store(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """An initialised store of the test's own; ``run`` gives (exit code, summary, stderr)."""
    monkeypatch.setenv("GEO_DATABASE_URL", f"sqlite:///{workdir / 'geo.db'}")
    monkeypatch.setenv("GEO_PROGRESS", "true")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> tuple[int, dict[str, Any], str]:
        result = runner.invoke(app, list(args))
        lines = result.stdout.strip().splitlines()
        return result.exit_code, json.loads(lines[-1]) if lines else {}, result.stderr

    assert run("init")[0] == 0
    yield run
    get_settings.cache_clear()


def _variants(summary: dict[str, Any], layer: str) -> int:
    built = len(summary["layers"].get(layer, []))
    return built + sum(s["layer"] == layer for s in summary["skipped"])


@pytest.mark.parametrize("n_cases", [0, 1, 6])
def test_a_thin_store_builds_what_it_can_and_says_why_not_the_rest(
    store: Run, workdir: Path, n_cases: int
) -> None:
    if n_cases:  # located cases only: no register, no inspections
        write_cases_csv(workdir / "cases.csv", n_cases, seed=1, prefix="T")
        code, summary, _ = store("ingest", "cases.csv", "--kind", "cases")
        assert code == 0 and summary["accepted"] == n_cases
    code, summary, stderr = store("build")

    assert code == 3, stderr[-2000:]
    assert summary["skipped"], "thin data skips some layer"
    # every variant of every layer is either built or skipped, never both, never lost
    for layer in ANALYTIC_LAYERS:
        assert _variants(summary, layer) == len(RECIPES[layer].variants), layer
    for skip in summary["skipped"]:
        assert skip["layer"] in ANALYTIC_LAYERS and skip["code"].endswith("Error")
        assert CJK.search(skip["reason"]) and re.search(r"[a-z]{3}", skip["reason"]), skip
    assert "hexagons" in summary["layers"]  # counts need no minimum
    # a line per layer on stderr, naming it, with what was skipped and why
    lines = [line for line in stderr.splitlines() if re.match(r"\[\d+/\d+\] ", line)]
    assert [line.split("] ")[1].split(":")[0] for line in lines] == list(ANALYTIC_LAYERS)
    skipped_layers = {s["layer"] for s in summary["skipped"]}
    for line in lines:
        layer = line.split("] ")[1].split(":")[0]
        assert ("跳过 skipped" in line) == (layer in skipped_layers), line


def test_six_cases_without_a_register_skip_only_the_ratio_to_the_register(
    store: Run, workdir: Path
) -> None:
    write_cases_csv(workdir / "cases.csv", 6, seed=1, prefix="T")
    store("ingest", "cases.csv", "--kind", "cases")
    code, summary, _ = store("build", "--layer", "kde")
    assert code == 3
    assert [s["parameters"]["ratio_to"] for s in summary["skipped"]] == ["enterprises"]
    assert "污染源" in summary["skipped"][0]["reason"]
    assert len(summary["layers"]["kde"]) == len(RECIPES["kde"].variants) - 1


def test_a_build_with_nothing_skipped_exits_0(store: Run, workdir: Path) -> None:
    write_cases_csv(workdir / "cases.csv", 6, seed=1, prefix="T")
    store("ingest", "cases.csv", "--kind", "cases")
    code, summary, stderr = store("build", "--layer", "hexagons")
    assert code == 0 and summary["skipped"] == []
    assert len(summary["layers"]["hexagons"]) == len(RECIPES["hexagons"].variants)
    assert "[1/1] hexagons: 已生成 built" in stderr


def test_a_step_the_data_cannot_give_skips_the_layers_that_need_it(
    store: Run, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics.problem_types import ProblemTypeError
    from geo_service.builds import run as build_run
    from geo_service.builds.problem_types import LABELS_STEP

    def no_labels(engine: object) -> dict[str, Any]:
        raise ProblemTypeError("no texts to label")

    monkeypatch.setitem(build_run.STEPS, LABELS_STEP, no_labels)
    write_cases_csv(workdir / "cases.csv", 6, seed=1, prefix="T")
    store("ingest", "cases.csv", "--kind", "cases")
    code, summary, _ = store("build")
    assert code == 3
    needing = {name for name, spec in RECIPES.items() if LABELS_STEP in spec.needs}
    assert needing and LABELS_STEP not in summary["steps"]
    for layer in needing:  # every variant skipped, for the step's reason
        assert layer not in summary["layers"]
        skips = [s for s in summary["skipped"] if s["layer"] == layer]
        assert len(skips) == len(RECIPES[layer].variants)
        assert {s["code"] for s in skips} == {"ProblemTypeError"}
        assert all("no texts to label" in s["reason"] for s in skips)
    assert "hexagons" in summary["layers"]  # the layers that need no labels are built
