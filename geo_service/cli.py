"""The ``geo-service`` command line."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from geo_service.core.clock import china_today
from geo_service.core.errors import ServiceError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings, get_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Environmental-enforcement records on the map: ingest, analyse, serve.",
)

JurisdictionOpt = Annotated[str | None, typer.Option(help="adcode of a province, city or county")]
IndustryOpt = Annotated[str | None, typer.Option(help="GB/T 4754 code or prefix, e.g. C26")]
PeriodOpt = Annotated[str | None, typer.Option(help="2024, 2024-Q2 or 2024-05")]
DateOpt = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])]


def _settings() -> Settings:
    return get_settings()


def _fail(exc: Exception) -> None:
    typer.echo(
        json.dumps(
            {"error": getattr(exc, "code", type(exc).__name__), "description": str(exc)},
            ensure_ascii=False,
        ),
        err=True,
    )
    raise typer.Exit(2)


def _echo_json(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, default=str))


@app.command()
def init(
    boundaries: Annotated[
        str | None, typer.Option(help="guangxi (default), china, or a divisions file")
    ] = None,
) -> None:
    """Create or migrate the store and load the bundled boundaries."""
    from geo_service.store import make_engine, migrate
    from geo_service.store.boundaries import divisions_path, load_divisions, read_divisions_file

    settings = _settings()
    try:
        engine = make_engine(settings.database_url, settings=settings)
        migrate(engine)
        path = divisions_path(boundaries or "guangxi")
        count = load_divisions(engine, read_divisions_file(path))
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json(
        {"database": engine.url.render_as_string(hide_password=True), "jurisdictions": count}
    )


@app.command()
def sample(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("data/sample"),
    seed: int = 2024,
    enterprises: int = 23_000,
    cases: int = 20_000,
    inspections: int = 60_000,
    region: Annotated[
        str | None, typer.Option(help="guangxi (default), china, or a divisions file")
    ] = None,
    provinces: Annotated[
        str | None, typer.Option(help="province adcodes, e.g. 450000,440000 (national file)")
    ] = None,
) -> None:
    """Write a seeded synthetic dataset (CSV, truth files) over the bundled boundaries."""
    from geo_service.sample import write_sample
    from geo_service.store.boundaries import divisions_path, read_divisions_file

    try:
        divisions = None
        if region or provinces:
            divisions = read_divisions_file(divisions_path(region or "china"))
        codes = [p for p in (provinces or "").split(",") if p.strip()] or None
        summary = write_sample(
            out,
            seed=seed,
            n_enterprises=enterprises,
            n_cases=cases,
            n_inspections=inspections,
            divisions=divisions,
            provinces=codes,
        )
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json(summary)


@app.command()
def ingest(
    path: Path,
    kind: Annotated[
        str,
        typer.Option(
            help="enterprises, cases, inspections, exceedances, complaints, projects or inspectors"
        ),
    ],
    crs: Annotated[str | None, typer.Option(help="CRS of rows without a crs cell")] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="rejects CSV path (default: beside the file, <file name>.rejects.csv)"),
    ] = None,
    centroids: Annotated[
        bool,
        typer.Option(
            help="GeoJSON/GeoPackage: place lines and polygons at a point on their "
            "surface (else rejected as not_a_point)"
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="check the file: say what would be inserted, updated and rejected, store "
            "nothing and write no rejects file",
        ),
    ] = False,
) -> None:
    """Load a file; prints a JSON summary. Exit 0 when the file was read, even with rejects."""
    from geo_service.ingest import IngestOptions, ingest_file
    from geo_service.ingest.readers import InputLimits
    from geo_service.store import make_engine

    settings = _settings()
    options = IngestOptions(
        kind=kind,
        crs=crs,
        rejects_path=rejects,
        chunk_rows=settings.ingest_chunk_rows,
        workers=settings.ingest_workers,
        group_chunks=settings.ingest_group_chunks,
        progress=settings.progress and sys.stderr.isatty(),
        limits=InputLimits.from_settings(settings),
        centroids=centroids,
        dry_run=dry_run,
    )
    try:
        summary = ingest_file(make_engine(settings.database_url, settings=settings), path, options)
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json(summary)


@app.command()
def relink() -> None:
    """Link every stored record to the register again; prints a JSON summary per kind.

    An ingest of the register does this by itself. Run it after upgrading a store made
    before linkage (the upgrade links only the records whose stated code the register
    holds) or after editing the register outside the service.
    """
    from geo_service.linkage.register import load_register_index
    from geo_service.linkage.relink import relink as relink_records

    settings = _settings()
    engine = _store()
    try:
        with engine.begin() as conn:
            progress = settings.progress and sys.stderr.isatty()
            summary = relink_records(conn, load_register_index(conn), progress=progress)
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json(summary)


@app.command()
def export(
    layer: str,
    fmt: Annotated[str, typer.Option("--format", help="geojson, gpkg, csv or xlsx")],
    out: Annotated[Path, typer.Option()],
    jurisdiction: JurisdictionOpt = None,
    industry: IndustryOpt = None,
    period: PeriodOpt = None,
    start: DateOpt = None,
    end: DateOpt = None,
    violation_type: str | None = None,
    resolution: Annotated[int | None, typer.Option(help="H3 resolution 5-10 (hexagons)")] = None,
    bandwidth_m: Annotated[
        float | None, typer.Option(help="kde bandwidth (default: Silverman)")
    ] = None,
    cell_m: Annotated[float | None, typer.Option(help="kde cell size in metres")] = None,
    kernel: Annotated[
        str | None, typer.Option(help="kde kernel: quartic, epanechnikov, gaussian")
    ] = None,
) -> None:
    """Write a layer to a file: records, jurisdictions or an analytic layer (built if missing)."""
    from geo_service.builds.exports import export_layer
    from geo_service.builds.registry import parse_parameters
    from geo_service.store import make_engine

    given = {
        "resolution": resolution,
        "bandwidth_m": bandwidth_m,
        "cell_m": cell_m,
        "kernel": kernel,
    }
    asked = {k: v for k, v in given.items() if v is not None}
    try:
        parameters = parse_parameters(layer, asked, also=())
        filters = _filters(jurisdiction, industry, period, start, end, violation_type)
        settings = _settings()
        engine = make_engine(settings.database_url, settings=settings)
        summary = export_layer(engine, layer, fmt, out, filters, parameters, settings)
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json(summary)


def _filters(
    jurisdiction: str | None,
    industry: str | None,
    period: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    violation_type: str | None,
) -> Filters:
    return Filters(
        jurisdiction=jurisdiction,
        industry=industry,
        period=period,
        start=start.date() if start else None,
        end=end.date() if end else None,
        violation_type=violation_type,
    )


@app.command()
def build(
    jurisdiction: JurisdictionOpt = None,
    industry: IndustryOpt = None,
    period: PeriodOpt = None,
    start: DateOpt = None,
    end: DateOpt = None,
    violation_type: str | None = None,
    layer: Annotated[list[str] | None, typer.Option(help="only these layers")] = None,
    backend: Annotated[
        str, typer.Option(help="local, or dask: a Dask cluster (GEO_DASK_SCHEDULER)")
    ] = "local",
) -> None:
    """Compute and store every analytic layer for the filters.

    A line per layer goes to stderr as it is built. Layers the data cannot give (too few
    cases, no register, …) are skipped with the reason and the rest are built: the JSON
    summary lists them under ``skipped`` and the exit code is 3 (0 when all were built).
    """
    from geo_service.builds.run import build_layers
    from geo_service.store import make_engine, require_schema

    try:
        if backend not in ("local", "dask"):
            raise ValueError(f"backend {backend!r}; expected local or dask")
        filters = _filters(jurisdiction, industry, period, start, end, violation_type)
        settings = _settings()
        engine = make_engine(settings.database_url, settings=settings)
        require_schema(engine)
        if backend == "dask":
            from geo_service.scale.dask_build import build_layers_dask

            scheduler = settings.dask_scheduler or None  # its workers read the partitions:
            workdir = settings.data_dir / "dask-partitions" if scheduler else None  # shared
            summary = build_layers_dask(
                engine, filters, layer, scheduler=scheduler, workdir=workdir, settings=settings
            )
        else:
            report = sys.stderr if settings.progress else None
            summary = build_layers(engine, filters, layer, settings, report=report)
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json(summary)
    if summary.get("skipped"):
        raise typer.Exit(3)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes (settings from the environment)")
    ] = 1,
) -> None:
    """Serve the HTTP API (an initialised store is brought up to the current schema first).

    With ``--workers N`` uvicorn runs N processes, each building the app from the
    environment's settings (``geo_service.api.app:app_from_environment``); caches, rate
    limits and audit journals are then per process."""
    import uvicorn

    from geo_service.api.app import create_app
    from geo_service.store import make_engine, migrate
    from geo_service.store.db import is_initialised

    settings = _settings()
    engine = make_engine(settings.database_url, settings=settings)
    if is_initialised(engine):
        migrate(engine)
    engine.dispose()
    host, port = host or settings.host, port or settings.port
    options = server_options(settings)
    if workers > 1:
        uvicorn.run(
            "geo_service.api.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            **options,
        )
        return
    uvicorn.run(create_app(settings), host=host, port=port, **options)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options besides the address: ``X-Forwarded-*`` believed only from the
    proxies of ``GEO_TRUSTED_PROXIES`` (uvicorn's own default trusts any on loopback),
    and logs with secrets redacted (:mod:`geo_service.core.log_redaction`)."""
    from geo_service.core.log_redaction import server_log_config

    proxies = settings.trusted_proxy_list
    return {
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies,
        "log_config": server_log_config(),
    }


