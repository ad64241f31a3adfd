"""Errors raised by the analytics package.

Each also subclasses :class:`ValueError`, so callers that only know the standard
exceptions still handle them.
"""


class AnalyticsError(ValueError):
    """Base class of every analytics error."""


class UnknownCRSError(AnalyticsError):
    """A coordinate-system label names no supported system."""


class DrawError(AnalyticsError):
    """An inspection draw's inputs or parameters are unusable."""


class StaffingError(DrawError):
    """A drawn enterprise cannot be given a full team of non-conflicted inspectors."""


class RiskError(AnalyticsError):
    """Risk inputs or parameters (tables, weights, tiers, window) that cannot be scored."""


class PriorityError(AnalyticsError):
    """Priority areas or an inspection plan cannot be built from the inputs given."""
