"""Recurring problem types found in Chinese case descriptions and inspection findings.

Texts become TF-IDF vectors of character 2–3-grams (no segmenter needed, robust
to the bureaus' varied wording), reduced by truncated SVD (LSA) and clustered
with k-means; the number of types is the one with the best silhouette over a
range, on a seeded sample. Each type is labelled by its most telling n-grams:
those whose weight in the type most exceeds their weight overall, with
n-grams contained in a better one dropped. Hints (violation type, law article,
problem category) are added to a text's features when a record has them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

from analytics.errors import AnalyticsError

#: Words in nearly every text that say nothing about the problem.
BOILERPLATE = (
    "经查",
    "该公司",
    "你单位",
    "该单位",
    "违反了",
    "的规定",
    "现场检查",
    "我局",
    "依法",
    "上述行为",
    "以上事实",
    "证据为证",
    "进行调查",
    "查明",
)


class ProblemTypeError(AnalyticsError):
    """Too few texts, or a bad number of types."""


@dataclass(frozen=True)
class ProblemTypes:
    """The types found: one label per text, and what each type is."""

    labels: NDArray[np.int64]
    n_types: int
    type_labels: list[str]
    top_terms: list[list[str]]
    sizes: list[int]
    quality: float  # silhouette of the chosen clustering (sampled)
    parameters: dict[str, Any] = field(default_factory=dict)


_NOT_CHINESE = re.compile(r"[^\u4e00-\u9fff]+")


def _clean(text: str) -> str:
    """Chinese characters only (numbers, units and punctuation become breaks), no boilerplate."""
    for word in BOILERPLATE:
        text = text.replace(word, " ")
    return _NOT_CHINESE.sub(" ", text)


def _documents(texts: Sequence[str], hints: Sequence[str | None] | None) -> list[str]:
    docs = [_clean(str(t or "")) for t in texts]
    if hints is not None:
        docs = [d + (f" {h} {h}" if h else "") for d, h in zip(docs, hints, strict=True)]
    return docs


def _telling_terms(
    matrix: Any, labels: NDArray[np.int64], terms: NDArray[np.str_], k: int, top: int
) -> list[list[str]]:
    overall = np.asarray(matrix.mean(axis=0)).ravel()
    out = []
    for cluster in range(k):
        inside = np.asarray(matrix[labels == cluster].mean(axis=0)).ravel()
        order = np.argsort(-(inside - overall))
        chosen: list[str] = []
        for term in terms[order[: top * 20]]:
            term = str(term).strip()
            if len(term) >= 2 and " " not in term:
                _add_term(chosen, term)
            if len(chosen) == top:
                break
        out.append(chosen)
    return out


def _add_term(chosen: list[str], term: str) -> None:
    """Add an n-gram, merging it into a chosen one it overlaps (危险废 + 险废物 → 危险废物)."""
    for i, c in enumerate(chosen):
        if term in c:
            return
        if c in term:
            chosen[i] = term
            return
        if len(term) > 2 and c[-(len(term) - 1) :] == term[:-1]:
            chosen[i] = c + term[-1]
            return
        if len(term) > 2 and term[1:] == c[: len(term) - 1]:
            chosen[i] = term[0] + c
            return
    chosen.append(term)


def find_problem_types(
    texts: Sequence[str],
    *,
    hints: Sequence[str | None] | None = None,
    n_types: int | None = None,
    n_types_range: tuple[int, int] = (4, 16),
    seed: int = 0,
    top: int = 8,
) -> ProblemTypes:
    """Cluster texts into recurring problem types; every text gets a type.

    Examples
    --------
    >>> texts = ["废水超标排放化学需氧量超标"] * 5 + ["施工工地扬尘未覆盖"] * 5
    >>> found = find_problem_types(texts, n_types=2)
    >>> found.labels.tolist() in ([0] * 5 + [1] * 5, [1] * 5 + [0] * 5)
    True
    """
    docs = _documents(texts, hints)
    if len(docs) < 4:
        raise ProblemTypeError("at least four texts are needed to find types")
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 3), min_df=2, max_df=0.5, sublinear_tf=True
    )
    try:
        matrix = vectorizer.fit_transform(docs)
    except ValueError:  # every term in too few or too many texts: nothing recurs to type by
        raise ProblemTypeError("the texts share no recurring words to find types by") from None
    dims = max(2, min(100, matrix.shape[1] - 1, len(docs) - 1))
    reduced = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(matrix))
    lo, hi = (n_types, n_types) if n_types else n_types_range
    if lo < 2 or hi >= len(docs):
        raise ProblemTypeError(f"the number of types must lie in 2..{len(docs) - 1}")
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(docs), size=min(len(docs), 4000), replace=False)
    best: tuple[float, int, NDArray[np.int64]] | None = None
    for k in range(lo, hi + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(reduced)
        score = float(silhouette_score(reduced[sample], labels[sample])) if k > 1 else 0.0
        if best is None or score > best[0] + 1e-9:
            best = (score, k, labels.astype(np.int64))
    assert best is not None
    score, k, labels = best
    terms = _telling_terms(matrix, labels, vectorizer.get_feature_names_out(), k, top)
    return ProblemTypes(
        labels=labels,
        n_types=k,
        type_labels=["·".join(t[:3]) for t in terms],
        top_terms=terms,
        sizes=np.bincount(labels, minlength=k).tolist(),
        quality=score,
        parameters={
            "features": "char 2-3-gram TF-IDF (sublinear, max_df 0.5) → SVD",
            "svd_components": dims,
            "clustering": "k-means, k by silhouette",
            "n_types_range": [lo, hi],
            "seed": seed,
            "hints": hints is not None,
        },
    )


def problem_type_mix(labels: ArrayLike, groups: ArrayLike) -> pd.DataFrame:
    """Share of each type per group (rows: groups, columns: type ids; rows sum to 1).

    Examples
    --------
    >>> problem_type_mix([0, 0, 1, 1], ["a", "a", "a", "b"]).round(2).values.tolist()
    [[0.67, 0.33], [0.0, 1.0]]
    """
    frame = pd.DataFrame({"type": np.asarray(labels), "group": np.asarray(groups)})
    counts = pd.crosstab(frame["group"], frame["type"])
    return counts.div(counts.sum(axis=1), axis=0)


def distinctive_types(
    mix: pd.DataFrame, overall: pd.Series, *, min_lift: float = 1.5
) -> pd.DataFrame:
    """Per group, the types over-represented against the overall mix (lift = share ÷ overall).

    Returns rows (group, type, share, lift) with lift ≥ ``min_lift``, highest first.
    """
    lift = mix.div(overall.reindex(mix.columns).replace(0, np.nan), axis=1)
    long = lift.stack().reset_index()
    long.columns = pd.Index(["group", "type", "lift"])
    long["share"] = [mix.loc[g, t] for g, t in zip(long["group"], long["type"], strict=True)]
    return long[long["lift"] >= min_lift].sort_values(["group", "lift"], ascending=[True, False])
