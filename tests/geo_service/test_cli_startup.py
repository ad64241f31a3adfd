"""Commands start fast: `geo-service --help` (and a command's) loads none of the heavy
libraries, which the commands import only when they run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "geopandas", "shapely", "pyproj", "sklearn", "sqlalchemy", "fastapi")

_PROBE = """
import json, sys
from geo_service.cli import app
try:
    app(sys.argv[1:], prog_name="geo-service")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


@pytest.mark.parametrize("args", [["--help"], ["ingest", "--help"], ["build", "--help"]])
def test_help_loads_no_heavy_library(args: list[str]) -> None:
    probe = _PROBE.format(heavy=set(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
    )
    *shown, loaded = done.stdout.strip().splitlines()
    assert "Usage" in "\n".join(shown)
    assert json.loads(loaded) == []