@app.command()
def demo(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    store: Annotated[
        str | None, typer.Option(help="the demo's store (default: sqlite, <data dir>/demo.db)")
    ] = None,
) -> None:
    """The demo (`make run`): its own store, the bundled sample loaded once, every layer
    built, a demo account; prints where to go and how to sign in, then serves."""
    import os

    from geo_service.demo import demo_database_url, prepare_demo

    settings = _settings()
    url = store or demo_database_url(settings)
    try:
        prepared = prepare_demo(settings, url, sys.stderr)
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    os.environ["GEO_DATABASE_URL"] = url  # what `serve` and its workers read
    get_settings.cache_clear()
    where = f"http://{host or settings.host}:{port or settings.port}"
    typer.echo(
        f"""
演示已就绪 The demo is ready.
  打开 Open:        {where}/
  登录 Sign in:     {where}/login
  演示账号 Account: {prepared.account} (管理员 admin, 广西 450000)
  API 密钥 Key:     {prepared.api_key}
                    (kept in {prepared.key_file}; 粘贴到登录页 paste it on the sign-in page)
  演示库 Store:     {url}
按 Ctrl+C 停止 Press Ctrl+C to stop.
""",
        err=True,
    )
    serve(host=host, port=port)


users = typer.Typer(no_args_is_help=True, help="Accounts: add, list, disable.")
app.add_typer(users, name="users")


