"""How cost grows with records: generate, ingest and build at growing sizes, one machine
against the Dask cluster (a LocalCluster of 2 workers), with the memory each phase peaks at.

Each phase runs in a process of its own; its peak memory is the largest resident set of
that process and every process it started (the Dask workers included), sampled every
0.2 s. The build covers the additive layers both backends compute (hexagons at every
resolution, H3 hot spots, the KDE surfaces, emerging hot spots); clusters and problem
types are not additive and are left out of both. A second table gives the cost of the
H3 aggregation alone against the hexagon resolution, on the largest size's points.

``python -m benchmarks.bench_scale [--sizes 1000000,3000000,10000000]``; ``make bench``
runs the default sizes; ``--quick`` small ones. The plot goes to docs/scaling.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.report import DOC, Row, markdown, update_doc

SIZES = (1_000_000, 3_000_000, 10_000_000)
QUICK_SIZES = (20_000, 60_000)
LAYERS = ["hexagons", "hotspots", "kde", "emerging-hotspots"]
PLOT = DOC.parent / "scaling.png"

#: The phases, each a program run by ``python -c`` with the store folder and size.
_PHASES = {
    "generate": """
import sys
from pathlib import Path
from geo_service.sample import write_sample
folder, n = Path(sys.argv[1]), int(sys.argv[2])
write_sample(folder / "data", seed=11, n_enterprises=23_000, n_cases=n, n_inspections=0)
""",
    "ingest": """
import datetime as dt, sys
from pathlib import Path
from geo_service.boundaries import load_divisions, read_divisions_file
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
folder = Path(sys.argv[1])
engine = make_engine(f"sqlite:///{folder / 'geo.db'}")
migrate(engine)
load_divisions(engine, read_divisions_file())
for kind in ("enterprises", "cases"):
    options = IngestOptions(kind=kind, rejects_path=folder / f"{kind}.rejects.csv",
                            progress=False, today=dt.date(2026, 11, 28))
    summary = ingest_file(engine, folder / "data" / f"{kind}.csv", options)
print(summary["accepted"])
""",
    "build-local": """
import sys
from pathlib import Path
from geo_service.build import build_layers
from geo_service.filters import Filters
from geo_service.store import make_engine
engine = make_engine(f"sqlite:///{Path(sys.argv[1]) / 'geo.db'}")
build_layers(engine, Filters(), %(layers)r)
""",
    "build-dask": """
