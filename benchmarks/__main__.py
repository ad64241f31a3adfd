"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAME] [--no-doc]``."""

from __future__ import annotations

import argparse
import importlib
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", choices=SUITES, action="append")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    for name in args.only or SUITES:
        module = importlib.import_module(MODULES[name])
        rows = module.run(quick=args.quick)
        print(f"\n## {name}\n\n{markdown(rows)}\n", flush=True)
        if not args.no_doc and not args.quick:
            update_doc(name, rows)


if __name__ == "__main__":
    main()
