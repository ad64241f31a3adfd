"""Stated credit codes: cleaned, and checked against GB 32100 before they are trusted."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analytics.credit_codes import ALPHABET, check_credit_codes, is_valid_credit_code

#: The flags a stated code may carry: not 18 characters of the code alphabet, or a
#: check character that does not match (a typing error: the code names no one).
BAD_FORMAT, BAD_CHECK = "bad_format", "bad_check"
_SHAPE = re.compile(f"[{ALPHABET}]{{18}}")


def clean_codes(codes: pd.Series) -> pd.Series:
    """Stated codes trimmed and upper-cased; empty cells as ``None``."""
    text = codes.astype(object).where(codes.notna(), "").astype(str).str.strip().str.upper()
    return text.where(text != "", None)


def credit_code_flag(code: str) -> str | None:
    """``None`` for a valid code, else :data:`BAD_FORMAT` or :data:`BAD_CHECK`.

    Examples
    --------
    >>> credit_code_flag("91450103MA5KB2XY8N"), credit_code_flag("91450103MA5KB2XY8M")
    (None, 'bad_check')
    >>> credit_code_flag("12345")
    'bad_format'
    """
    if not _SHAPE.fullmatch(code):
        return BAD_FORMAT
    return None if is_valid_credit_code(code) else BAD_CHECK


def credit_code_flags(codes: pd.Series) -> pd.Series:
    """:func:`credit_code_flag` of each code, cleaned (``None`` where no code is stated)."""
    cleaned = clean_codes(codes)
    stated = cleaned.notna().to_numpy()
    formed, valid = check_credit_codes(cleaned[stated].tolist())
    flags = np.full(len(cleaned), None, dtype=object)
    found = np.full(len(formed), BAD_FORMAT, dtype=object)
    found[formed] = BAD_CHECK
    found[valid] = None
    flags[np.flatnonzero(stated)] = found
    return pd.Series(flags, index=codes.index, dtype=object)
