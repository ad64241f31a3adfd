"""Recurring problem types in Chinese case descriptions and inspection findings.

1. **Words.** Each text is cut into whole words by jieba with the domain dictionary
   (:mod:`analytics.segmenter`); its features are the telling words and phrases (two
   words side by side), weighted by TF-IDF. Hints (a record's violation type or problem
   category, as the clerk typed it) add their words when a record has them.
2. **Clusters.** The texts are reduced by truncated SVD (LSA) and clustered by k-means;
   the number of clusters is the most reproducible one (:data:`K_CRITERION`): k-means on
   seeded subsamples of the texts should agree on the texts they share. Silhouette is no
   criterion here: on the sample's texts it keeps rising with k, so it picked the top of
   the range. Every k's stability is in ``parameters``.
3. **Types.** Each cluster is mapped to a violation category
   (``vocabulary/violation_categories.tsv``) when at least half its texts name a term of it
   (the most specific such category, then the most named). Clusters of one category are
   one type, and stay its sub-types; a cluster that fits no category is a type of its
   own. A leader reads one type per kind of offence, not one per wording of it.
4. **Names.** A type is named by its category and its three most characteristic
   phrases: whole words, or two words side by side, held by far more of its texts than
   of the others'.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from analytics.errors import AnalyticsError
from analytics.segmenter import (
    categories_of,
    domain_terms,
    features,
    negated,
    phrase_text,
    phrase_words,
)
from analytics.segmenter import violation_categories as categories_table

#: Stability: k-means partitions of this many seeded subsamples, each this share of a
#: seeded sample of at most this many texts. The number of clusters is the fewest whose
#: stability is within the tolerance of the best: smaller differences are noise (on the
#: sample, one k's stability spans 0.05 on average over seeds 0-2, sd 0.026).
STABILITY_SUBSAMPLES = 6
STABILITY_SHARE = 0.8
STABILITY_SAMPLE = 2000
STABILITY_TOLERANCE = 0.05
#: How the number of clusters is chosen (``parameters["k_criterion"]``).
K_CRITERION = (
    f"stability: mean adjusted Rand index between the k-means partitions of "
    f"{STABILITY_SUBSAMPLES} seeded {STABILITY_SHARE:.0%} subsamples of a seeded sample of "
    f"at most {STABILITY_SAMPLE} texts, over the texts each two share; the fewest clusters "
    f"in n_clusters_range within {STABILITY_TOLERANCE} of the best stability"
)
#: A cluster fits a category when at least this share of its texts names one of its terms.
CATEGORY_FIT = 0.5
#: Phrases holding a word of the domain dictionary weigh this much more as names.
DOMAIN_WEIGHT = 1.5
_SAMPLE = 3000  # texts the silhouette of the chosen clustering is measured on
#: k-means runs on one OpenMP thread: its fits here are small (50 columns, a few thousand
#: rows), and threads waiting on a busy machine cost more than they bring (the 162 fits
#: of the sample's stability: 30 s on two threads, 1.4 s on one, at load 9).
_ONE_THREAD = 1
_SVD_COMPONENTS = 50


class ProblemTypeError(AnalyticsError):
    """Too few texts, or a bad number of types."""


@dataclass(frozen=True)
class ProblemTypes:
    """The types found: one type per text, and what each type is.

    ``categories`` holds each type's violation category code (None where none fits),
    ``subtypes`` the word clusters each type was made of (label, terms, size) and
    ``clusters`` each text's word cluster.
    """

    labels: NDArray[np.int64]
    n_types: int
    type_labels: list[str]
    top_terms: list[list[str]]
    sizes: list[int]
    quality: float  # mean silhouette of the chosen clustering (sampled), for information
    parameters: dict[str, Any] = field(default_factory=dict)
    categories: list[str | None] = field(default_factory=list)
    subtypes: list[list[dict[str, Any]]] = field(default_factory=list)
    clusters: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass(frozen=True)
class _Features:
    """The texts' features: which text holds which (0/1), their names, and the LSA rows."""

    holds: sparse.csr_matrix
    names: NDArray[np.str_]
    reduced: NDArray[np.float64]
    docs: list[list[str]]
    weight: NDArray[np.float64]  # as a name: DOMAIN_WEIGHT with a word of the dictionary
    n_words: NDArray[np.float64]  # a negated phrase counts as half a word: it goes first
    points_to: list[set[str]]  # the categories a feature's words point to


