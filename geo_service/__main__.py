"""``python -m geo_service`` runs the command line.

Guarded: an ingest's worker processes are spawned, and a spawned process imports the
main module of its parent (under another name) before it starts its work.
"""

from geo_service.cli import main

if __name__ == "__main__":
    main()
