"""The briefing (执法态势简报) of the sample, as a reader gets it: made by
``geo-service brief`` with no system font at all (fontconfig pointed at an empty folder),
read back with poppler (pdftotext, pdffonts, pdfimages, pdftoppm) and set against the
ledger endpoints for the same filters; and ``GET /briefs/...`` scoped and audited."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from geo_service.access.policy import read_audit
from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.store.draws import jurisdiction_prefix, list_draws
from layers.maps import GI_CLASSES, YL_OR_RD
from tests.conftest import account_headers
from tests.geo_service.draw_store import store_example_draws

CITY, PERIOD, PREVIOUS, YEAR_AGO = "450100", "2024-Q2", "2024-Q1", "2023-Q2"
#: The headline rows as printed: ledger, column, label.
FIGURES = (
    ("cases", "cases", "行政处罚案件数"),
    ("cases", "penalty_sum", "罚款金额合计"),
    ("cases", "executed", "已执行案件数"),
    ("cases", "execution_rate", "执行率"),
    ("inspections", "inspections", "现场检查次数"),
    ("inspections", "problems_found", "发现问题次数"),
    ("inspections", "problem_rate", "发现问题比例"),
)
POPPLER = ("pdftoppm", "pdftotext", "pdffonts", "pdfimages")

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in POPPLER) and not os.environ.get("CI"),
    reason="poppler-utils is not installed (scripts/sysdeps.sh installs it)",
)


def _no_fonts_env(tmp: Path) -> dict[str, str]:
    """The environment with fontconfig pointed at an empty font folder."""
    (tmp / "fonts").mkdir()
    config = tmp / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
        f"<fontconfig><dir>{tmp / 'fonts'}</dir><cachedir>{tmp / 'cache'}</cachedir>"
        "</fontconfig>\n",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(config), "MPLCONFIGDIR": str(tmp / "mpl")}


@pytest.fixture(scope="module")
def made(built_sample_store: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample's briefing made by the command line without system fonts, its text, and
    a client with an account of the region."""
    tmp = tmp_path_factory.mktemp("brief")
    env = _no_fonts_env(tmp)
    url = built_sample_store.url.render_as_string(hide_password=False)
    env["GEO_DATABASE_URL"] = url
    pdf = tmp / "brief.pdf"
    command = [sys.executable, "-m", "geo_service", "brief", "--jurisdiction", CITY]
    subprocess.run(
        [*command, "--period", PERIOD, "--out", str(pdf)], env=env, check=True, timeout=600
    )
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    client = TestClient(
        create_app(
            Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
        )
    )
    return {
        "pdf": pdf,
        "text": text,
        "env": env,
        "tmp": tmp,
        "client": client,
        "headers": account_headers(built_sample_store, "admin", "450000"),
    }


def _ledger_row(made: dict[str, Any], kind: str, period: str) -> dict[str, Any]:
    answer = made["client"].get(
        f"/stats/{kind}?group_by=year&jurisdiction={CITY}&period={period}",
        headers=made["headers"],
    )
    assert answer.status_code == 200
    rows: list[dict[str, Any]] = answer.json()["rows"]
    assert len(rows) == 1
    return rows[0]


def _printed(text: str, label: str) -> list[str]:
    """The cells of the headline row of ``label``: value, change on the period before, on
    the year before (as pdftotext lays the table out)."""
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(label + " "))
    return re.split(r"\s{2,}", line.strip())[1:4]


def _number(cell: str) -> float:
    return float(re.match(r"[+-]?[\d,]+(?:\.\d+)?", cell.replace("，", ""))[0].replace(",", ""))  # type: ignore[index]


