"""The segmenter: domain terms kept whole, jieba quiet, offline, and on a private tokenizer."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jieba
import pytest

from analytics.segmenter import (
    CATEGORIES_FILE,
    TERMS_FILE,
    domain_terms,
    features,
    phrase_text,
    violation_categories,
    words,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "term",
    [
        "未批先建",
        "未验先投",
        "超标排放",
        "无证排污",
        "逃避监管",
        "自动监控",
        "危险废物",
        "扬尘",
        "噪声",
    ],
)
def test_the_issue_s_terms_are_kept_whole(term: str) -> None:
    assert term in domain_terms()
    assert term in words(f"经查，你单位{term}问题突出")


def test_longer_terms_win_over_their_parts() -> None:
    cut = words("未填写、运行危险废物转移联单，擅自将废矿物油转移")
    assert "危险废物转移联单" in cut and "废矿物油" in cut


def test_features_leave_out_procedure_numbers_places_and_articles() -> None:
    text = (
        "2024年3月8日，南宁市生态环境局兴宁区分局对你单位现场检查时发现，你单位外排废水"
        "化学需氧量浓度为120mg/L，超标排放。违反了《中华人民共和国水污染防治法》第八十三条的规定。"
    )
    read = [phrase_text(f) for f in features(text)]
    assert {"外排废水", "化学需氧量", "超标排放"} <= set(read)
    for gone in (
        "现场检查",
        "生态环境局",
        "南宁市",
        "兴宁区",
        "第八十三条",
        "你单位",
        "中华人民共和国",
    ):
        assert gone not in read
    assert not any(c.isdigit() for f in read for c in f)


def test_every_term_points_to_a_known_category() -> None:
    categories = violation_categories()
    assert len(categories) >= 9
    for term in domain_terms().values():
        assert term.kind in ("legal", "pollutant", "facility", "procedure", "stop")
        assert term.category is None or term.category in categories
    # the sources are stated in the files themselves
    for path in (TERMS_FILE, CATEGORIES_FILE):
        head = path.read_text(encoding="utf-8").split("\n# code", 1)[0]
        assert "Source:" in head


def test_the_dictionary_ships_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "vocabulary/*.tsv" in config["tool"]["setuptools"]["package-data"]["analytics"]


def test_jieba_s_global_tokenizer_is_left_alone() -> None:
    words("危险废物转移联单")
    assert jieba.dt.FREQ.get("危险废物转移联单") is None


def test_quiet_and_writing_only_to_the_temporary_folder(tmp_path: Path) -> None:
    """A fresh process segments without a word on stderr and writes jieba's cache into its
    temporary folder, nowhere else (not the working folder, not the home folder)."""
    work, temp, home = tmp_path / "work", tmp_path / "tmp", tmp_path / "home"
    for folder in (work, temp, home):
        folder.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "HOME": str(home), "PYTHONPATH": str(ROOT)}
    code = "from analytics.segmenter import words; print('/'.join(words('未批先建扬尘')))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "未批先建/扬尘"
    assert done.stderr == ""
    assert list(work.iterdir()) == [] and list(home.iterdir()) == []
    assert [p.name for p in temp.iterdir()] == ["jieba.cache"]