import sys
from pathlib import Path
from geo_service.distributed import build_layers_dask
from geo_service.filters import Filters
from geo_service.store import make_engine
engine = make_engine(f"sqlite:///{Path(sys.argv[1]) / 'geo.db'}")
build_layers_dask(engine, Filters(), %(layers)r, timeout_s=3600)
""",
}


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (MiB)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def run_phase(name: str, folder: Path, n: int) -> dict[str, Any]:
    """Run one phase in its own process: seconds, peak memory of its process tree, output."""
    program = _PHASES[name] % {"layers": LAYERS} if "%(" in _PHASES[name] else _PHASES[name]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", program, str(folder), str(n)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mib(proc.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"phase {name} at {n:,} records failed ({proc.returncode})")
    return {"seconds": time.perf_counter() - started, "peak_mib": peak[0], "out": out.strip()}


def resolution_costs(n: int) -> list[dict[str, Any]]:
    """Seconds of the H3 aggregation of ``n`` points against the resolution, and cells made."""
    import numpy as np

    from analytics.hexagons import Records, hexagon_aggregates
    from benchmarks.points import blobs_with_background
    from benchmarks.report import best_of

    lon, lat = blobs_with_background(n, (104.5, 21.5, 112.0, 26.2), 0.15, seed=3)
    cases = Records.of(lon, lat, amount=np.ones(n))
    empty = Records.of(np.empty(0), np.empty(0))
    costs = []
    for resolution in range(5, 11):
        seconds = best_of(2, lambda r=resolution: hexagon_aggregates(cases, empty, empty, r))
        cells = len(hexagon_aggregates(cases, empty, empty, resolution))
        costs.append({"resolution": resolution, "seconds": seconds, "cells": cells})
    return costs


def measure(sizes: tuple[int, ...]) -> dict[str, Any]:
    """Every phase at every size, in a temporary folder per size."""
    results: dict[str, Any] = {"sizes": list(sizes), "phases": {}}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="geo-scale-") as tmp:
            folder = Path(tmp)
            for phase in _PHASES:
                result = run_phase(phase, folder, n)
                results["phases"].setdefault(phase, {})[n] = result
                print(f"{phase:12} {n:>11,}: {result['seconds']:8.1f} s, "
                      f"peak {result['peak_mib']:8.0f} MiB", flush=True)  # fmt: skip
    results["resolution"] = resolution_costs(max(sizes))
    return results


def plot(results: dict[str, Any], path: Path) -> None:
    """Seconds against records (log-log) per phase, and seconds and cells against resolution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    sizes = results["sizes"]
    for phase, by_size in results["phases"].items():
        left.plot(sizes, [by_size[n]["seconds"] for n in sizes], marker="o", label=phase)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("penalty case records")
    left.set_ylabel("seconds")
    left.set_title("cost against records (2 cores)")
    left.legend()
    res = results["resolution"]
    right.plot([r["resolution"] for r in res], [r["seconds"] for r in res], marker="o",
               label="seconds")  # fmt: skip
    right.set_xlabel("H3 resolution")
    right.set_ylabel(f"seconds to aggregate {max(sizes):,} points")
    twin = right.twinx()
    twin.plot([r["resolution"] for r in res], [r["cells"] for r in res], marker="s",
              color="tab:red", label="cells")  # fmt: skip
    twin.set_yscale("log")
    twin.set_ylabel("cells with records", color="tab:red")
    right.set_title("cost against resolution")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rows(results: dict[str, Any], quick: bool) -> list[Row]:
    """One row per size: ingest, local build and Dask build, with memory peaks."""
    table = []
    phases = results["phases"]
    for n in results["sizes"]:
        local, dask = phases["build-local"][n], phases["build-dask"][n]
        ingest, generate = phases["ingest"][n], phases["generate"][n]
        table.append(Row(
            work=f"{n:,} cases: ingest, then build {', '.join(LAYERS)} (Dask, 2 workers)",
            figure=f"ingest (register + cases) {ingest['seconds']:.0f} s "
                   f"({n / ingest['seconds']:,.0f} cases/s, "
                     f"peak {ingest['peak_mib']:,.0f} MiB); Dask build {dask['seconds']:.0f} s "
                     f"(peak {dask['peak_mib']:,.0f} MiB with workers)",
            target="—", met=None, baseline="the same build on one process (build_layers)",
            baseline_figure=f"{local['seconds']:.0f} s (peak {local['peak_mib']:,.0f} MiB)",
            note=f"{ingest['out']} accepted; generating the CSV took {generate['seconds']:.0f} s"
                 + ("; quick sizes" if quick else ""),
        ))  # fmt: skip
    resolution = ", ".join(
        f"r{r['resolution']} {r['seconds']:.2f} s / {r['cells']:,} cells"
        for r in results["resolution"]
    )
    table.append(Row(
        work=f"H3 aggregation of {max(results['sizes']):,} points against resolution",
        figure=resolution, target="—", met=None, baseline="—", baseline_figure="—",
        note=f"plot: {PLOT.name}",
    ))  # fmt: skip
    return table


def run(quick: bool = False, sizes: tuple[int, ...] | None = None) -> list[Row]:
    """The scaling benchmark (``make bench``): the default sizes, or small ones with ``quick``."""
    results = measure(sizes or (QUICK_SIZES if quick else SIZES))
    if not quick:
        plot(results, PLOT)
        (DOC.parent / "scaling.json").write_text(json.dumps(results, indent=1, default=str))
    return rows(results, quick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated record counts")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    table = run(args.quick, sizes)
    print(f"\n## scale\n\n{markdown(table)}\n", flush=True)
    if not args.no_doc and not args.quick:
        update_doc("scale", table)


if __name__ == "__main__":
    main()
