"""Geospatial analytics service for environmental-enforcement bureaus."""

__version__ = "0.1.0"
