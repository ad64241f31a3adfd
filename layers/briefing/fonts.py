"""The bundled font the briefing is set in (Noto Sans SC, cut to GB 2312 and the division
names): the service passes its files; nothing is looked up among the system's fonts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from matplotlib import font_manager

from layers.errors import LayerError

FAMILY = "Noto Sans SC"


@dataclass(frozen=True)
class BriefFonts:
    """The regular and bold TrueType files of the briefing's font."""

    regular: Path
    bold: Path

    @classmethod
    def in_directory(cls, directory: Path) -> BriefFonts:
        """``NotoSansSC-Regular.subset.ttf`` and ``NotoSansSC-Bold.subset.ttf`` in
        ``directory``; :class:`LayerError` when one is missing."""
        fonts = cls(
            directory / "NotoSansSC-Regular.subset.ttf", directory / "NotoSansSC-Bold.subset.ttf"
        )
        missing = [str(p) for p in (fonts.regular, fonts.bold) if not p.is_file()]
        if missing:
            raise LayerError(f"the briefing's font is missing: {', '.join(missing)}")
        return fonts

    def for_plots(self) -> str:
        """Register the files with matplotlib (once per path) and return the family name
        its text is to be set in."""
        _register(str(self.regular))
        _register(str(self.bold))
        return FAMILY


@cache
def _register(path: str) -> None:
    font_manager.fontManager.addfont(path)
