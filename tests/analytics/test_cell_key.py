"""The cell-key perturbation: unbiased, never 1 or 2, bounded, consistent, and keyed."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import cell_key

SECRET = bytes(range(32))


def _uniform_keys(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, n, dtype=np.uint64)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 6, 17, 1000])
def test_the_table_is_unbiased_and_matches_its_probabilities(count: int) -> None:
    published = cell_key.perturb(np.full(200_000, count), _uniform_keys(200_000, seed=count))
    assert cell_key.expected(count) == pytest.approx(count)
    assert published.mean() == pytest.approx(count, abs=0.02)
    outcomes = cell_key.SMALL.get(count) or tuple((count + d, p) for d, p in cell_key.LARGE)
    if count == 0:
        outcomes = ((0, 1.0),)
    for value, probability in outcomes:
        assert (published == value).mean() == pytest.approx(probability, abs=0.005)
    assert set(np.unique(published)) == {v for v, _ in outcomes}


def test_small_counts_are_never_published_and_large_ones_move_little() -> None:
    counts = np.random.default_rng(1).integers(0, 60, 100_000)
    published = cell_key.perturb(counts, _uniform_keys(counts.size, seed=2))
    assert not np.isin(published, cell_key.NEVER_PUBLISHED).any()
    assert (published[counts == 0] == 0).all()
    large = counts >= 5
    assert np.abs(published[large] - counts[large]).max() == cell_key.MAX_DEVIATION
    assert (published >= 0).all()


def test_cell_keys_are_sums_of_record_keys_modulo_two_to_the_64() -> None:
    keys = cell_key.record_keys([f"case-{i}" for i in range(1000)], SECRET, "cases")
    groups = np.arange(1000) % 7
    summed = cell_key.cell_keys(groups, keys, 7)
    for g in range(7):
        assert int(summed[g]) == sum(int(k) for k in keys[groups == g]) % 2**64
    shuffled = np.random.default_rng(3).permutation(1000)  # the order of records is no matter
    assert (cell_key.cell_keys(groups[shuffled], keys[shuffled], 7) == summed).all()


def test_record_keys_depend_on_the_secret_and_the_table() -> None:
    ids = ["粤环罚〔2024〕1号", "A-2"]
    same = cell_key.record_keys(ids, SECRET, "cases")
    assert (same == cell_key.record_keys(ids, SECRET, "cases")).all()  # consistent
    assert (same != cell_key.record_keys(ids, bytes(32), "cases")).all()  # keyed
    assert (same != cell_key.record_keys(ids, SECRET, "inspections")).all()


def test_differencing_two_published_counts_does_not_give_the_withheld_one() -> None:
    """A year of n records minus its published part of n − 1 records leaves one record:
    the published difference is that one record only where the noise happens to cancel."""
    rng = np.random.default_rng(4)
    n_cells = 20_000
    part = rng.integers(3, 40, n_cells)  # three visible quarters
    ids = np.arange(n_cells * 50).reshape(n_cells, 50).astype(str)
    year_keys, part_keys = [], []
    for row, size in zip(ids, part, strict=True):
        keys = cell_key.record_keys(row[: size + 1], SECRET, "cases")
        year_keys.append(int(keys.sum(dtype=np.uint64)))
        part_keys.append(int(keys[:size].sum(dtype=np.uint64)))
    year = cell_key.perturb(part + 1, np.array(year_keys, np.uint64))
    visible = cell_key.perturb(part, np.array(part_keys, np.uint64))
    difference = year - visible
    assert np.mean(difference == 1) < 0.3  # right by chance at most three times in ten
    assert len(np.unique(difference)) >= 7  # and no way to tell which times
