"""Ingest of the bureaus' files: register, cases, inspections, exceedances, complaints, roster."""

from geo_service.ingest.columns import KINDS
from geo_service.ingest.pipeline import IngestOptions, ingest_file

__all__ = ["KINDS", "IngestOptions", "ingest_file"]
