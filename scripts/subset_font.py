"""Cut the vendored CJK font down to the characters the service can show.

Noto Sans SC (OFL-1.1) holds some 30,000 glyphs in 10 MB. Maps, pages and briefs need
the GB 2312 set (the 6,763 common hanzi, and its symbols), ASCII and the punctuation
Chinese text uses, and every character of the division names the service ships. The
subset keeps those, with the kerning and the layout features, and drops hinting.

    python scripts/subset_font.py SOURCE.ttf TARGET.ttf

Run by scripts/vendor_assets.sh; nothing runs it at build, test or run time.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from fontTools import subset

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    ROOT / "sample_geodata" / "china_divisions.geojson.gz",
    ROOT / "sample_geodata" / "guangxi_divisions.geojson",
]
RANGES = [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x2100, 0x218F), (0x2190, 0x21FF),
          (0x2460, 0x24FF), (0x25A0, 0x25FF), (0x3000, 0x303F), (0xFF00, 0xFFEF)]  # fmt: skip


def gb2312() -> set[int]:
    """Every character GB 2312 encodes (rows 0xA1–0xF7, cells 0xA1–0xFE)."""
    chars = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes([row, cell]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return chars


def division_names() -> set[int]:
    """The characters of every name in the division files the service ships."""
    chars: set[int] = set()
    for path in NAMES:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for feature in json.loads(raw)["features"]:
            for value in feature["properties"].values():
                if isinstance(value, str):
                    chars.update(ord(c) for c in value)
    return chars


def main(source: str, target: str) -> None:
    wanted = gb2312() | division_names()
    for start, end in RANGES:
        wanted.update(range(start, end + 1))
    options = subset.Options()
    options.layout_features = ["*"]
    options.hinting = False
    options.name_IDs = ["*"]  # keep the copyright, licence and reserved-name records
    options.name_languages = ["*"]
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(wanted))
    subsetter.subset(font)
    subset.save_font(font, target, options)


if __name__ == "__main__":
    main(*sys.argv[1:])
