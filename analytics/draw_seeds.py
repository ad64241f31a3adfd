"""Seeds of the inspection draw: their text, the published commitment, the generators.

The text of a seed is ``str(seed)``. The bureau publishes :func:`seed_commitment`
(SHA-256 of ``"geo-service-draw:" + text``) before the draw and reveals the seed
after. The generators are seeded from SHA-256 of a *different* text
(``"geo-service-draw-rng:<purpose>:" + text``), so the commitment tells nothing
about the draw. The commitment is an unsalted hash: a guessable seed (a date, a
small number) can be found from it, so use a long random one (e.g. 32 hex
characters from a secure source, :func:`new_seed`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import numpy as np

from analytics.errors import DrawError

_COMMIT_PREFIX = "geo-service-draw:"
_RNG_PREFIX = "geo-service-draw-rng:"


def seed_text(seed: str | int) -> str:
    """The canonical text of a seed: the string itself, or the integer in decimal.

    Examples
    --------
    >>> seed_text(42), seed_text("2025-Q1/abc")
    ('42', '2025-Q1/abc')
    """
    if isinstance(seed, bool) or not isinstance(seed, str | int | np.integer):
        raise DrawError(f"a seed is a string or an integer, not {type(seed).__name__}")
    text = seed if isinstance(seed, str) else str(int(seed))
    if not text:
        raise DrawError("the seed is empty")
    return text


def seed_commitment(seed: str | int) -> str:
    """Hex SHA-256 of ``"geo-service-draw:" + seed_text(seed)``, published before the draw.

    Examples
    --------
    >>> c = seed_commitment("f3a9c2")
    >>> len(c), verify_seed("f3a9c2", c), verify_seed("f3a9c3", c)
    (64, True, False)
    """
    return hashlib.sha256((_COMMIT_PREFIX + seed_text(seed)).encode("utf-8")).hexdigest()


def verify_seed(seed: str | int, commitment: str) -> bool:
    """Whether a revealed seed matches the commitment published before the draw."""
    return hmac.compare_digest(seed_commitment(seed), commitment.strip().lower())


def seeded_generator(seed: str | int, purpose: str) -> np.random.Generator:
    """A PCG64 generator seeded from SHA-256 of the seed's text and a purpose label.

    Each purpose (``"enterprises"``, ``"inspectors"``, ``"backtest"``) has its
    own stream, so a change of roster does not change which enterprises are drawn.
    """
    text = f"{_RNG_PREFIX}{purpose}:{seed_text(seed)}"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


def new_seed() -> str:
    """A fresh seed: 32 hex characters (128 bits) from the operating system's secure source.

    Examples
    --------
    >>> len(new_seed()), new_seed() != new_seed()
    (32, True)
    """
    return secrets.token_hex(16)
