"""Synthetic, seeded enforcement data over the bundled Guangxi boundaries.

``write_sample`` writes a pollution-source register, penalty cases and
inspections with planted structure (hot spots, quiet and worsening counties,
industry risk and problem families) and planted dirt, plus the truth files that
let tests check what analytics and ingest recover.
"""

from geo_service.sample.generator import SampleError, generate_sample, write_sample

__all__ = ["SampleError", "generate_sample", "write_sample"]
