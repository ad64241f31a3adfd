"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

An 18-character code identifies every legal entity in China::

    9 1 450103 MA5KB2XY 8 N
    │ │ │      │        │ └ check character of the whole code (GB 32100)
    │ │ │      │        └── check digit of the organisation code (GB 11714)
    │ │ │      └─────────── organisation code body (8 characters)
    │ │ └────────────────── registration authority's division code (adcode)
    │ └──────────────────── entity category (1 = enterprise under 工商)
    └────────────────────── registration authority (9 = 工商, market regulation)

Characters come from the 31-symbol alphabet ``0-9A-Y`` without ``I O S V Z``.
The final check character uses weights ``3**i mod 31``; the organisation code
(positions 9-17) carries its own GB 11714 check digit, where letters count
``A = 10 … Z = 35`` and the weights are 3, 7, 9, 10, 5, 8, 4, 2.

Examples
--------
>>> credit_code_check_char("91450103MA5KB2XY8")
'N'
>>> is_valid_credit_code("91450103MA5KB2XY8N")
True
>>> is_valid_credit_code("91450103MA5KB2XY8M")
False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from analytics.errors import AnalyticsError

#: The GB 32100 alphabet; a character's value is its position.
ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: Weights of positions 1-17: ``3**i mod 31``.
WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))
#: GB 11714 weights of the eight organisation-code body characters.
ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)

_VALUE: Final = {c: i for i, c in enumerate(ALPHABET)}
# GB 11714 counts letters from A = 10 to Z = 35 (over the full Latin alphabet).
_ORG_VALUE: Final = {c: int(c, 36) for c in ALPHABET}
_ASCII: Final = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_ORG_ASCII_VALUE: Final = np.array([int(c, 36) for c in ALPHABET], dtype=np.int64)
# Body characters of new-style organisation codes (MA5K…), region letters after "MA5".
_REGION_LETTERS: Final = "KLMNPQ"
_NEW_STYLE_SHARE: Final = 0.6
# Registration authority + category: (prefix, probability).
_PREFIXES: Final = (("91", 0.96), ("92", 0.02), ("93", 0.02))


class CreditCodeError(AnalyticsError):
    """A credit code or its parts are malformed."""


def _org_check_char(body: str) -> str:
    check = 11 - sum(_ORG_VALUE[c] * w for c, w in zip(body, ORG_WEIGHTS, strict=True)) % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def organization_code_check_char(body: str) -> str:
    """Return the GB 11714 check digit of an 8-character organisation code body.

    Parameters
    ----------
    body : str
        Eight characters of the credit-code alphabet.

    Returns
    -------
    str
        ``"0"``-``"9"`` or ``"X"``.

    Raises
    ------
    CreditCodeError
        When ``body`` is not eight characters of the alphabet.

    Examples
    --------
    >>> organization_code_check_char("MA5KB2XY")
    '8'
    >>> organization_code_check_char("19220382")  # Huawei's, check digit 1
    '1'
    """
    body = str(body).strip().upper()
    if len(body) != 8 or any(c not in _VALUE for c in body):
        raise CreditCodeError(f"organisation code body must be 8 characters of {ALPHABET}")
    return _org_check_char(body)


