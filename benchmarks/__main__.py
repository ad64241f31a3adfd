"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAME] [--large] [--no-doc]``."""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import time
from pathlib import Path

from benchmarks.report import markdown, update_doc

#: Suite name → module: every ``bench_*.py``, and the load run (``load.py``, last: 60 s of
#: the real server).
MODULES = {
    **{
        p.stem.removeprefix("bench_"): f"benchmarks.{p.stem}"
        for p in sorted(Path(__file__).parent.glob("bench_*.py"))
    },
    "load": "benchmarks.load",
}
SUITES = tuple(MODULES)
#: Suites of 10M cases or more: run only with ``--large`` or when named by ``--only``
#: (benchmarks/README.md). A suite whose ``run`` takes ``large`` gets the flag, for its
#: large sizes.
LARGE = frozenset({"pgstore"})


def chosen(only: list[str] | None, large: bool) -> list[str]:
    """The suites a run measures: those named, else every one but the large unless asked."""
    if only:
        return only
    return [name for name in SUITES if large or name not in LARGE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", choices=SUITES, action="append")
    parser.add_argument("--large", action="store_true", help="also the 10M-case suites and sizes")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    for name in chosen(args.only, args.large):
        module = importlib.import_module(MODULES[name])
        options = {"quick": args.quick}
        if "large" in inspect.signature(module.run).parameters:
            options["large"] = args.large
        started = time.monotonic()
        rows = module.run(**options)
        print(f"\n## {name}\n\n{markdown(rows)}\n", flush=True)
        if not args.no_doc and not args.quick:
            update_doc(name, rows)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{name}: {time.monotonic() - started:.0f} s (load average {load})", flush=True)


if __name__ == "__main__":
    main()
