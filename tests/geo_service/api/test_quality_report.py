"""``/quality`` and ``geo-service quality``: who reads which report, in which format.

The store is the hand-built one of tests/geo_service/store/test_quality.py: cases of
Nanning (batch 2, loaded by Nanning's admins) and of Liuzhou (batch 5), register
batches 1 (command line) and 4 (兴宁区), and three ambiguous links to review.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from typer.testing import CliRunner

from geo_service.access.policy import read_audit
from geo_service.api.app import create_app
from geo_service.cli import app as cli_app
from geo_service.core.settings import Settings, get_settings
from layers.quality_report import SECTION_TITLES_ZH, SUMMARY_TITLE_ZH
from tests.conftest import account_headers
from tests.geo_service.store.test_quality import (
    BACKENDS,
    GUANGXI,
    LIUZHOU,
    NANNING,
    XINGNING,
    fresh_quality_store,
)

READERS = ("admin", "leader", "gis", "planner")


@pytest.fixture(params=BACKENDS)
def quality_store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from fresh_quality_store(request)


@pytest.fixture
def client(quality_store: Engine) -> TestClient:
    url = quality_store.url.render_as_string(hide_password=False)
    return TestClient(create_app(Settings(database_url=url)))


@pytest.mark.parametrize("role", READERS)
def test_readers_get_their_jurisdiction_and_nothing_outside(
    client: TestClient, quality_store: Engine, role: str
) -> None:
    headers = account_headers(quality_store, role, NANNING)
    answer = client.get(f"/quality?jurisdiction={NANNING}", headers=headers)
    assert answer.status_code == 200, answer.text[:300]
    doc = answer.json()
    assert doc["title"] == "南宁市 数据质量报告"
    assert doc["links"]["cases"]["by_method"]["ambiguous"] == 1
    assert doc["reviews"]["count"] == 2
    assert doc["labels"]["link_methods"]["fuzzy"] == "模糊匹配"
    assert client.get(f"/quality?jurisdiction={XINGNING}", headers=headers).status_code == 200
    for outside in (LIUZHOU, GUANGXI):
        refused = client.get(f"/quality?jurisdiction={outside}", headers=headers)
        assert refused.status_code == 403, refused.text[:200]
        assert set(refused.json()) == {"code", "description"}
    own = client.get("/quality", headers=headers).json()  # no jurisdiction: the account's
    assert own["scope"]["jurisdiction"] == NANNING


def test_inspectors_and_anonymous_callers_are_refused(
    client: TestClient, quality_store: Engine
) -> None:
    inspector = account_headers(quality_store, "inspector", NANNING)
    answer = client.get(f"/quality?jurisdiction={NANNING}", headers=inspector)
    assert answer.status_code == 403 and set(answer.json()) == {"code", "description"}
    for path in (f"/quality?jurisdiction={GUANGXI}", "/quality", "/quality/batches/2"):
        anonymous = client.get(path)
        assert anonymous.status_code == 401, path
        assert set(anonymous.json()) == {"code", "description"}


def test_a_county_account_sees_its_county_only(client: TestClient, quality_store: Engine) -> None:
    headers = account_headers(quality_store, "leader", XINGNING)
    doc = client.get("/quality", headers=headers).json()
    assert doc["scope"]["jurisdiction"] == XINGNING
    assert [r["record_id"] for r in doc["reviews"]["items"]] == ["I2"]
    assert client.get(f"/quality?jurisdiction={NANNING}", headers=headers).status_code == 403


def test_bad_parameters_are_json_400s(client: TestClient, quality_store: Engine) -> None:
    headers = account_headers(quality_store, "admin", GUANGXI)
    for query in ("f=pdf", "jurisdiction=abc", "jurisdiction=999999"):
        answer = client.get(f"/quality?{query}", headers=headers)
        assert answer.status_code == 400, (query, answer.text[:200])
        assert set(answer.json()) == {"code", "description"}
    for path in ("/quality/batches/0", "/quality/batches/x", "/quality/batches/2?f=csv"):
        assert client.get(path, headers=headers).status_code == 400, path


def test_batch_reports_for_the_admins_who_may_read_the_batch(
    client: TestClient, quality_store: Engine
) -> None:
    nanning_admin = account_headers(quality_store, "admin", NANNING)
    answer = client.get("/quality/batches/2", headers=nanning_admin)
    assert answer.status_code == 200, answer.text[:300]
    doc = answer.json()
    assert doc["scope"]["batch_id"] == 2 and doc["rejects"]["total"] == 6
    assert [r["row_number"] for r in doc["duplicates"]["rows"]] == [2, 3, 4]
    # Liuzhou's batch and the command line's are not a Nanning admin's: 404 as for none
    for other in (5, 1, 99):
        missing = client.get(f"/quality/batches/{other}", headers=nanning_admin)
        assert missing.status_code == 404, (other, missing.text[:200])
        assert set(missing.json()) == {"code", "description"}
    region_admin = account_headers(quality_store, "admin", GUANGXI)
    for batch in (1, 2, 5):
        assert client.get(f"/quality/batches/{batch}", headers=region_admin).status_code == 200
    leader = account_headers(quality_store, "leader", GUANGXI)
    assert client.get("/quality/batches/2", headers=leader).status_code == 403


def test_xlsx_has_a_title_sheet_and_one_sheet_per_part(
    client: TestClient, quality_store: Engine
) -> None:
    headers = account_headers(quality_store, "planner", NANNING)
    answer = client.get(f"/quality?jurisdiction={NANNING}&f=xlsx", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == [SUMMARY_TITLE_ZH, *SECTION_TITLES_ZH.values()]
    summary = {row[0]: row[1] for row in book[SUMMARY_TITLE_ZH].iter_rows(values_only=True)}
    assert summary["行政区划代码"] == NANNING and summary["数据版本"] == 5
    assert summary["生成时间（UTC）"]
    reviews = list(book["待复核关联"].iter_rows(min_row=3, values_only=True))
    assert [(r[1], r[6]) for r in reviews] == [
        ("C4", "91450103MA000003"),
        ("C4", "91450202MA000004"),
        ("I2", "91450102MA000001"),
        ("I2", "91450102MA000002"),
    ]
    stale = [r[0] for r in book["过期登记"].iter_rows(min_row=3, values_only=True)]
    assert stale == ["91450102MA000002", "91450103MA000005"]
    links = list(book["关联方式"].iter_rows(min_row=2, values_only=True))
    assert links[0][0] == "数据类型" and links[1][0] == "行政处罚案件"


def test_html_is_a_chinese_page_without_external_assets(
    client: TestClient, quality_store: Engine
) -> None:
    headers = account_headers(quality_store, "admin", NANNING)
    for path in (f"/quality?jurisdiction={NANNING}&f=html", "/quality/batches/2?f=html"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        page = answer.text
        assert '<html lang="zh-CN">' in page and "数据质量报告" in page
        for title in SECTION_TITLES_ZH.values():
            assert f"<h2>{title}</h2>" in page
        assert "http://" not in page and "https://" not in page and "<script" not in page
    assert (
        "91450103MA000005"
        in client.get(f"/quality?f=html&jurisdiction={NANNING}", headers=headers).text
    )


def test_every_read_is_audited(client: TestClient, quality_store: Engine) -> None:
    headers = account_headers(quality_store, "admin", NANNING)
    client.get(f"/quality?jurisdiction={NANNING}&f=xlsx", headers=headers)
    client.get("/quality/batches/2", headers=headers)
    entries = [e for e in read_audit(quality_store) if e["action"] == "quality"]
    assert [e["resource"] for e in entries] == ["/quality/batches/2", "/quality"]
    assert entries[1]["parameters"] == {"jurisdiction": NANNING, "f": "xlsx"}
    assert entries[0]["parameters"] == {"batch_id": 2, "f": "json"}


@pytest.fixture
def cli_store(quality_store: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("GEO_DATABASE_URL", quality_store.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield quality_store
    get_settings.cache_clear()


def test_cli_writes_the_report(cli_store: Engine, workdir: Path) -> None:
    runner = CliRunner()
    for name in ("report.xlsx", "report.html", "report.json"):
        result = runner.invoke(cli_app, ["quality", "--jurisdiction", NANNING, "--out", name])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["out"] == name and summary["reviews"] == 2 and summary["stale"] == 2
    assert load_workbook(workdir / "report.xlsx").sheetnames[0] == SUMMARY_TITLE_ZH
    assert "<h2>待复核关联</h2>" in (workdir / "report.html").read_text("utf-8")
    doc = json.loads((workdir / "report.json").read_text("utf-8"))
    assert doc["links"]["cases"]["link_rate"] == 0.6
    batch = runner.invoke(cli_app, ["quality", "--batch", "2"])
    assert batch.exit_code == 0, batch.output
    assert json.loads(batch.stdout)["rejects"]["total"] == 6
    # batch 5 was loaded for Liuzhou, not within Nanning; a PDF is not a format
    for args in (["--jurisdiction", NANNING, "--batch", "5"], ["--out", "report.pdf"]):
        refused = runner.invoke(cli_app, ["quality", *args])
        assert refused.exit_code == 2, refused.output
    entries = [e for e in read_audit(cli_store) if e["action"] == "quality"]
    assert len(entries) == 4 and {e["account"] for e in entries} == {"cli"}