def _store() -> Any:
    from geo_service.store import make_engine, migrate
    from geo_service.store.db import require_schema

    settings = _settings()
    engine = make_engine(settings.database_url, settings=settings)
    require_schema(engine)
    migrate(engine)  # stores made before accounts existed get their tables
    return engine


@users.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin, leader, planner, gis or inspector")],
    jurisdiction: Annotated[str, typer.Option(help="adcode the account is scoped to")],
) -> None:
    """Create an account; prints its API key once (only a hash is stored)."""
    from geo_service.access.policy import add_account

    try:
        key = add_account(_store(), name, role, jurisdiction)
    except ServiceError as exc:
        _fail(exc)
    _echo_json(
        {
            "name": name,
            "role": role,
            "jurisdiction": jurisdiction,
            "api_key": key,
            "note": "shown once: keep it safe",
        }
    )


@users.command("list")
def users_list() -> None:
    """Every account (no keys: only their first characters)."""
    from geo_service.access.policy import list_accounts

    for account in list_accounts(_store()):
        _echo_json(account)


@users.command("disable")
def users_disable(name: str) -> None:
    """Disable an account: its key stops working."""
    from geo_service.access.policy import disable_account

    try:
        disable_account(_store(), name)
    except ServiceError as exc:
        _fail(exc)
    _echo_json({"name": name, "active": False})


DRAW_OUTPUTS = (".json", ".xlsx", ".html")