def _identity(doc: list[str]) -> list[str]:
    return doc


def _features(texts: Sequence[str], hints: Sequence[str | None] | None, seed: int) -> _Features:
    """Words and phrases of each text (and hint), TF-IDF and its LSA reduction."""
    docs = [features(str(t or "")) for t in texts]
    if hints is not None:
        docs = [d + (features(h) if h else []) for d, h in zip(docs, hints, strict=True)]
    vectorizer = TfidfVectorizer(
        analyzer=_identity, min_df=2, max_df=0.5, sublinear_tf=True, dtype=np.float64
    )
    try:
        matrix = vectorizer.fit_transform(docs)
    except ValueError:  # every feature in too few or too many texts: nothing recurs
        raise ProblemTypeError("the texts share no recurring words to find types by") from None
    dims = max(2, min(_SVD_COMPONENTS, matrix.shape[1] - 1, len(docs) - 1))
    reduced = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(matrix))
    holds = sparse.csr_matrix((matrix > 0).astype(np.float64))
    names = vectorizer.get_feature_names_out()
    return _Features(holds, names, reduced, docs, *_naming(names))


@dataclass(frozen=True)
class _Stability:
    """The subsamples the stability of each k is measured on."""

    points: NDArray[np.float64]  # the seeded sample's LSA rows
    draws: list[NDArray[np.int64]]  # each subsample's rows of ``points``
    seed: int

    @classmethod
    def of(cls, reduced: NDArray[np.float64], seed: int) -> _Stability:
        rng = np.random.default_rng(seed)
        n = min(len(reduced), STABILITY_SAMPLE)
        points = reduced[np.sort(rng.choice(len(reduced), size=n, replace=False))]
        size = max(2, round(STABILITY_SHARE * n))
        draws = [
            np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
            for _ in range(STABILITY_SUBSAMPLES)
        ]
        return cls(points, draws, seed)

    @property
    def largest_k(self) -> int:
        """The most clusters a subsample can be cut into."""
        return len(self.draws[0])

    def score(self, k: int) -> float:
        """Mean adjusted Rand index of k-means (one start each: an unstable start counts
        against k) between every two subsamples, over the texts both hold."""
        labels = []
        for i, draw in enumerate(self.draws):
            full = np.full(len(self.points), -1, dtype=np.int64)
            model = KMeans(n_clusters=k, n_init=1, random_state=self.seed + i)
            full[draw] = model.fit_predict(self.points[draw])
            labels.append(full)
        agreement = []
        for a, b in itertools.combinations(labels, 2):
            shared = (a >= 0) & (b >= 0)
            agreement.append(adjusted_rand_score(a[shared], b[shared]))
        return float(np.mean(agreement))


def _choose_k(scores: dict[int, float]) -> int:
    """The fewest clusters whose stability is within :data:`STABILITY_TOLERANCE` of the
    best: more clusters than that add no reproducible structure."""
    best = max(scores.values())
    return min(k for k, v in scores.items() if v >= best - STABILITY_TOLERANCE)


def _silhouette(reduced: NDArray[np.float64], clusters: NDArray[np.int64], seed: int) -> float:
    """Mean silhouette of the clustering on a seeded sample (-1 with a single cluster)."""
    if len(np.unique(clusters)) < 2:
        return -1.0
    size = min(len(reduced), _SAMPLE)
    return float(silhouette_score(reduced, clusters, sample_size=size, random_state=seed))


