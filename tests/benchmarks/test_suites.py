"""The benchmark runner's suites: the large ones opt-in, and each with a README line."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from benchmarks.__main__ import LARGE, SUITES, chosen

README = Path(__file__).parents[2] / "benchmarks" / "README.md"


def test_a_plain_run_leaves_out_the_large_suites() -> None:
    plain = chosen(None, large=False)
    assert "pgstore" in LARGE and "pgstore" not in plain
    assert set(plain) == set(SUITES) - LARGE


def test_large_or_naming_a_suite_runs_it() -> None:
    assert set(chosen(None, large=True)) == set(SUITES)
    assert chosen(["pgstore"], large=False) == ["pgstore"]


def test_the_readme_has_one_line_per_suite_with_its_duration() -> None:
    rows = re.findall(r"^\| `(\w+)` \|([^|]+)\|([^|]+)\|$", README.read_text(), re.MULTILINE)
    assert sorted(name for name, _, _ in rows) == sorted(SUITES)
    for name, what, duration in rows:
        assert re.search(r"\d+ min", duration), f"{name}: no duration"
        assert ("opt-in" in what) == (name in LARGE), f"{name}: opt-in said wrongly"


def test_the_scale_suite_measures_10m_cases_only_when_large() -> None:
    from benchmarks import bench_scale

    assert max(bench_scale.SIZES) < 10_000_000 <= min(bench_scale.LARGE_SIZES)
    assert "large" in inspect.signature(bench_scale.run).parameters
