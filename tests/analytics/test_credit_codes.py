"""Unified social credit codes (GB 32100-2015) and their GB 11714 organisation check digit."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.credit_codes import (
    ALPHABET,
    CreditCodeError,
    check_credit_codes,
    credit_code_check_char,
    is_valid_credit_code,
    make_credit_codes,
    organization_code_check_char,
)
from analytics.errors import AnalyticsError

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z


def _by_hand(first16: str) -> str:
    """The last two characters of a code, computed step by step from the standards."""
    # GB 11714: letters count A=10 … Z=35 over the full Latin alphabet
    org_values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in first16[8:16]]
    org_sum = sum(v * w for v, w in zip(org_values, [3, 7, 9, 10, 5, 8, 4, 2], strict=True))
    org_check = 11 - org_sum % 11
    org_char = {10: "X", 11: "0"}.get(org_check, str(org_check))
    # GB 32100: values are positions in the 31-character alphabet, weights 3**i mod 31
    first17 = first16[:16] + org_char
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(_ALPHABET.index(c) * w for c, w in zip(first17, weights, strict=True))
    return org_char + _ALPHABET[(31 - total % 31) % 31]


def test_hand_computed_code() -> None:
    # MA5KB2XY: 22*3+10*7+5*9+20*10+11*5+2*8+33*4+34*2 = 652; 652 % 11 = 3; 11-3 = 8
    assert _by_hand("91450103MA5KB2XY") == "8N"
    # first 17 weighted sum 2892; 2892 % 31 = 9; 31-9 = 22 → 'N'
    assert organization_code_check_char("MA5KB2XY") == "8"
    assert credit_code_check_char("91450103MA5KB2XY8") == "N"
    assert is_valid_credit_code("91450103MA5KB2XY8N")


@pytest.mark.parametrize(
    "first16",
    ["91450100MA5K8XY3", "93451302MA5N0P1Q", "92450881123456XY", "91451000198200110"[:16]],
)
def test_check_characters_agree_with_hand_computation(first16: str) -> None:
    tail = _by_hand(first16)
    assert organization_code_check_char(first16[8:16]) == tail[0]
    assert credit_code_check_char(first16 + tail[0]) == tail[1]
    assert is_valid_credit_code(first16 + tail)


@pytest.mark.parametrize(
    "code",
    [
        "914403001922038216",  # published on a business licence (Shenzhen)
        "91330100716105852F",  # published (Hangzhou)
        "9144030071526726XG",  # published; organisation check digit X
    ],
)
def test_published_codes_are_valid(code: str) -> None:
    assert is_valid_credit_code(code)
    assert _by_hand(code[:16]) == code[16:]


def test_organisation_check_digit_ten_is_x_and_eleven_is_zero() -> None:
    # 71526726 → 11 - (sum % 11) = 10 → 'X'
    assert organization_code_check_char("71526726") == "X"
    # a body whose weighted sum is a multiple of 11 → 11 → '0'
    assert organization_code_check_char("00000000") == "0"


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91450103MA5KB2XY8M", "final check character wrong"),
        ("91450103MA5KB2XY9N", "organisation check digit wrong"),
        ("91450103MA5KB2XY8", "17 characters"),
        ("91450103MA5KB2XY8NN", "19 characters"),
        ("91450103MA5KB2XI8N", "I is not in the alphabet"),
        ("91450103MA5KB2XO8N", "O is not in the alphabet"),
        ("91450103MA5KB2XY8Z", "Z is not in the alphabet"),
        ("９1450103MA5KB2XY8N", "full-width digit"),
        ("", "empty"),
    ],
)
def test_invalid_codes(code: str, why: str) -> None:
    assert not is_valid_credit_code(code), why


def test_spaces_and_lower_case_are_tolerated() -> None:
    assert is_valid_credit_code("  91450103ma5kb2xy8n\t")


def test_check_char_rejects_bad_input_with_an_analytics_error() -> None:
    with pytest.raises(CreditCodeError):
        credit_code_check_char("91450103MA5KB2XY")  # 16 characters
    with pytest.raises(AnalyticsError):
        credit_code_check_char("91450103MA5KB2XS8")  # S
    with pytest.raises(ValueError):
        organization_code_check_char("MA5KB2X")


def test_made_codes_are_unique_valid_and_carry_their_adcode() -> None:
    adcodes = ["450103", "451302", "450802"] * 1000
    codes = make_credit_codes(len(adcodes), adcodes, seed=11)
    assert len(set(codes)) == 3000
    assert all(is_valid_credit_code(c) for c in codes)
    assert [c[2:8] for c in codes] == adcodes
    prefixes = [c[:2] for c in codes]
    assert prefixes.count("91") / len(codes) > 0.9
    assert set(prefixes) <= {"91", "92", "93"}
    new_style = sum(c[8:11] == "MA5" for c in codes) / len(codes)
    assert 0.5 < new_style < 0.7


def test_made_codes_are_seeded() -> None:
    adcodes = ["450103"] * 50
    assert make_credit_codes(50, adcodes, seed=3) == make_credit_codes(50, adcodes, seed=3)
    assert make_credit_codes(50, adcodes, seed=3) != make_credit_codes(50, adcodes, seed=4)
    assert make_credit_codes(0, [], seed=3) == []


@pytest.mark.parametrize("adcodes", [["450103"], ["4501031", "450103"], ["45010X", "450103"]])
def test_made_codes_need_one_six_digit_adcode_each(adcodes: list[str]) -> None:
    with pytest.raises(CreditCodeError):
        make_credit_codes(2, adcodes, seed=1)


def _one_off(code: str, rng: np.random.Generator) -> str:
    """``code`` with one character changed, dropped or added."""
    at = int(rng.integers(0, len(code)))
    choice = int(rng.integers(0, 3))
    other = ALPHABET[int(rng.integers(0, len(ALPHABET)))]
    if choice == 0:
        return code[:at] + other + code[at + 1 :]
    return code[:at] + code[at + 1 :] if choice == 1 else code[:at] + other + code[at:]


def test_the_vectorised_check_agrees_with_the_check_of_one_code() -> None:
    rng = np.random.default_rng(7)
    made = make_credit_codes(3_000, ["450103", "450200", "110105"] * 1_000, seed=3)
    codes = made + [_one_off(c, rng) for c in made] + ["", "12345", "91450103MA5KB2XI8N"]
    codes += ["９１450103MA5KB2XY8N", "91450103MA5KB2XY8Nx", "91450103MA5KB2XY9N"]
    formed, valid = check_credit_codes(codes)
    assert valid.tolist() == [is_valid_credit_code(c) for c in codes]
    assert formed.tolist() == [len(c) == 18 and all(ch in ALPHABET for ch in c) for c in codes]
    assert valid[:3_000].all() and 0 < valid[3_000:6_000].sum() < 300  # few typos still check