def test_its_figures_are_the_ledgers_for_the_same_filters(made: dict[str, Any]) -> None:
    text, flat = made["text"], re.sub(r"\s", "", made["text"])
    for kind, column, label in FIGURES:
        now, before, year_ago = (
            _ledger_row(made, kind, p)[column] for p in (PERIOD, PREVIOUS, YEAR_AGO)
        )
        value, change, change_year = _printed(text, label)
        scale = 100 if column.endswith("rate") else 1
        assert _number(value) == pytest.approx(now * scale, abs=0.006), label
        assert _number(change) == pytest.approx((now - before) * scale, abs=0.006), label
        assert _number(change_year) == pytest.approx((now - year_ago) * scale, abs=0.006), label
        # each figure is printed with the request that answers it, for all three periods
        for period in (PERIOD, PREVIOUS, YEAR_AGO):
            source = f"/stats/{kind}?group_by=year&jurisdiction={CITY}&period={period}"
            assert f"GET{source}" in flat, source
    assert _ledger_row(made, "cases", PERIOD)["cases"] > 0  # a period the sample has data in


def test_its_problem_types_are_the_ledgers(made: dict[str, Any]) -> None:
    answer = made["client"].get(
        f"/stats/cases?group_by=problem_type&jurisdiction={CITY}&period={PERIOD}",
        headers=made["headers"],
    )
    rows = [r for r in answer.json()["rows"] if r["problem_type"] not in ("", "未发现问题")]
    top = max(rows, key=lambda r: r["cases"])
    line = next(
        ln for ln in made["text"].splitlines() if ln.strip().startswith(top["problem_type"])
    )
    assert re.split(r"\s{2,}", line.strip())[1] == str(top["cases"])


def _images(made: dict[str, Any]) -> list[np.ndarray]:
    out = made["tmp"] / "images"
    out.mkdir(exist_ok=True)
    subprocess.run(["pdfimages", "-png", str(made["pdf"]), str(out / "img")], check=True)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.glob("img-*.png"))]


def _share_of(image: np.ndarray, colours: list[str]) -> float:
    wanted = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours])
    close = (np.abs(image[:, :, None, :].astype(int) - wanted[None, None]) <= 12).all(axis=-1)
    return float(close.any(axis=-1).mean())


def test_its_maps_are_not_blank(made: dict[str, Any]) -> None:
    density, hotspots, *_ = _images(made)
    for picture in (density, hotspots):
        assert picture.shape[0] > 400 and picture.std() > 20  # pixel variance over the map
    assert _share_of(density, list(YL_OR_RD[2:])) > 0.01  # the density surface is drawn
    cells = (
        made["client"]
        .get(
            f"/collections/hotspots/items?jurisdiction={CITY}&period={PERIOD}&limit=10000",
            headers=made["headers"],
        )
        .json()["features"]
    )
    hot = [c for c in cells if c["properties"]["gi_bin"] > 0]
    assert hot  # the sample has hot spots in this period
    assert _share_of(hotspots, [c for v, c, _ in GI_CLASSES if v > 0]) > 0.002
    # the rendered pages are not blank either (poppler, with no system font)
    pages = made["tmp"] / "page"
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(made["pdf"]), str(pages)], env=made["env"], check=True
    )
    rendered = [
        np.asarray(Image.open(p).convert("L")) for p in sorted(made["tmp"].glob("page*.png"))
    ]
    assert len(rendered) >= 2 and all(page.std() > 10 for page in rendered)


def test_its_chinese_is_set_in_the_bundled_font_embedded(made: dict[str, Any]) -> None:
    fonts = subprocess.run(
        ["pdffonts", str(made["pdf"])], capture_output=True, check=True, text=True
    ).stdout.splitlines()[2:]
    assert fonts, "no font in the PDF"
    for row in fonts:
        name, *_, emb, _sub, uni, _obj, _gen = row.split()
        assert "NotoSansSC" in name and emb == "yes" and uni == "yes", row
    if shutil.which("fc-list"):  # the rendering below had no system font to fall back on
        listed = subprocess.run(["fc-list"], env=made["env"], capture_output=True, text=True)
        assert listed.stdout.strip() == ""


