"""``python -m geo_service`` runs the command line."""

from geo_service.cli import main

main()