def _category_of(docs: list[list[str]]) -> str | None:
    """The category most texts of a cluster name (:data:`CATEGORY_FIT` at least); of
    several, the most specific (lowest precedence), then the most named."""
    counts: dict[str, int] = {}
    for doc in docs:
        for code in categories_of(doc):
            counts[code] = counts.get(code, 0) + 1
    table = categories_table()
    fitting = [c for c, n in counts.items() if n >= CATEGORY_FIT * len(docs)]
    if not fitting:
        return None
    return min(fitting, key=lambda c: (table[c].precedence, -counts[c], c))


def _naming(
    names: NDArray[np.str_],
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[set[str]]]:
    """Per feature: its weight as a name (:data:`DOMAIN_WEIGHT` when a word of it is in
    the domain dictionary), its number of words, and the categories its words point to."""
    terms = domain_terms()
    weight, n_words, points_to = [], [], []
    for name in names:
        split = phrase_words(str(name))
        weight.append(DOMAIN_WEIGHT if any(w in terms for w in split) else 1.0)
        n_words.append(0.5 if negated(str(name)) else len(split))  # 不到位 before 到位
        points_to.append(categories_of(split))
    return np.array(weight), np.array(n_words), points_to


def _characteristic(
    found: _Features, inside: NDArray[np.bool_], top: int, category: str | None = None
) -> list[str]:
    """The features most telling of the texts ``inside``: the share of those texts that
    hold a feature less the share of the others that do (× :data:`DOMAIN_WEIGHT` for one
    with a word of the domain dictionary); on a tie a single word before a phrase. A
    feature sharing a word with a better one, or naming a category other than
    ``category``, is left out: names say one thing each and never another offence."""
    n_in = int(inside.sum())
    share_in = np.asarray(found.holds[inside].sum(axis=0)).ravel() / max(n_in, 1)
    share_out = np.asarray(found.holds[~inside].sum(axis=0)).ravel() / max(len(inside) - n_in, 1)
    gain = (share_in - share_out) * found.weight
    score = np.round(np.where(share_in > share_out, gain, 0.0), 6)
    chosen: list[str] = []
    used: set[str] = set()
    for position in np.lexsort((found.names, found.n_words, -score)):
        if score[position] <= 0 or len(chosen) == top:
            break
        split = phrase_words(str(found.names[position]))
        other = category is not None and found.points_to[position] - {category}
        if other or used & set(split):
            continue
        chosen.append(phrase_text(str(found.names[position])))
        used.update(split)
    return chosen


def _label(category: str | None, terms: list[str]) -> str:
    """``扬尘污染防治违法：扬尘污染、施工工地、洒水抑尘`` (the category, when one fits)."""
    phrases = "、".join(terms[:3])
    if category is None:
        return phrases or "其他问题"
    name = categories_table()[category].name
    return f"{name}：{phrases}" if phrases else name


def _unique(labels: list[str]) -> list[str]:
    """Labels made unique by a number: a mix or a ledger keys types by label."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}（{seen[label]}）")
    return out


def _group(
    clusters: NDArray[np.int64], docs: list[list[str]], k: int, by_category: bool
) -> tuple[list[str | None], list[list[int]]]:
    """Types from clusters, largest first: with ``by_category``, the clusters of one
    category together. Each type's category and its clusters."""
    groups: dict[str, list[int]] = {}
    category: dict[str, str | None] = {}
    for cluster in range(k):
        fits = _category_of([docs[i] for i in np.flatnonzero(clusters == cluster)])
        key = fits if by_category and fits is not None else f"#{cluster}"
        groups.setdefault(key, []).append(cluster)
        category.setdefault(key, fits)
    sizes = {key: int(np.isin(clusters, members).sum()) for key, members in groups.items()}
    keys = sorted(groups, key=lambda key: (-sizes[key], key))
    return [category[key] for key in keys], [groups[key] for key in keys]


def _subtypes(
    found: _Features,
    clusters: NDArray[np.int64],
    group: list[int],
    category: str | None,
    top: int,
) -> list[dict[str, Any]]:
    """The word clusters of one type, largest first, each named by its phrases."""
    out = []
    for cluster in sorted(group, key=lambda c: (-int((clusters == c).sum()), c)):
        terms = _characteristic(found, clusters == cluster, top, category)
        out.append(
            {
                "label": "、".join(terms[:3]),
                "terms": terms,
                "size": int((clusters == cluster).sum()),
            }
        )
    return out