def test_its_heading_renders_as_glyphs_not_notdef_boxes(made: dict[str, Any]) -> None:
    """The title, rendered by poppler with no system font: the characters are distinct
    shapes (.notdef boxes would all be the same)."""
    crop = made["tmp"] / "title"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "150",
            "-f",
            "1",
            "-l",
            "1",
            "-x",
            "90",
            "-y",
            "75",
            "-W",
            "1100",
            "-H",
            "60",
            "-png",
            "-singlefile",
            str(made["pdf"]),
            str(crop),
        ],
        env=made["env"],
        check=True,
    )
    ink = np.asarray(Image.open(f"{crop}.png").convert("L")) < 128
    assert ink.any(), "the title did not render"
    columns = ink.any(axis=0)
    edges = np.flatnonzero(np.diff(np.r_[0, columns.astype(int), 0]))
    glyphs = [ink[:, a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]
    assert len(glyphs) >= 10  # 南宁市生态环境执法态势简报 …
    shapes = {(g.shape[1], int(g.sum())) for g in glyphs}
    assert len(shapes) >= 0.6 * len(glyphs)


def test_http_brief_is_scoped_audited_and_checked(
    made: dict[str, Any], built_sample_store: Engine
) -> None:
    client, headers = made["client"], made["headers"]
    page = client.get(f"/briefs/{CITY}/{PERIOD}.html", headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    cases = _ledger_row(made, "cases", PERIOD)["cases"]
    assert f"<td>行政处罚案件数</td><td>{cases} 件</td>" in page.text
    assert "南宁市生态环境执法态势简报（2024年第二季度）" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    pdf = client.get(f"/briefs/{CITY}/{PERIOD}.pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    entries = [e for e in read_audit(built_sample_store) if e["action"] == "brief"]
    made_by_cli = [e for e in entries if e["account"] == "cli"]
    assert made_by_cli and made_by_cli[0]["resource"] == f"/briefs/{CITY}/{PERIOD}.pdf"
    assert {e["resource"] for e in entries} >= {
        f"/briefs/{CITY}/{PERIOD}.html",
        f"/briefs/{CITY}/{PERIOD}.pdf",
    }
    for bad in ("2024-Q5.pdf", "2024-13.html", "2024-Q2.docx", "2024-Q2"):
        answer = client.get(f"/briefs/{CITY}/{bad}", headers=headers)
        assert answer.status_code == 400, bad
        body = answer.json()
        assert set(body) == {"code", "description"}
        assert re.search(r"[\u4e00-\u9fff]", body["description"]) and "must" in body["description"]
    assert client.get(f"/briefs/45010/{PERIOD}.pdf", headers=headers).status_code == 400
    assert client.get(f"/briefs/{CITY}/{PERIOD}.pdf").status_code == 401
    assert client.get("/briefs/450000/2024.pdf").status_code == 401  # no public briefing
    inspector = account_headers(built_sample_store, "inspector", CITY)
    assert client.get(f"/briefs/{CITY}/{PERIOD}.html", headers=inspector).status_code == 403
    county = account_headers(built_sample_store, "leader", "450102")
    assert client.get(f"/briefs/{CITY}/{PERIOD}.html", headers=county).status_code == 403


def test_it_states_the_latest_draw_within_the_jurisdiction(
    made: dict[str, Any], built_sample_store: Engine
) -> None:
    store_example_draws(built_sample_store, ("450102",))  # a county of the city
    latest = list_draws(built_sample_store, [jurisdiction_prefix(CITY)])[-1]
    selected = json.loads(latest.record_json)["selected"]
    page = made["client"].get(f"/briefs/{CITY}/{PERIOD}.html", headers=made["headers"]).text
    assert f"最近一次双随机抽查：{latest.quarter}" in page
    assert f"抽取企业 {len(selected)} 家" in page and f"编号 {latest.draw_id}" in page
    assert f"GET /draws?jurisdiction={CITY}" in page


def test_a_period_without_records_is_still_briefed(made: dict[str, Any]) -> None:
    """No case placed at a point, so no density, no hot spot, no problem type: the
    briefing says so (a 200), rather than refusing the period."""
    page = made["client"].get("/briefs/450102/2030-Q1.html", headers=made["headers"])
    assert page.status_code == 200, page.text[:300]
    assert "<td>行政处罚案件数</td><td>0 件</td>" in page.text
    assert "本期无已分类的案件。" in page.text
