"""Large generated files cut into ledgers of at most a million rows, as bureaus send them."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

LEDGER_ROWS = 1_000_000


def split_ledgers(
    source: Path,
    folder: Path,
    *,
    encoding: str = "gb18030",
    rows_per_file: int = LEDGER_ROWS,
    id_suffix: str = "",
    remove_source: bool = False,
) -> Iterator[Path]:
    """Write ``source`` (a CSV whose first column is the record id) to ``folder`` as files of
    at most ``rows_per_file`` rows with its header, yielding each once it is complete.

    ``id_suffix`` is appended to every non-empty id (parts of a larger dataset generated
    with the same id scheme); ``remove_source`` deletes ``source`` once read. The caller
    may delete each yielded file before asking for the next.
    """
    rows, out, path = 0, None, None
    with source.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        writer = None
        for row in reader:
            if rows % rows_per_file == 0:
                if out is not None and path is not None:
                    out.close()
                    yield path
                path = folder / f"{source.stem}-{rows // rows_per_file:03d}.csv"
                out = path.open("w", encoding=encoding, newline="")
                writer = csv.writer(out)
                writer.writerow(header)
            if id_suffix and row and row[0]:
                row[0] += id_suffix
            assert writer is not None
            writer.writerow(row)
            rows += 1
    if out is not None and path is not None:
        out.close()
        yield path
    if remove_source:
        source.unlink()
