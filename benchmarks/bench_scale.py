"""How cost grows with records: generate, ingest and build at growing sizes, one machine
against the Dask cluster (a LocalCluster of 2 workers), with the memory each phase peaks at.

Each phase runs in a process of its own; its peak memory is the largest resident set of
that process and every process it started (the Dask workers included), sampled every
0.2 s. The build covers the additive layers both backends compute (hexagons at every
resolution, H3 hot spots, the KDE surfaces, emerging hot spots); clusters and problem
types are not additive and are left out of both. A second table gives the cost of the
H3 aggregation alone against the hexagon resolution, on the largest size's points.

Sizes above 10M are made of parts of at most 10M cases (the generator holds a sample in
memory, and a national platform's data arrive as many bureaus' ledgers anyway), each an
independently seeded sample over Guangxi with its own register (seeds 11, 12, …; the
case ids of part k get the suffix ``-k``), generated a part a core at a time. A phase
whose process tree grows past the memory cap (``GEO_BENCH_MEMORY_CAP_MIB``, default
20,480 MiB of the machine's 24 GB) is stopped and recorded as such.

``python -m benchmarks.bench_scale [--sizes 1000000,3000000,10000000] [--merge]``;
``make bench`` runs the default sizes, 300k and 1M (``--large``: 10M too), and adds them
to docs/scaling.json; ``--quick`` small ones; ``--merge`` adds the sizes given to those in
docs/scaling.json (the earlier runs' figures, 10M and 50M, are kept as they were).
The plot goes to docs/scaling.png. ``--from-progress`` makes the table, plot and
docs/scaling.json from the phases a run has finished (its progress file), when the run
was stopped before its last step, the H3 aggregation against resolution: that table is
then the earlier run's. ``--store DIR --phases build-dask`` runs phases again on a
stopped run's store folder (``geo.db``; the size from its progress file) and adds them to
that file; ``--progress FILE`` keeps a run's progress in a file of its own (default one
in the temporary folder).

The one-process build streams the additive layers from the store in chunks
(``GEO_BUILD_CHUNK_ROWS`` rows, :mod:`geo_service.builds.streaming`), as the Dask
workers stream partitions. Each phase records the 1-minute load average when it
started and ended (2 shared cores: the times are only comparable at like loads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.report import DOC, Row, markdown, update_doc
from benchmarks.serving import process_tree

SIZES = (300_000, 1_000_000)
#: Sizes ``make bench`` measures only with ``--large`` (benchmarks/README.md).
LARGE_SIZES = (10_000_000,)
PART_CASES = int(os.environ.get("GEO_BENCH_PART_CASES", 10_000_000))  # cases of one sample
QUICK_SIZES = (20_000, 60_000)
#: Issue 20's bound on the one-process build's peak memory, by size (MiB).
LOCAL_PEAK_MIB = {10_000_000: 3 * 1024, 50_000_000: 8 * 1024}
LAYERS = ["hexagons", "hotspots", "kde", "emerging-hotspots"]
PLOT = DOC.parent / "scaling.png"
RESULTS = DOC.parent / "scaling.json"
PROGRESS = Path(tempfile.gettempdir()) / "geo-scale-progress.json"
MEMORY_CAP_MIB = float(os.environ.get("GEO_BENCH_MEMORY_CAP_MIB", 20_480))

#: The phases, each a program run by ``python -c`` with the store folder and size.
_PHASES = {
    "generate": """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from geo_service.sample import write_sample
folder, n, part = Path(sys.argv[1]), int(sys.argv[2]), %(part)d
def generate(k):
    out = folder / "data" / f"part-{k}"
    write_sample(out, seed=11 + k, n_enterprises=23_000, n_cases=min(part, n - k * part),
                 n_inspections=0, n_exceedances=0, n_complaints=0)
    for name in ("truth_points.csv", "expected_rejects.csv", "truth_links.csv", "truth.json"):
        (out / name).unlink()  # the disk is for the store: 0.9 GB a part of 10M
