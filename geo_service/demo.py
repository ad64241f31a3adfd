"""The demo `make run` serves: a store of its own, the bundled sample loaded once, every
layer built, and a demo account to sign in with.

The demo never touches the store real files are loaded into (``GEO_DATABASE_URL``):
sample and real records would mix, and matching ids would overwrite each other. A later
start finds the sample already loaded (by the files' SHA-256) and the layers built, and
serves at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, func, select

from geo_service.access.policy import add_account
from geo_service.builds.run import build_layers
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.ingest.readers import file_sha256
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import divisions_path, load_divisions, read_divisions_file
from geo_service.store.db import is_initialised
from geo_service.store.models import Account, IngestBatch, LayerBuild

#: The sample's files, in the order they are loaded (the register first: records link to it).
KINDS = ("enterprises", "cases", "inspections", "exceedances", "complaints", "inspectors")
ACCOUNT = "demo"
ROLE, JURISDICTION = "admin", "450000"  # everything the service does, over all of Guangxi


@dataclass(frozen=True)
class Demo:
    """The prepared demo: where its store is, what this start did, how to sign in."""

    database_url: str
    loaded: tuple[str, ...]  # kinds ingested by this start (none when already there)
    built: bool  # whether this start built the layers
    account: str
    api_key: str
    key_file: Path


def demo_database_url(settings: Settings) -> str:
    """The demo's own store: ``<data dir>/demo.db``."""
    return f"sqlite:///{(settings.data_dir / 'demo.db').resolve()}"


def prepare_demo(settings: Settings, database_url: str, out: TextIO) -> Demo:
    """Initialise the demo store, load what of the sample it lacks, build the layers when
    anything changed, and make sure the demo account exists; a line per step to ``out``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url, settings=settings)
    fresh = not is_initialised(engine)
    migrate(engine)
    if fresh:
        print("初始化演示库 creating the demo store …", file=out, flush=True)
        load_divisions(engine, read_divisions_file(divisions_path("guangxi")))
    loaded = tuple(kind for kind in KINDS if _load(engine, settings, kind, out))
    built = False
    if loaded or not _has_builds(engine):
        print("生成分析图层 building the layers …", file=out, flush=True)
        build_layers(engine, Filters(), settings=settings, report=out)
        built = True
    else:
        print("示例数据和图层已就绪 the sample and its layers are ready", file=out, flush=True)
    key_file = settings.data_dir / "demo-account.txt"
    account, key = _account_key(engine, key_file)
    engine.dispose()
    return Demo(database_url, loaded, built, account, key, key_file)


def _load(engine: Engine, settings: Settings, kind: str, out: TextIO) -> bool:
    """Ingest the sample's file of ``kind`` unless the store holds it; whether it did."""
    path = SAMPLE_SLICE / f"{kind}.csv"
    digest = file_sha256(path)
    with engine.connect() as conn:
        held = conn.execute(
            select(func.count())
            .select_from(IngestBatch)
            .where(IngestBatch.kind == kind, IngestBatch.file_sha256 == digest)
        ).scalar_one()
    if held:
        return False
    print(f"载入示例 loading the sample: {kind}", file=out, flush=True)
    options = IngestOptions(
        kind=kind,
        rejects_path=settings.data_dir / "rejects" / f"{kind}.rejects.csv",
        chunk_rows=settings.ingest_chunk_rows,
        workers=settings.ingest_workers,
        group_chunks=settings.ingest_group_chunks,
        progress=settings.progress and out.isatty(),
        source_name=f"sample/{path.name}",
    )
    summary = ingest_file(engine, path, options)
    print(
        f"  {summary['accepted']} 条入库 stored, {summary['rejected']} 条拒收 rejected",
        file=out,
        flush=True,
    )
    return True


def _has_builds(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(select(func.count()).select_from(LayerBuild)).scalar_one())


def _account_key(engine: Engine, key_file: Path) -> tuple[str, str]:
    """The demo account's name and API key: made once and kept beside the demo store (owner-only
    file); a store whose account exists without the file gets a new account name."""
    if key_file.exists():
        name, key = key_file.read_text(encoding="utf-8").split()[:2]
        with engine.connect() as conn:
            if conn.execute(select(Account.id).where(Account.name == name)).first():
                return name, key
    with engine.connect() as conn:
        taken = {n for (n,) in conn.execute(select(Account.name))}
    name = next(n for n in (ACCOUNT, *(f"{ACCOUNT}-{i}" for i in range(2, 1000))) if n not in taken)
    key = add_account(engine, name, ROLE, JURISDICTION)
    key_file.write_text(f"{name} {key}\n", encoding="utf-8")
    os.chmod(key_file, 0o600)
    return name, key