@app.command()
def draw(
    jurisdiction: Annotated[str, typer.Option(help="adcode of the jurisdiction drawn")],
    quarter: Annotated[str, typer.Option(help="the quarter drawn, e.g. 2025-Q1")],
    seed: Annotated[str | None, typer.Option(help="the seed, revealed on the day")] = None,
    commitment: Annotated[
        str | None, typer.Option(help="SHA-256 published before; a seed not matching is refused")
    ] = None,
    commit: Annotated[
        bool, typer.Option("--commit", help="no draw: make a seed and print its commitment")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="write the record: .json, .xlsx or .html")
    ] = None,
) -> None:
    """The double-random inspection draw (双随机); prints the record, or writes it to --out.

    First ``--commit``: a fresh random seed and its commitment; publish the commitment,
    keep the seed (it is not stored). On the day: ``--seed S --commitment H``.
    """
    from geo_service.access.audit import AuditLog
    from geo_service.access.policy import Caller

    try:
        engine = _store()
        audit_log = AuditLog(engine)
        try:
            if commit:
                _echo_json(_draw_commitment(engine, audit_log, jurisdiction, quarter))
            elif seed is None:
                raise ValueError("give --seed (made and committed to with --commit beforehand)")
            else:
                stored = _make_draw(engine, jurisdiction, quarter, seed, commitment)
                record = json.loads(stored.record_json)
                audit_log.record(
                    Caller(name="cli", role="admin"),
                    "draw",
                    f"/draws/{stored.draw_id}",
                    {
                        "jurisdiction": jurisdiction,
                        "quarter": quarter,
                        "seed_commitment": stored.seed_commitment,
                        "record_digest": stored.record_digest,
                    },
                    len(record["selected"]),
                )
                _write_draw(engine, stored, record, out)
        finally:
            audit_log.close()
    except (ServiceError, ValueError) as exc:
        _fail(exc)


def _draw_commitment(engine: Any, audit_log: Any, jurisdiction: str, quarter: str) -> Any:
    from analytics.draw import new_seed, seed_commitment
    from geo_service.access.policy import Caller
    from geo_service.planning.draws import quarter_bounds
    from geo_service.store.queries import jurisdiction_level

    quarter_bounds(quarter)
    jurisdiction_level(engine, jurisdiction)
    seed = new_seed()
    commitment = seed_commitment(seed)
    resource = f"/draws/commitments/{jurisdiction}/{quarter}"
    audit_log.record(
        Caller(name="cli", role="admin"),
        "draw_commit",
        resource,
        {"jurisdiction": jurisdiction, "quarter": quarter, "seed_commitment": commitment},
    )
    return {
        "jurisdiction": jurisdiction,
        "quarter": quarter,
        "seed_commitment": commitment,
        "seed": seed,
        "instruction": "publish seed_commitment now; keep seed secret and safe (it is not "
        "stored); on the day of the draw run: geo-service draw --jurisdiction "
        f"{jurisdiction} --quarter {quarter} --seed {seed} --commitment {commitment}",
    }


def _make_draw(
    engine: Any, jurisdiction: str, quarter: str, seed: str, commitment: str | None
) -> Any:
    from geo_service.planning.draws import make_draw

    return make_draw(
        engine,
        jurisdiction=jurisdiction,
        quarter=quarter,
        seed=seed,
        settings=_settings(),
        created_by="cli",
        commitment=commitment,
    )


def _write_draw(engine: Any, stored: Any, record: dict[str, Any], out: Path | None) -> None:
    from geo_service.planning.draws import jurisdiction_name
    from layers.draw_records import draw_to_html, draw_to_xlsx

    if out is None:
        typer.echo(stored.record_json)
        return
    suffix = out.suffix.lower()
    if suffix not in DRAW_OUTPUTS:
        raise ValueError(f"--out {out.name}: write .json, .xlsx or .html")
    name = jurisdiction_name(engine, stored.jurisdiction)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        out.write_bytes(stored.record_json.encode("utf-8"))
    elif suffix == ".xlsx":
        out.write_bytes(draw_to_xlsx(record, name))
    else:
        out.write_text(draw_to_html(record, name), encoding="utf-8")
    _echo_json(
        {
            "draw_id": stored.draw_id,
            "record_digest": stored.record_digest,
            "out": str(out),
            "selected": len(record["selected"]),
            "strata": record["strata"],
        }
    )


QUALITY_OUTPUTS = (".json", ".xlsx", ".html")