parts = range(-(-n // part))
if len(parts) == 1:
    generate(0)
else:  # a part a core at a time: each is generated alone, whatever runs beside it
    fork = multiprocessing.get_context("fork")  # the workers inherit generate()
    with ProcessPoolExecutor(min(len(parts), os.cpu_count() or 1), mp_context=fork) as pool:
        list(pool.map(generate, parts))
""",
    "ingest": """
import datetime as dt, sys
from pathlib import Path
from geo_service.store.boundaries import load_divisions, read_divisions_file
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
folder = Path(sys.argv[1])
engine = make_engine(f"sqlite:///{folder / 'geo.db'}")
migrate(engine)
load_divisions(engine, read_divisions_file())
# cases arrive as files of at most 1M rows (a month's or a city's ledger), one batch each
from benchmarks.ledgers import split_ledgers
def ingest(kind, path):
    options = IngestOptions(kind=kind, rejects_path=folder / f"{path.stem}.rejects.csv",
                            progress=False, today=dt.date(2026, 11, 28))
    return ingest_file(engine, path, options)["accepted"]
accepted = 0
parts = sorted((folder / "data").glob("part-*"), key=lambda p: int(p.name.split("-")[1]))
for k, data in enumerate(parts):
    ingest("enterprises", data / "enterprises.csv")
for k, data in enumerate(parts):
    for path in split_ledgers(data / "cases.csv", folder, id_suffix=f"-{k}" if k else "",
                              remove_source=True):
        accepted += ingest("cases", path)
        path.unlink()
print(accepted)
""",
    "build-dask": """
import sys
from pathlib import Path
from geo_service.scale.dask_build import build_layers_dask
from geo_service.core.filters import Filters
from geo_service.store import make_engine
engine = make_engine(f"sqlite:///{Path(sys.argv[1]) / 'geo.db'}")
build_layers_dask(engine, Filters(), %(layers)r, timeout_s=3600)
""",
    "build-local": """
import sys
from pathlib import Path
from geo_service.builds.run import build_layers
from geo_service.core.filters import Filters
from geo_service.store import make_engine
engine = make_engine(f"sqlite:///{Path(sys.argv[1]) / 'geo.db'}")
build_layers(engine, Filters(), %(layers)r)
""",
}
#: The phases the later ones need: when one of these fails, the size's run stops.
_NEEDED = ("generate", "ingest")


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (MiB)."""
    import psutil

    total = 0
    for proc in process_tree(pid) or []:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def run_phase(name: str, folder: Path, n: int) -> dict[str, Any]:
    """Run one phase in its own process: seconds, peak memory of its process tree, output."""
    program = (
        _PHASES[name] % {"layers": LAYERS, "part": PART_CASES}
        if "%(" in _PHASES[name]
        else _PHASES[name]
    )
    load_started = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", program, str(folder), str(n)], stdout=subprocess.PIPE, text=True
    )
    peak = [0.0]
    capped = threading.Event()

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mib(proc.pid))
            if peak[0] > MEMORY_CAP_MIB and not capped.is_set():
                capped.set()
                _kill_tree(proc.pid)
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    watcher.join()
    result = {
        "seconds": time.perf_counter() - started,
        "peak_mib": peak[0],
        "out": out.strip(),
        "load": [load_started, round(os.getloadavg()[0], 2)],
    }
    if capped.is_set():
        result["error"] = f"stopped at the {MEMORY_CAP_MIB:,.0f} MiB memory cap"
    elif proc.returncode != 0:  # recorded, not raised: the table says what did not finish
        result["error"] = f"exit status {proc.returncode}"
    return result