def credit_code_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a code.

    Parameters
    ----------
    first17 : str
        Registration authority, category, adcode and organisation code.

    Returns
    -------
    str
        One character of :data:`ALPHABET`.

    Raises
    ------
    CreditCodeError
        When ``first17`` is not 17 characters of the alphabet.

    Examples
    --------
    >>> credit_code_check_char("91450103MA5KB2XY8")
    'N'
    >>> credit_code_check_char("9144030071526726X")  # Tencent: 9144030071526726XG
    'G'
    """
    text = str(first17).strip().upper()
    if len(text) != 17 or any(c not in _VALUE for c in text):
        raise CreditCodeError(f"expected 17 characters of {ALPHABET}, got {first17!r}")
    total = sum(_VALUE[c] * w for c, w in zip(text, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """Whether a text is a well-formed credit code with both check characters right.

    Surrounding spaces and lower case are accepted.

    Examples
    --------
    >>> is_valid_credit_code(" 91450103ma5kb2xy8n ")
    True
    >>> is_valid_credit_code("91450103MA5KB2XY8")  # 17 characters
    False
    >>> is_valid_credit_code("91450103MA5KB2XI8N")  # I is not in the alphabet
    False
    >>> is_valid_credit_code("91450103MA5KB2XY9N")  # organisation check digit wrong
    False
    """
    text = str(code).strip().upper()
    if len(text) != 18 or any(c not in _VALUE for c in text):
        return False
    if _org_check_char(text[8:16]) != text[16]:
        return False
    return credit_code_check_char(text[:17]) == text[17]


_POSITION: Final = np.full(256, 255, dtype=np.uint8)  # byte → alphabet position (255: none)
_POSITION[_ASCII] = np.arange(len(ALPHABET), dtype=np.uint8)
_ORG_BYTE_VALUE: Final = np.zeros(256, dtype=np.int64)  # byte → GB 11714 value
_ORG_BYTE_VALUE[_ASCII] = _ORG_ASCII_VALUE


def check_credit_codes(codes: Sequence[str]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Whether each code (already trimmed and upper-cased) is well formed (18 characters
    of the alphabet), and whether it is valid (:func:`is_valid_credit_code`), at once.

    Examples
    --------
    >>> formed, valid = check_credit_codes(["91450103MA5KB2XY8N", "91450103MA5KB2XY8M", "1"])
    >>> formed.tolist(), valid.tolist()
    ([True, True, False], [True, False, False])
    """
    text = np.asarray(codes, dtype=object).reshape(-1)
    formed = np.zeros(len(text), dtype=bool)
    valid = np.zeros(len(text), dtype=bool)
    sized = np.fromiter((len(c) == 18 and c.isascii() for c in text), bool, len(text))
    if not sized.any():
        return formed, valid
    chars = np.frombuffer("".join(text[sized]).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    values = _POSITION[chars]
    ok = (values != 255).all(axis=1)
    org = (_ORG_BYTE_VALUE[chars[:, 8:16]] * np.asarray(ORG_WEIGHTS)).sum(axis=1)
    digit = 11 - org % 11  # 10 → X, 11 → 0
    org_char = np.where(digit == 10, ord("X"), np.where(digit == 11, ord("0"), ord("0") + digit))
    total = (values[:, :17].astype(np.int64) * np.asarray(WEIGHTS)).sum(axis=1)
    check = (31 - total % 31) % 31
    formed[sized] = ok
    valid[sized] = ok & (org_char == chars[:, 16]) & (check == values[:, 17])
    return formed, valid


def _bodies(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """Organisation code bodies as alphabet positions, shape ``(n, 8)``."""
    digits = rng.integers(0, 10, size=(n, 8))
    digits[:, 0] = rng.integers(1, 8, size=n)  # old codes start 1-7
    new = rng.random(n) < _NEW_STYLE_SHARE
    tail = rng.integers(0, len(ALPHABET), size=(n, 4))
    region = np.array([_VALUE[c] for c in _REGION_LETTERS])[rng.integers(0, 6, size=n)]
    new_style = np.column_stack(
        [
            np.full(n, _VALUE["M"]),
            np.full(n, _VALUE["A"]),
            np.full(n, _VALUE["5"]),
            region,
            tail,
        ]
    )
    return np.where(new[:, None], new_style, digits).astype(np.int64)


def _assemble(
    prefixes: NDArray[np.int64], adcodes: NDArray[np.int64], bodies: NDArray[np.int64]
) -> list[str]:
    """Join the parts (alphabet positions) and append both check characters."""
    org_values = _ORG_ASCII_VALUE[bodies]
    org_check = 11 - (org_values @ np.array(ORG_WEIGHTS)) % 11
    org_check = np.where(org_check == 11, 0, org_check)  # 10 is 'X' below
    org_pos = np.where(org_check == 10, _VALUE["X"], org_check)
    first17 = np.column_stack([prefixes, adcodes, bodies, org_pos])
    check = (31 - (first17 @ np.array(WEIGHTS)) % 31) % 31
    chars = _ASCII[np.column_stack([first17, check])]
    return [s.decode("ascii") for s in np.ascontiguousarray(chars).view("S18").ravel()]


def make_credit_codes(n: int, adcodes: Sequence[str], seed: int) -> list[str]:
    """Generate ``n`` distinct valid credit codes, one per registering county.

    Registration authority ``9`` (market regulation) with category ``1``
    (enterprise) for about 96 % of codes, ``2`` (individual business) and ``3``
    (farmers' cooperative) for the rest; the organisation code body is new-style
    (``MA5K…``, as issued in Guangxi since 2015) for about 60 %, an old 8-digit
    code otherwise.

    Parameters
    ----------
    n : int
        How many codes.
    adcodes : sequence of str
        The 6-digit division code of each entity (length ``n``).
    seed : int
        Seed of the random generator; the same inputs give the same codes.

    Returns
    -------
    list of str
        ``n`` distinct codes, each passing :func:`is_valid_credit_code`.

    Raises
    ------
    CreditCodeError
        When ``adcodes`` does not hold ``n`` 6-digit codes.

    Examples
    --------
    >>> codes = make_credit_codes(3, ["450103", "450103", "451302"], seed=1)
    >>> [c[2:8] for c in codes], all(map(is_valid_credit_code, codes))
    (['450103', '450103', '451302'], True)
    >>> len(set(make_credit_codes(1000, ["450103"] * 1000, seed=2)))
    1000
    """
    if n < 0 or len(adcodes) != n:
        raise CreditCodeError(f"need one adcode per code: n={n}, got {len(adcodes)} adcodes")
    texts = [str(a) for a in adcodes]
    if any(len(a) != 6 or not a.isascii() or not a.isdigit() for a in texts):
        raise CreditCodeError("adcodes must be 6-digit division codes")
    ascii_digits = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8).reshape(n, 6)
    adcode_pos = ascii_digits.astype(np.int64) - ord("0")
    rng = np.random.default_rng(seed)
    prefix_pos = np.array([[_VALUE[p[0]], _VALUE[p[1]]] for p, _ in _PREFIXES], dtype=np.int64)
    prefix_prob = np.array([w for _, w in _PREFIXES])
    codes: list[str] = [""] * n
    todo = np.arange(n)
    seen: set[str] = set()
    while todo.size:
        prefixes = prefix_pos[rng.choice(len(prefix_pos), size=todo.size, p=prefix_prob)]
        batch = _assemble(prefixes, adcode_pos[todo], _bodies(rng, todo.size))
        retry = []
        for i, code in zip(todo, batch, strict=True):
            if code in seen:
                retry.append(i)
            else:
                seen.add(code)
                codes[i] = code
        todo = np.asarray(retry, dtype=np.int64)
    return codes
