"""The public view: one policy for every anonymous output (items, tiles, downloads,
maps, cell pop-ups, ledgers), documented in docs/security.md.

- **A fixed lattice** (:mod:`.lattice`). Periods are whole years, quarters or months
  (``period``): no free ``start``/``end``. Hexagons and hot spots come at one coarse
  resolution, so no parent cell can be differenced against its children. Clusters,
  problem types and their commonalities come with their default parameters only; risk
  layers need an account.
- **Cell-key perturbation** (:mod:`analytics.cell_key`, the ABS/ONS method) of every
  published count, keyed on the records behind it with a secret of the store. Counts of
  1 and 2 are never published; a count above four moves by at most 2. Analyses built on
  counts (Gi* hot spots, emerging hot spots, the density surface) are computed from the
  perturbed counts, so they reveal nothing the counts do not
  (:mod:`geo_service.builds.public`).
- **No magnitudes, no fine detail.** Penalty sums, rates, per-type tallies, dates of
  clusters and enterprise names are left out; a cluster is outlined by the H3 cells
  around it, never by the polygon of a few cases.
- **The density surface** is the kernel density of the perturbed public hexagon counts
  at their cells' centres, with floors on bandwidth and cell size, never weighted.
"""
