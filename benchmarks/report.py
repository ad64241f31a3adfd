"""Benchmark rows, the printed table, and the table kept in docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN = "<!-- bench:{name}:begin -->"
END = "<!-- bench:{name}:end -->"


@dataclass(frozen=True)
class Row:
    """One measured figure beside its baseline."""

    work: str
    figure: str
    target: str
    met: bool | None  # None: no target
    baseline: str
    baseline_figure: str
    note: str = ""


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...; elapsed()`` gives seconds since entry."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The fastest of ``repeats`` timed calls, in seconds."""
    times = []
    for _ in range(repeats):
        with stopwatch() as elapsed:
            fn()
        times.append(elapsed())
    return min(times)


def machine() -> str:
    """A one-line description of where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| work | measured | target | met | baseline (same run) | baseline figure | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        cells = (r.work, r.figure, r.target, met, r.baseline, r.baseline_figure, r.note)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def update_doc(name: str, rows: list[Row], doc: Path = DOC) -> None:
    """Replace the section ``name`` of docs/benchmarks.md with a fresh table."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    begin, end = BEGIN.format(name=name), END.format(name=name)
    block = f"{begin}\n_Measured {stamp} on {machine()}._\n\n{markdown(rows)}\n{end}"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + f"\n\n## {name}\n\n{block}\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