def _report(phase: str, n: int, result: dict[str, Any]) -> None:
    print(
        f"{phase:12} {n:>11,}: {result['seconds']:8.1f} s, "
        f"peak {result['peak_mib']:8.0f} MiB {result.get('error', '')}",
        flush=True,
    )


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (the Dask workers included), children first."""
    import psutil

    for proc in reversed(process_tree(pid) or []):
        try:
            proc.kill()
        except psutil.Error:
            continue


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


def measure(sizes: tuple[int, ...], progress: Path = PROGRESS) -> dict[str, Any]:
    """Every phase at every size, in a temporary folder per size (``progress``: where the
    phases finished are written as they finish)."""
    results: dict[str, Any] = {"sizes": list(sizes), "phases": {}}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="geo-scale-") as tmp:
            folder = Path(tmp)
            for phase in _PHASES:
                result = run_phase(phase, folder, n)
                results["phases"].setdefault(phase, {})[n] = result
                _report(phase, n, result)
                progress.write_text(json.dumps(results, indent=1, default=str))
                if "error" in result and phase in _NEEDED:
                    break  # the later phases need this one
    results["resolution"] = resolution_costs(max(sizes))
    results["resolution_points"] = max(sizes)
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
    right.plot(
        [r["resolution"] for r in res], [r["seconds"] for r in res], marker="o", label="seconds"
    )
    right.set_xlabel("H3 resolution")
    right.set_ylabel(f"seconds to aggregate {_resolution_points(results):,} points")
    twin = right.twinx()
    twin.plot(
        [r["resolution"] for r in res],
        [r["cells"] for r in res],
        marker="s",
        color="tab:red",
        label="cells",
    )
    twin.set_yscale("log")
    twin.set_ylabel("cells with records", color="tab:red")
    right.set_title("cost against resolution")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _resolution_points(results: dict[str, Any]) -> int:
    """How many points the resolution costs were measured on (the largest size's run)."""
    return int(results.get("resolution_points", max(results["sizes"])))


def _phase_text(result: dict[str, Any] | None, what: str) -> str:
    if result is None:
        return f"{what}: not run (an earlier phase failed)"
    if "error" in result:
        return (
            f"{what}: failed after {result['seconds']:.0f} s ({result['error']}, "
            f"peak {result['peak_mib']:,.0f} MiB)"
        )
    load = result.get("load")
    at = f", load {load[0]:.1f}→{load[1]:.1f}" if load else ""
    return f"{what} {result['seconds']:.0f} s (peak {result['peak_mib']:,.0f} MiB{at})"


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
        local = phases.get("build-local", {}).get(n)
        table.append(
            Row(
                work=f"{n:,} cases: ingest, then build {', '.join(LAYERS)} (Dask, 2 workers)",
                figure=_phase_text(ingest, "ingest (register + cases, ≤ 1M rows a batch)")
                + speed
                + "; "
                + _phase_text(phases.get("build-dask", {}).get(n), "Dask build")
                + " with its workers",
                target=f"one-process build ≤ {LOCAL_PEAK_MIB[n]:,} MiB"
                if n in LOCAL_PEAK_MIB
                else "—",
                met=None
                if quick or n not in LOCAL_PEAK_MIB or local is None
                else ("error" not in local and local["peak_mib"] <= LOCAL_PEAK_MIB[n]),
                baseline="the same build in one process (build_layers)",
                baseline_figure=_phase_text(local, "build"),
                note=f"{(ingest or {}).get('out', '?')} accepted; generating the CSV took "
                f"{generate['seconds']:.0f} s"
                + ("; quick sizes" if quick else "")
                + (f"; ingest: {ingest['note']}" if ingest and ingest.get("note") else "")
                + (f"; build: {local['note']}" if local and local.get("note") else ""),
            )
        )
    resolution = ", ".join(
        f"r{r['resolution']} {r['seconds']:.2f} s / {r['cells']:,} cells"
        for r in results["resolution"]
    )
    table.append(
        Row(
            work=f"H3 aggregation of {_resolution_points(results):,} points against resolution",
            figure=resolution,
            target="—",
            met=None,
            baseline="—",
            baseline_figure="—",
            note=f"plot: {PLOT.name}",
        )
    )
    return table


def load_results(path: Path = RESULTS) -> dict[str, Any]:
    """Results written by an earlier run (sizes as numbers again)."""
    results: dict[str, Any] = json.loads(path.read_text())
    results["phases"] = {
        phase: {int(n): result for n, result in by_size.items()}
        for phase, by_size in results["phases"].items()
    }
    return results


def merged(earlier: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The earlier results with the new sizes' phases added (a size measured again replaced);
    the resolution costs of whichever run had the most points."""
    out: dict[str, Any] = {"sizes": sorted(set(earlier["sizes"]) | set(new["sizes"])), "phases": {}}
    for phase in [*earlier["phases"], *(p for p in new["phases"] if p not in earlier["phases"])]:
        out["phases"][phase] = {**earlier["phases"].get(phase, {}), **new["phases"].get(phase, {})}
    bigger = "resolution" in new and max(new["sizes"]) >= max(earlier["sizes"])
    chosen = new if bigger else earlier
    out["resolution"] = chosen["resolution"]
    out["resolution_points"] = _resolution_points(chosen)
    return out


def from_progress(path: Path = PROGRESS) -> dict[str, Any]:
    """The phases finished by a run that was stopped (see :func:`measure`), without the
    resolution costs it had not reached."""
    results = load_results(path)
    results.pop("resolution", None)
    return results


def rerun_phases(folder: Path, phases: list[str], path: Path = PROGRESS) -> None:
    """Run ``phases`` again on the store in ``folder`` (a stopped run's, its one size in the
    progress file) and put their results in the progress file."""
    results = json.loads(path.read_text())
    (n,) = results["sizes"]
    for phase in phases:
        result = run_phase(phase, folder, int(n))
        results["phases"].setdefault(phase, {})[str(n)] = result
        _report(phase, int(n), result)
        path.write_text(json.dumps(results, indent=1, default=str))


def run(
    quick: bool = False,
    sizes: tuple[int, ...] | None = None,
    merge: bool = False,
    progress: bool = False,
    progress_file: Path = PROGRESS,
    large: bool = False,
) -> list[Row]:
    """The scaling benchmark (``make bench``): the default sizes (with ``large``, 10M too),
    or small ones with ``quick``; ``merge`` adds them to the results in docs/scaling.json
    (always for the default sizes, so the larger sizes' figures stay); ``progress``: a
    stopped run's finished phases instead of a new run (merged: the resolution costs are
    the earlier's)."""
    if progress:
        if not merge or not RESULTS.exists():
            raise SystemExit("--from-progress needs --merge and docs/scaling.json")
        results = from_progress(progress_file)
    else:
        default = SIZES + LARGE_SIZES if large else SIZES
        merge = merge or (sizes is None and not quick)
        results = measure(sizes or (QUICK_SIZES if quick else default), progress_file)
    if merge and RESULTS.exists():
        results = merged(load_results(), results)
    if not quick:
        plot(results, PLOT)
        RESULTS.write_text(json.dumps(results, indent=1, default=str))
    return rows(results, quick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated record counts")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--merge", action="store_true", help="add to docs/scaling.json")
    parser.add_argument(
        "--from-progress",
        action="store_true",
        help="a stopped run's finished phases (with --merge)",
    )
    parser.add_argument("--store", type=Path, help="a stopped run's store folder")
    parser.add_argument("--phases", help="comma-separated phases to run again (with --store)")
    parser.add_argument(
        "--progress", type=Path, default=PROGRESS, help=f"the progress file (default {PROGRESS})"
    )
    args = parser.parse_args()
    if args.store:
        rerun_phases(args.store, args.phases.split(","), args.progress)
        return
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    table = run(args.quick, sizes, args.merge, args.from_progress, args.progress)
    print(f"\n## scale\n\n{markdown(table)}\n", flush=True)
    if not args.no_doc and not args.quick:
        update_doc("scale", table)


if __name__ == "__main__":
    main()