@app.command()
def quality(
    jurisdiction: JurisdictionOpt = None,
    batch: Annotated[int | None, typer.Option(help="the report of this ingest batch")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the report: .json, .xlsx or .html")
    ] = None,
) -> None:
    """The data-quality report (数据清洗) of a jurisdiction (the whole store without one) or
    of one ingest batch; prints it as JSON, or writes it to --out and prints a summary.
    With both, the batch must have been loaded within the jurisdiction."""
    from geo_service.access.audit import AuditLog
    from geo_service.access.policy import Caller, covers
    from geo_service.store.batches import read_batch
    from geo_service.store.quality import batch_quality, jurisdiction_quality
    from geo_service.store.queries import jurisdiction_level
    from layers.quality_report import quality_json, quality_to_html, quality_to_xlsx

    try:
        suffix = out.suffix.lower() if out is not None else ".json"
        if suffix not in QUALITY_OUTPUTS:
            raise ValueError(f"--out {out.name if out else ''}: write .json, .xlsx or .html")
        engine = _store()
        if jurisdiction is not None:
            jurisdiction_level(engine, jurisdiction)  # a loaded division, else refused
        if batch is not None:
            stated = read_batch(engine, batch)["jurisdiction"]
            within = Caller(name="cli", role="admin", jurisdiction=jurisdiction)
            if jurisdiction is not None and not covers(engine, within, stated):
                raise ValueError(f"batch {batch} was not loaded within {jurisdiction}")
            report = batch_quality(engine, batch)
        else:
            report = jurisdiction_quality(engine, jurisdiction)
        audit_log = AuditLog(engine)
        try:
            asked = {"jurisdiction": jurisdiction, "batch_id": batch, "out": suffix[1:]}
            resource = f"/quality/batches/{batch}" if batch is not None else "/quality"
            audit_log.record(Caller(name="cli", role="admin"), "quality", resource, asked)
        finally:
            audit_log.close()
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    document = quality_json(report)
    if out is None:
        _echo_json(document)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        out.write_bytes(quality_to_xlsx(report))
    elif suffix == ".html":
        out.write_text(quality_to_html(report), encoding="utf-8")
    else:
        out.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    _echo_json(
        {
            "title": document["title"],
            "scope": report["scope"],
            "data_version": report["data_version"],
            "out": str(out),
            "reviews": report["reviews"]["count"],
            "stale": report["stale"]["count"],
        }
    )


@app.command()
def backtest(
    train_until: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="risk scored on data up to this day")
    ],
    test_year: Annotated[int, typer.Option(help="year whose penalty cases count as hits")],
    draws: Annotated[int, typer.Option(help="simulated draws")] = 200,
    jurisdiction: JurisdictionOpt = None,
    seed: Annotated[int, typer.Option(help="seed of the simulation")] = 0,
) -> None:
    """Risk-weighted draws against uniform draws of the same stratified sizes: hit rates
    (share of the test year's penalty cases at the drawn enterprises) and lift, as JSON."""
    from geo_service.planning.draws import run_backtest

    try:
        result = run_backtest(
            _store(),
            train_until=train_until.date(),
            test_year=test_year,
            settings=_settings(),
            jurisdiction=jurisdiction,
            n_draws=draws,
            seed=seed,
        )
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json(result)


