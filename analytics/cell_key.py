"""The cell-key method: consistent perturbation of published counts (ABS, ONS).

Every record gets a secret pseudo-random *record key* (a keyed hash of its natural
key); a table cell's *cell key* is the sum of its records' keys modulo 2^64. The
published count is the true count moved by an amount read from a perturbation table
at that count and cell key. The same records always make the same cell key, so asking
again, or asking for the same records by another route, gives the same answer, while
cells of different records are perturbed independently: differencing two published
counts (a year minus three quarters, a province minus its other cells) yields a noisy
number, never the withheld one.

The table here is unbiased at every count (the expected published count is the true
one), never publishes 1 or 2, leaves zeros as zeros and moves counts of five or more
by at most 2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

#: Largest change of a count of five or more.
MAX_DEVIATION = 2
#: Counts that are never published (1 and 2 become 0 or 3).
NEVER_PUBLISHED = (1, 2)

#: Published value and its probability, for each small true count (exactly unbiased).
SMALL: dict[int, tuple[tuple[int, float], ...]] = {
    1: ((0, 2 / 3), (3, 1 / 3)),
    2: ((0, 1 / 3), (3, 2 / 3)),
    3: ((0, 0.1), (3, 0.7), (4, 0.1), (5, 0.1)),
    4: ((0, 0.05), (3, 0.2), (4, 0.45), (5, 0.2), (6, 0.1)),
}
#: Change and its probability for a count of five or more.
LARGE: tuple[tuple[int, float], ...] = ((-2, 0.1), (-1, 0.2), (0, 0.4), (1, 0.2), (2, 0.1))


def record_keys(ids: Iterable[str], secret: bytes, domain: str) -> np.ndarray:
    """A secret 64-bit key per record: keyed BLAKE2b of ``domain`` and the record's id.

    ``domain`` (the table) keeps a case and an inspection of the same id apart. Without
    ``secret`` nobody can compute a key, so nobody can predict a cell's perturbation.

    >>> keys = record_keys(["a", "b"], b"s" * 32, "cases")
    >>> keys.dtype, bool(keys[0] != keys[1])
    (dtype('uint64'), True)
    """
    prefix = domain.encode("utf-8") + b"\x00"
    digests = b"".join(
        hashlib.blake2b(prefix + str(i).encode("utf-8"), key=secret, digest_size=8).digest()
        for i in ids
    )
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def cell_keys(groups: np.ndarray, keys: np.ndarray, n_groups: int) -> np.ndarray:
    """The cell key of each of ``n_groups`` cells: the sum of the keys of its records
    (``groups`` gives each record's cell, −1 for none) modulo 2^64.

    >>> cell_keys(np.array([0, 1, 0, -1]), np.array([2**63, 5, 2**63 + 1, 7], np.uint64), 2)
    array([1, 5], dtype=uint64)
    """
    out = np.zeros(n_groups, dtype=np.uint64)
    inside = groups >= 0
    np.add.at(out, groups[inside], keys[inside].astype(np.uint64))  # wraps modulo 2^64
    return out


def uniform(keys: np.ndarray) -> np.ndarray:
    """The cell keys as numbers in [0, 1) (their top 53 bits)."""
    return (keys.astype(np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def perturb(counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The published counts: each true count moved as the table says at its cell key.

    >>> perturb(np.array([0, 7]), np.array([123, 2**63], np.uint64)).tolist()
    [0, 7]
    """
    counts = np.asarray(counts).astype(np.int64)
    u = uniform(np.asarray(keys))
    out = counts.copy()
    for count, outcomes in SMALL.items():
        small = counts == count
        out[small] = _outcome(outcomes, u[small])
    large = counts > max(SMALL)
    out[large] = counts[large] + _outcome(LARGE, u[large])
    return out


def _outcome(outcomes: tuple[tuple[int, float], ...], u: np.ndarray) -> np.ndarray:
    """The outcome whose band of cumulative probability holds each ``u``."""
    values = np.array([v for v, _ in outcomes], dtype=np.int64)
    edges = np.cumsum([p for _, p in outcomes])
    edges[-1] = 1.0  # rounding must not leave a sliver of [0, 1) without an outcome
    return values[np.searchsorted(edges, u, side="right")]


def expected(count: int) -> float:
    """The mean published value of a true ``count`` (equal to it: the table is unbiased)."""
    if count <= 0:
        return 0.0
    if count in SMALL:
        return float(sum(v * p for v, p in SMALL[count]))
    return float(count + sum(d * p for d, p in LARGE))
