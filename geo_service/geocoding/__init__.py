"""Placing records without coordinates: the register, then the address."""

from geo_service.geocoding.addresses import AddressMatch, Gazetteer
from geo_service.geocoding.names import normalize_company_name

__all__ = ["AddressMatch", "Gazetteer", "normalize_company_name"]
