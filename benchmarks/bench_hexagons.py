"""1M points → H3 res-8 cells + counts, beside an h3-py scalar loop on the same points."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd

from analytics.hexagons import count_points_per_cell
from benchmarks.points import blobs_with_background
from benchmarks.report import Row, best_of, stopwatch

TARGET_S = 0.35


def _scalar(lon: np.ndarray, lat: np.ndarray) -> pd.Series:
    cells = [h3.latlng_to_cell(y, x, 8) for x, y in zip(lon.tolist(), lat.tolist(), strict=True)]
    return pd.Series(cells).value_counts()


def run(quick: bool = False) -> list[Row]:
    n = 100_000 if quick else 1_000_000
    lon, lat = blobs_with_background(n, (104.5, 21.5, 112.0, 26.3), 0.08, seed=11)
    ours = best_of(5, lambda: count_points_per_cell(lon, lat, 8))
    with stopwatch() as baseline:
        expected = _scalar(lon, lat)
    cells, counts = count_points_per_cell(lon, lat, 8)
    same = len(expected) == len(cells) and all(
        expected[h3.int_to_str(int(c))] == k
        for c, k in zip(cells[:1000], counts[:1000], strict=True)
    )
    return [
        Row(
            work=f"{n:,} points → H3 res-8 cells + counts",
            figure=f"{ours:.3f} s",
            target=f"≤ {TARGET_S} s",
            met=None if quick else ours <= TARGET_S,
            baseline="h3-py latlng_to_cell loop + value_counts",
            baseline_figure=f"{baseline():.3f} s",
            note=f"{len(cells):,} cells; identical cells and counts to the baseline: {same}; "
            f"speed-up ×{baseline() / ours:.1f}",
        )
    ]