@app.command("evaluate-risk")
def evaluate_risk(
    test_year: Annotated[
        list[int] | None,
        typer.Option(
            help="year whose cases are predicted, the score using data up to the year "
            "before (repeat for several splits; default: the two latest usable years)"
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="database URL of the store (default: GEO_DATABASE_URL)")
    ] = None,
    jurisdiction: JurisdictionOpt = None,
    window_years: Annotated[int, typer.Option(help="years of records the score counts 1-5")] = 3,
    draws: Annotated[int, typer.Option(help="simulated draws for the draw's lift")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the draws and of the random baseline")] = 0,
) -> None:
    """Does the risk score predict next year's cases? Per enterprise and time split:
    ROC AUC, PR-AUC, lift at 5/10/20 %, a reliability table after calibration on the
    year before, the draw's lift, against baselines (last year's cases, cases in the
    window, any prior case, random). JSON on stdout, a readable table on stderr."""
    from geo_service.planning import risk_evaluation
    from geo_service.store import make_engine
    from geo_service.store.db import require_schema

    settings = _settings()
    try:
        if not 1 <= window_years <= 5 or draws < 1:
            raise ValueError("window-years must be 1…5 and draws at least 1")
        if store is not None:
            engine = make_engine(store, settings=settings)
            require_schema(engine)
        else:
            engine = _store()
        years = test_year or risk_evaluation.default_test_years(engine, jurisdiction)
        result = risk_evaluation.evaluate_risk(
            engine,
            test_years=years,
            settings=settings,
            jurisdiction=jurisdiction,
            window_years=window_years,
            n_draws=draws,
            seed=seed,
        )
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    typer.echo(risk_evaluation.evaluation_table(result), err=True)
    _echo_json(result)


@app.command()
def audit(
    account: Annotated[str | None, typer.Option(help="only this account")] = None,
    since: DateOpt = None,
    limit: Annotated[int, typer.Option(help="newest entries to show")] = 100,
) -> None:
    """Read the audit log (who read which point records, who ran which draw), newest first.
    Entries still waiting in a journal for SQLite's write lock (an ingest holds it) are
    counted on standard error: they are stored once the lock is free."""
    from geo_service.access.audit import journaled_entries
    from geo_service.access.policy import read_audit

    engine = _store()
    since_utc = since.replace(tzinfo=dt.UTC) if since else None
    for entry in read_audit(engine, account=account, since=since_utc, limit=limit):
        _echo_json(entry)
    waiting = journaled_entries(engine)
    if waiting:
        typer.echo(
            f"{waiting} audit entries wait in the journal for the store's write lock",
            err=True,
        )


@app.command()
def plan(
    jurisdiction: Annotated[str, typer.Option(help="adcode of a province, city or county")],
    inspector_days: Annotated[float, typer.Option(help="inspector-days available (≥ 0)")],
    days_per_enterprise: Annotated[
        str | None,
        typer.Option(help="days per inspection: a number or key=1.5,special=1,general=0.5"),
    ] = None,
    as_of: DateOpt = None,
    industry: IndustryOpt = None,
    resolution: Annotated[int, typer.Option(help="H3 resolution of the risk cells 5-8")] = 7,
    window_years: Annotated[int, typer.Option(help="years of records counted 1-5")] = 3,
    anywhere: Annotated[
        bool, typer.Option(help="plan enterprises outside the priority areas too")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="plan.xlsx or plan.json")] = None,
) -> None:
    """The inspection plan covering the most expected findings within the inspector-days."""
    from geo_service.builds.risk import latest_record_date
    from geo_service.planning.plans import (
        PlanRequest,
        days_per_enterprise_of,
        plan_document,
        plan_inspections,
        write_plan,
    )
    from geo_service.store.queries import data_version

    settings = _settings()
    try:
        filters = Filters(jurisdiction=jurisdiction, industry=industry)
        if not (0 <= inspector_days <= 100_000) or not (5 <= resolution <= 8):
            raise ValueError("inspector-days must be 0…100000 and resolution 5…8")
        engine = _store()
        asked = PlanRequest(
            jurisdiction=filters.jurisdiction,
            inspector_days=inspector_days,
            days_per_enterprise=days_per_enterprise_of(days_per_enterprise),
            as_of=as_of.date() if as_of else None,
            industry=filters.industry,
            resolution=resolution,
            window_years=window_years,
            areas_only=not anywhere,
            weights=settings.risk_weights,
            tiers=settings.risk_tier_quantiles,
        )
        default_as_of = latest_record_date(engine) or china_today()
        chosen, areas = plan_inspections(engine, asked, default_as_of)
        doc = plan_document(
            chosen, areas, jurisdiction=jurisdiction, data_version=data_version(engine)
        )
        if out is not None:
            write_plan(doc, out)
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    if out is None:
        _echo_json(doc)
    else:
        summary = {k: v for k, v in doc.items() if k not in ("areas", "enterprises", "parameters")}
        _echo_json({**summary, "path": str(out)})


@app.command()
def brief(
    jurisdiction: Annotated[str, typer.Option(help="adcode of a province, city or county")],
    period: Annotated[str, typer.Option(help="2024, 2024-Q2 or 2024-05")],
    out: Annotated[Path, typer.Option(help="brief.pdf (fonts embedded) or brief.html")],
) -> None:
    """The periodic enforcement briefing (执法态势简报) of a jurisdiction and period, as the
    service answers GET /briefs/{jurisdiction}/{period}.pdf|.html; prints a summary."""
    from geo_service.access.audit import AuditLog
    from geo_service.access.policy import Caller
    from geo_service.api.brief_content import BriefRequest
    from geo_service.api.briefs import render_brief

    try:
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("pdf", "html"):
            raise ValueError(f"--out {out.name}: 须为 .pdf 或 .html; write .pdf or .html")
        engine = _store()
        asked = BriefRequest.parse(jurisdiction, period)
        made = render_brief(engine, asked, fmt, _settings())
        out.write_bytes(made.content)
        audit_log = AuditLog(engine)
        try:
            where = f"/briefs/{asked.jurisdiction}/{asked.period}.{fmt}"
            params = {"jurisdiction": asked.jurisdiction, "period": str(asked.period), "f": fmt}
            audit_log.record(Caller(name="cli", role="admin"), "brief", where, params, made.named)
        finally:
            audit_log.close()
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json({"jurisdiction": jurisdiction, "period": period, "path": str(out)})


def main() -> None:
    """Console-script entry point."""
    app()


# commands kept in modules of their own register themselves on ``app``
from geo_service import cli_cluster as _cli_cluster  # noqa: E402, F401
