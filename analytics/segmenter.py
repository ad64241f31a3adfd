"""Chinese enforcement texts cut into whole words: jieba and a domain dictionary.

A private :class:`jieba.Tokenizer` (never jieba's global one, which other code may
change) knows the terms of ``vocabulary/enforcement_terms.tsv`` (legal terms, pollutants,
facilities) and keeps them whole: 未批先建, 危险废物转移联单 and 扬尘污染 come out as one
word each. It runs without its hidden-Markov guessing of unknown words, so every word of
two or more characters is a word of jieba's dictionary or of ours, never a cut fragment.
jieba stays quiet (its logger at WARNING) and offline; its prefix-dictionary cache goes
to the system's temporary folder only.

:func:`words` gives every word of a text; :func:`features` the words and phrases (two
words side by side in the text) that say what the problem is: numbers, dates, place
names, procedure (现场检查, 立案调查) and formula (你单位, 违反…规定) left out.
"""

from __future__ import annotations

import csv
import logging
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

import jieba

from analytics.errors import AnalyticsError

DATA: Final = Path(__file__).with_name("vocabulary")
TERMS_FILE: Final = DATA / "enforcement_terms.tsv"
CATEGORIES_FILE: Final = DATA / "violation_categories.tsv"
#: What joins the two words of a phrase in a feature (never in a Chinese text).
PHRASE_JOIN: Final = "\u2009"
#: Kinds of dictionary terms that are not features (how a case went, formula).
DROPPED_KINDS: Final = ("procedure", "stop")
#: Single characters kept as words: they turn the next word into the problem (未覆盖).
KEPT_CHARACTERS: Final = frozenset("未无不")

_CHINESE_RUNS = re.compile(r"[\u4e00-\u9fff]+")
#: Law articles (第八十三条, 第二款, 第三项) and place names (…市, …区, …县, …镇).
_ARTICLE = re.compile(r"第[零一二三四五六七八九十百千]+[条款项]")
_PLACE_ENDINGS = tuple("省市区县镇乡村州旗盟")


class SegmenterError(AnalyticsError):
    """The domain dictionary or the category table cannot be read."""


@dataclass(frozen=True)
class Term:
    """One word of the domain dictionary."""

    word: str
    kind: str  # legal | pollutant | facility | procedure | stop
    category: str | None  # a code of violation_categories.tsv


@dataclass(frozen=True)
class Category:
    """One violation category a problem type may be mapped to."""

    code: str
    name: str
    precedence: int  # lower: more specific (named first when several fit)
    provisions: str


def _rows(path: Path) -> Iterator[list[str]]:
    """The tab-separated rows of a data file, comment lines (``#``) left out."""
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if row and not row[0].startswith("#"):
                yield row


@cache
def violation_categories() -> dict[str, Category]:
    """The violation categories (code → :class:`Category`), in the file's order."""
    found = {}
    for row in _rows(CATEGORIES_FILE):
        if len(row) != 4:
            raise SegmenterError(f"{CATEGORIES_FILE.name}: a row needs 4 fields: {row}")
        found[row[0]] = Category(row[0], row[1], int(row[2]), row[3])
    return found


@cache
def domain_terms() -> dict[str, Term]:
    """The domain dictionary (word → :class:`Term`)."""
    categories = violation_categories()
    found = {}
    for row in _rows(TERMS_FILE):
        if len(row) != 3:
            raise SegmenterError(f"{TERMS_FILE.name}: a row needs 3 fields: {row}")
        word, kind, category = (v.strip() for v in row)
        if category and category not in categories:
            raise SegmenterError(f"{TERMS_FILE.name}: {word} names no category {category!r}")
        found[word] = Term(word, kind, category or None)
    return found


_LOCK = threading.Lock()


@cache
def tokenizer() -> jieba.Tokenizer:
    """jieba's tokenizer of our own, with the domain dictionary (made once per process)."""
    with _LOCK:
        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict…" on stderr
        made = jieba.Tokenizer()
        made.tmp_dir = tempfile.gettempdir()  # its cache file: the temporary folder only
        made.initialize()
        for word in domain_terms():
            made.add_word(word)  # a frequency that keeps the word whole
        return made


def runs(text: str) -> list[list[str]]:
    """The words of each run of Chinese characters of ``text`` (numbers, letters and
    punctuation end a run: no phrase reaches across them)."""
    cut = tokenizer().lcut
    return [cut(run, HMM=False) for run in _CHINESE_RUNS.findall(text or "")]


def words(text: str) -> list[str]:
    """Every word of ``text``, in order (Chinese runs only: numbers and signs are breaks).

    Examples
    --------
    >>> words("你单位未批先建，危险废物露天堆放")
    ['你单位', '未批先建', '危险废物', '露天', '堆放']
    """
    return [w for run in runs(text) for w in run]


def _telling(word: str) -> bool:
    """A word that may say what the problem is."""
    term = domain_terms().get(word)
    if term is not None:
        return term.kind not in DROPPED_KINDS
    if len(word) == 1:
        return word in KEPT_CHARACTERS
    return not (_ARTICLE.fullmatch(word) or word.endswith(_PLACE_ENDINGS))


def features(text: str) -> list[str]:
    """The telling words of ``text`` and its phrases: two telling words side by side in
    the text, joined by :data:`PHRASE_JOIN` (:func:`phrase_text` reads them).

    Examples
    --------
    >>> [phrase_text(f) for f in features("经查，你单位裸露土方未覆盖。")]
    ['裸露土方', '覆盖', '未覆盖']
    """
    singles, pairs = [], []
    for run in runs(text):
        keep = [_telling(w) for w in run]
        singles += [w for w, k in zip(run, keep, strict=True) if k and len(w) > 1]
        pairs += [  # a kept single character leads a phrase (未覆盖), never ends one
            a + PHRASE_JOIN + b
            for a, b, ka, kb in zip(run, run[1:], keep, keep[1:], strict=False)
            if ka and kb and len(b) > 1
        ]
    return singles + pairs


def phrase_text(feature: str) -> str:
    """A feature as it reads: a word, or a phrase's two words run together."""
    return feature.replace(PHRASE_JOIN, "")


def phrase_words(feature: str) -> list[str]:
    """The whole words a feature is made of."""
    return feature.split(PHRASE_JOIN)


def negated(feature: str) -> bool:
    """A phrase of a kept character and a word (未覆盖, 不到位): it reads as one word, and
    without its first character it would say the opposite."""
    split = phrase_words(feature)
    return len(split) == 2 and split[0] in KEPT_CHARACTERS


def categories_of(feature_list: list[str]) -> set[str]:
    """The violation categories the words among ``feature_list`` point to."""
    terms = domain_terms()
    found = set()
    for feature in feature_list:
        term = terms.get(feature)
        if term is not None and term.category is not None:
            found.add(term.category)
    return found