def find_problem_types(
    texts: Sequence[str],
    *,
    hints: Sequence[str | None] | None = None,
    n_clusters: int | None = None,
    n_clusters_range: tuple[int, int] = (4, 30),
    by_category: bool = True,
    seed: int = 0,
    top: int = 8,
) -> ProblemTypes:
    """Types of recurring problems in ``texts``; every text gets a type.

    ``n_clusters`` fixes the number of word clusters; otherwise it is chosen within
    ``n_clusters_range`` by :data:`K_CRITERION` (each k's stability in
    ``parameters["stability_by_k"]``). With ``by_category`` (the default), the clusters
    of one violation category make one type.

    Examples
    --------
    >>> texts = ["废水超标排放化学需氧量超标"] * 5 + ["施工工地扬尘未覆盖"] * 5
    >>> found = find_problem_types(texts, n_clusters=2)
    >>> sorted(found.type_labels)
    ['扬尘污染防治违法：扬尘、施工工地、未覆盖', '水污染物违法排放：化学需氧量、废水、超标排放']
    """
    if len(texts) < 4:
        raise ProblemTypeError("at least four texts are needed to find types")
    lo, hi = (n_clusters, n_clusters) if n_clusters else n_clusters_range
    if lo < 2 or lo > hi or (n_clusters is not None and n_clusters >= len(texts)):
        raise ProblemTypeError(f"the number of clusters must lie in 2..{len(texts) - 1}")
    found = _features(texts, hints, seed)
    scores: dict[int, float] = {}
    with threadpool_limits(limits=_ONE_THREAD, user_api="openmp"):
        if n_clusters is None:
            stability = _Stability.of(found.reduced, seed)
            hi = min(hi, stability.largest_k - 1)  # a range wider than the texts allow is cut
            lo = min(lo, hi)
            # rounded as recorded, so that the recorded scores give the same choice
            scores = {key: round(stability.score(key), 4) for key in range(lo, hi + 1)}
            k = _choose_k(scores)
        else:
            k = n_clusters
        n_init = 10 if len(texts) <= 50_000 else 3
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed)
        clusters = model.fit_predict(found.reduced).astype(np.int64)
    categories, groups = _group(clusters, found.docs, k, by_category)
    types = np.empty(len(texts), dtype=np.int64)
    for t, group in enumerate(groups):
        types[np.isin(clusters, group)] = t
    top_terms = [_characteristic(found, types == t, top, categories[t]) for t in range(len(groups))]
    table = categories_table()
    return ProblemTypes(
        labels=types,
        n_types=len(groups),
        type_labels=_unique([_label(c, t) for c, t in zip(categories, top_terms, strict=True)]),
        top_terms=top_terms,
        sizes=np.bincount(types, minlength=len(groups)).tolist(),
        quality=_silhouette(found.reduced, clusters, seed),
        categories=categories,
        subtypes=[
            _subtypes(found, clusters, group, category, top)
            for group, category in zip(groups, categories, strict=True)
        ],
        clusters=clusters,
        parameters={
            "segmenter": "jieba (no HMM) with the domain dictionary analytics/vocabulary",
            "features": "words and two-word phrases, TF-IDF (sublinear, max_df 0.5) → LSA",
            "svd_components": int(found.reduced.shape[1]),
            "clustering": "k-means",
            "k_criterion": K_CRITERION if n_clusters is None else "given (n_clusters)",
            "n_clusters_range": [lo, hi],
            "n_clusters": k,
            "stability_by_k": {str(key): v for key, v in scores.items()},
            "stability_tolerance": STABILITY_TOLERANCE,
            "types_by": "violation category" if by_category else "cluster",
            "category_fit": CATEGORY_FIT,
            "categories": {c: table[c].name for c in categories if c is not None},
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
