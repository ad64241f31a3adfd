"""Seeded benchmark points: 40 blobs plus a 20 % uniform background inside a box."""

from __future__ import annotations

import numpy as np


def blobs_with_background(
    n: int, box: tuple[float, float, float, float], spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in ``box`` (x_min, y_min, x_max, y_max): blobs of sd ``spread``, background."""
    x_min, y_min, x_max, y_max = box
    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(x_min, x_max, 40), rng.uniform(y_min, y_max, 40)])
    which = rng.integers(0, 40, n)
    x = centres[which, 0] + rng.normal(0, spread, n)
    y = centres[which, 1] + rng.normal(0, spread, n)
    background = rng.random(n) < 0.2
    x[background] = rng.uniform(x_min, x_max, background.sum())
    y[background] = rng.uniform(y_min, y_max, background.sum())
    return x, y
