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

SIZES = (300_000, 1_000_000, 10_000_000)
QUICK_SIZES = (20_000, 60_000)
LAYERS = ["hexagons", "hotspots", "kde", "emerging-hotspots"]
PLOT = DOC.parent / "scaling.png"
PROGRESS = Path(tempfile.gettempdir()) / "geo-scale-progress.json"

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
import csv, datetime as dt, sys
from pathlib import Path
from geo_service.boundaries import load_divisions, read_divisions_file
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
folder = Path(sys.argv[1])
engine = make_engine(f"sqlite:///{folder / 'geo.db'}")
migrate(engine)
load_divisions(engine, read_divisions_file())
# cases arrive as files of at most 1M rows (a month's or a city's ledger), one batch each:
# an ingest holds its file in memory, about 3.5 KB a row
parts, rows = [], 0
with (folder / "data" / "cases.csv").open(encoding="gb18030", newline="") as source:
    reader = csv.reader(source)
    header = next(reader)
    out = None
    for row in reader:
        if rows % 1_000_000 == 0:
            if out:
                out.close()
            parts.append(folder / f"cases-{len(parts):03d}.csv")
            out = parts[-1].open("w", encoding="gb18030", newline="")
            writer = csv.writer(out)
            writer.writerow(header)
        writer.writerow(row)
        rows += 1
    if out:
        out.close()
accepted = 0
files = [("enterprises", folder / "data" / "enterprises.csv"), *(("cases", p) for p in parts)]
for kind, path in files:
    options = IngestOptions(kind=kind, rejects_path=folder / f"{path.stem}.rejects.csv",
                            progress=False, today=dt.date(2026, 11, 28))
    summary = ingest_file(engine, path, options)
    accepted += summary["accepted"] if kind == "cases" else 0
    path.unlink() if kind == "cases" else None
print(accepted)
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
    result = {"seconds": time.perf_counter() - started, "peak_mib": peak[0], "out": out.strip()}
    if proc.returncode != 0:  # recorded, not raised: the table says what did not finish
        result["error"] = f"exit status {proc.returncode}"
    return result


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
                      f"peak {result['peak_mib']:8.0f} MiB {result.get('error', '')}",
                      flush=True)  # fmt: skip
                PROGRESS.write_text(json.dumps(results, indent=1, default=str))
                if "error" in result:
                    break  # the later phases need this one
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
        done = [n for n in sizes if n in by_size and "error" not in by_size[n]]
        left.plot(done, [by_size[n]["seconds"] for n in done], marker="o", label=phase)
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


def _phase_text(result: dict[str, Any] | None, what: str) -> str:
    if result is None:
        return f"{what}: not run (an earlier phase failed)"
    if "error" in result:
        return (
            f"{what}: failed after {result['seconds']:.0f} s ({result['error']}, "
            f"peak {result['peak_mib']:,.0f} MiB)"
        )
    return f"{what} {result['seconds']:.0f} s (peak {result['peak_mib']:,.0f} MiB)"


def rows(results: dict[str, Any], quick: bool) -> list[Row]:
    """One row per size: ingest, local build and Dask build, with memory peaks."""
    table = []
    phases = results["phases"]
    for n in results["sizes"]:
        ingest = phases.get("ingest", {}).get(n)
        speed = (
            "" if ingest is None or "error" in ingest else f"; {n / ingest['seconds']:,.0f} cases/s"
        )
        generate = phases["generate"][n]
        table.append(Row(
            work=f"{n:,} cases: ingest, then build {', '.join(LAYERS)} (Dask, 2 workers)",
            figure=_phase_text(ingest, "ingest (register + cases, ≤ 1M rows a batch)") + speed
                   + "; " + _phase_text(phases.get("build-dask", {}).get(n), "Dask build")
                   + " with its workers",
            target="—", met=None, baseline="the same build in one process (build_layers)",
            baseline_figure=_phase_text(phases.get("build-local", {}).get(n), "build"),
            note=f"{(ingest or {}).get('out', '?')} accepted; generating the CSV took "
                 f"{generate['seconds']:.0f} s" + ("; quick sizes" if quick else ""),
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
