"""Every relative link in README.md and docs/*.md leads to a file of the repository, and
every ``#anchor`` to a heading of the file it names: no link to a file left out of the
repository, nor to a section renamed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from geo_service.core.paths import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
#: ``[text](target)``, ``[name]: target`` and HTML ``href``/``src`` attributes.
_LINK = re.compile(
    r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
    r"|^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)"
    r"|(?:href|src)=\"([^\"]+)\"",
    re.M,
)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")


def _prose(text: str) -> str:
    """The text without code blocks and code spans (their brackets are not links)."""
    return _CODE.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _FENCE.sub("", path.read_text()), re.M)
    return {_slug(h) for h in headings}


def _tracked() -> set[Path] | None:
    """The files git tracks (None outside a git checkout: then the disk is asked)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {PROJECT_ROOT / name for name in listed.decode().split("\0") if name}


TRACKED = _tracked()


def _links(path: Path) -> list[str]:
    found = _LINK.findall(_prose(path.read_text()))
    return [next(g for g in groups if g) for groups in found]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_resolve_in_the_repository(document: Path) -> None:
    broken = []
    for link in _links(document):
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:  # another site's page: not ours to check here
            continue
        target = (document.parent / unquote(parts.path)).resolve() if parts.path else document
        if parts.path and (
            not target.is_relative_to(PROJECT_ROOT)
            or not target.exists()
            or (target.is_file() and TRACKED is not None and target not in TRACKED)
        ):
            broken.append(f"{link}: no such file in the repository")
            continue
        anchored = parts.fragment and target.suffix == ".md"
        if anchored and parts.fragment not in _anchors(target):
            broken.append(f"{link}: no heading #{parts.fragment} in {target.name}")
    assert broken == [], f"{document.name}: {broken}"


def test_the_links_are_found() -> None:
    """The finder finds the README's links (an empty list would pass the check above)."""
    links = _links(PROJECT_ROOT / "README.md")
    assert "docs/DESIGN.md" in links and "docs/security.md" in links
    assert _links(PROJECT_ROOT / "docs" / "deployment.md").count("#connections") >= 1
    assert _slug("With containers (docker compose)") == "with-containers-docker-compose"
