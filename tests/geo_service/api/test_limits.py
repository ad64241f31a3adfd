"""Request limits: query length (414), body size (413, declared or streamed) and the rate
limits per account and per address (429 with Retry-After), on their own and in the app.

Time is a fake clock driven by the tests: nothing sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Message, Receive, Scope, Send

from geo_service.access.policy import add_account
from geo_service.api.app import create_app
from geo_service.api.limits import (
    RateLimits,
    RateLimitState,
    RequestLimits,
    TokenBuckets,
    caller_identity,
)
from geo_service.cli import server_options
from geo_service.core.settings import Settings


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the buckets alone -------------------------------------------------------------------


def test_a_bucket_grants_its_burst_then_refuses_with_the_wait_until_the_next_token() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(per_minute=6, burst=3, clock=clock)  # a token every 10 s
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(10.0)
    clock.advance(4.0)
    assert buckets.take("a") == pytest.approx(6.0)  # refusals cost nothing
    clock.advance(6.0)
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(10.0)


def test_a_bucket_refills_to_its_burst_and_no_further() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(per_minute=60, burst=2, clock=clock)
    assert buckets.take("a") == 0.0 and buckets.take("a") == 0.0
    clock.advance(3600.0)  # an hour idle: still only the burst of 2
    assert [buckets.take("a") == 0.0 for _ in range(3)] == [True, True, False]


def test_callers_have_buckets_of_their_own() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1, clock=FakeClock())
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0.0
    assert buckets.take("b") == 0.0


def test_idle_buckets_are_dropped_and_the_number_kept_is_bounded() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(per_minute=60, burst=5, clock=clock, max_buckets=100)
    for i in range(100):
        buckets.take(f"caller-{i}")
    assert len(buckets) == 100
    buckets.take("one-more")
    assert len(buckets) == 100  # the least recently used went
    clock.advance(5.0)  # long enough for every bucket to refill: none is worth keeping
    buckets.take("late")
    assert len(buckets) == 1


def test_a_bucket_dropped_for_room_comes_back_full() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(per_minute=60, burst=1, clock=clock, max_buckets=1)
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0  # "a" is dropped to keep one bucket
    assert buckets.take("a") == 0.0


def test_zero_per_minute_is_not_a_bucket() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        TokenBuckets(per_minute=0, burst=1)


def _scope(headers: dict[str, str] | None = None, client: str = "10.0.0.1") -> Scope:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "path": "/", "headers": raw, "client": (client, 5000)}


@pytest.fixture
def app_and_keys(sqlite_only_store: Engine) -> tuple[Any, dict[str, str]]:
    """An app (limits off: its buckets are driven by the tests) and the keys of two
    accounts by their names."""
    tag = next(_ACCOUNTS)
    keys = {
        name: add_account(sqlite_only_store, name, "gis", "450000")
        for name in (f"limits-a-{tag}", f"limits-b-{tag}")
    }
    settings = Settings(
        database_url=_url(sqlite_only_store), rate_limit_per_minute=0, tile_rate_limit_per_minute=0
    )
    return create_app(settings), keys


_ACCOUNTS = itertools.count()


def _basic(password: str, user: str = "qgis") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_identity_is_the_account_else_the_address(app_and_keys: tuple[Any, dict[str, str]]) -> None:
    app, keys = app_and_keys
    (name, key), (_, other_key) = keys.items()
    account = f"account:{name}"

    def identity(headers: dict[str, str] | None = None, client: str = "10.0.0.1") -> str:
        return caller_identity({**_scope(headers, client), "app": app})

    # every spelling of the key, and a log-in session of its account, is the account
    assert identity({"Authorization": f"Bearer {key}"}) == account
    assert identity({"Authorization": f"bearer  {key} "}) == account
    assert identity({"X-API-Key": key}) == account
    assert identity({"Authorization": _basic(key)}) == account
    assert identity({"Authorization": _basic(key, user="other")}, client="10.9.9.9") == account
    browser = TestClient(app)
    assert browser.post("/login", data={"api_key": key}, follow_redirects=False).status_code == 303
    session = browser.cookies["geo_session"]
    assert identity({"Cookie": f"lang=zh; geo_session={session}; theme=dark"}) == account
    assert identity({"Authorization": f"Bearer {other_key}"}) not in (account, "addr:10.0.0.1")
    # an unknown, malformed or mangled key counts against the address, as anonymous does
    assert identity({"Authorization": "Bearer gs_unknown"}) == "addr:10.0.0.1"
    assert identity({"X-API-Key": "gs_unknown"}, client="192.0.2.7") == "addr:192.0.2.7"
    assert identity({"Authorization": "Basic !!notbase64"}) == "addr:10.0.0.1"
    assert identity({"Cookie": f"geo_session={key}"}) == "addr:10.0.0.1"  # a key is no session
    assert identity({"Authorization": "Digest abc"}) == "addr:10.0.0.1"
    assert identity({"Cookie": "lang=zh"}) == "addr:10.0.0.1"
    assert identity(client="192.0.2.7") == "addr:192.0.2.7"
    assert caller_identity({"type": "http", "headers": []}) == "addr:unknown"


def _junk_variants(password: str) -> list[str]:
    """Basic credentials of ``password`` with characters the lenient base64 decoder skips."""
    encoded = base64.b64encode(f"qgis:{password}".encode()).decode()
    return [
        f"Basic {encoded[:i]}{junk}{encoded[i:]}"
        for i, junk in ((4, "!"), (8, "*"), (12, "."), (16, "\\"), (20, "$"))
    ]


# --- the middleware alone, driven as an ASGI server would ----------------------------------


async def _body_length_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers its length (as a route reading a body would)."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = json.dumps({"size": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _call(
    app: Any, chunks: list[bytes], headers: dict[str, str] | None = None, query: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request through ``app``: the body in ``chunks`` (streamed, no Content-Length
    unless given), and the status, headers and body answered."""
    scope = {**_scope(headers), "method": "POST", "query_string": query}
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = [m for m in sent if m["type"] == "http.response.start"]
    assert len(start) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer_headers = {k.decode(): v.decode() for k, v in start[0]["headers"]}
    return start[0]["status"], answer_headers, body


def test_a_streamed_body_within_the_limit_reaches_the_app() -> None:
    app = RequestLimits(_body_length_app, max_query_chars=100, max_body_bytes=1000)
    status, _, body = _call(app, [b"x" * 400, b"x" * 400, b"x" * 200])
    assert status == 200 and json.loads(body) == {"size": 1000}


def test_a_streamed_body_past_the_limit_is_a_413_and_the_app_answer_is_dropped() -> None:
    app = RequestLimits(_body_length_app, max_query_chars=100, max_body_bytes=1000)
    status, headers, body = _call(app, [b"x" * 400, b"x" * 400, b"x" * 400])
    assert status == 413
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["code"] == "request_too_large" and "1000 bytes" in doc["description"]


def test_a_declared_body_past_the_limit_is_refused_before_the_app_runs() -> None:
    calls: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope)
        await _body_length_app(scope, receive, send)

    limited = RequestLimits(app, max_query_chars=100, max_body_bytes=1000)
    status, _, body = _call(limited, [b"x" * 1001], {"Content-Length": "1001"})
    assert status == 413 and calls == []
    assert "Content-Length: 1001" in json.loads(body)["description"]
    status, _, _ = _call(limited, [b"x" * 1000], {"Content-Length": "1000"})
    assert status == 200 and len(calls) == 1


def test_the_rate_middleware_counts_per_caller_and_tiles_apart() -> None:
    clock = FakeClock()
    state = RateLimitState(api=TokenBuckets(60, 1, clock), tiles=TokenBuckets(60, 2, clock))

    def identify(scope: Scope) -> str:  # a stand-in for the accounts
        return dict(scope["headers"]).get(b"x-api-key", b"anonymous").decode()

    app = RateLimits(_body_length_app, state, identify=identify)
    assert _call(app, [b""])[0] == 200
    status, headers, body = _call(app, [b""])
    assert status == 429 and headers["retry-after"] == "1"
    assert json.loads(body)["code"] == "rate_limited"
    assert _call(app, [b""], {"X-API-Key": "k"})[0] == 200


# --- in the app ------------------------------------------------------------------------------


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def limited(sqlite_only_store: Engine) -> Iterator[tuple[Any, FakeClock]]:
    """An app allowing 6 API requests a minute with a burst of 3 (and 12 / 4 for tiles and
    static files), on a fake clock."""
    settings = Settings(
        database_url=_url(sqlite_only_store),
        rate_limit_per_minute=6,
        rate_limit_burst=3,
        tile_rate_limit_per_minute=12,
        tile_rate_limit_burst=4,
    )
    app = create_app(settings)
    clock = FakeClock()
    app.state.rate_limits.api.clock = clock
    app.state.rate_limits.tiles.clock = clock
    yield app, clock


def _client(app: Any, address: str = "10.0.0.1") -> TestClient:
    return TestClient(app, client=(address, 5000))


def test_the_burst_passes_then_429_with_retry_after_until_a_token_refills(
    limited: tuple[Any, FakeClock],
) -> None:
    app, clock = limited
    client = _client(app)
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"] == "10"  # 6 a minute: a token every 10 s
    body = refused.json()
    assert set(body) == {"code", "description"} and body["code"] == "rate_limited"
    assert "6 a minute" in body["description"]
    clock.advance(9.5)
    assert client.get("/").headers["retry-after"] == "1"
    clock.advance(0.5)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 429


def test_other_accounts_and_addresses_keep_their_own_allowance(
    limited: tuple[Any, FakeClock], sqlite_only_store: Engine
) -> None:
    app, _ = limited
    tag = next(_ACCOUNTS)
    key_a, key_b = (
        add_account(sqlite_only_store, f"limited-{who}-{tag}", "gis", "450000")
        for who in ("a", "b")
    )
    first, second = _client(app, "10.0.0.1"), _client(app, "10.0.0.2")
    for _ in range(3):
        first.get("/")
    assert first.get("/").status_code == 429
    assert second.get("/").status_code == 200
    statuses = [first.get("/", headers={"X-API-Key": key_a}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # the same key as a Bearer token or Basic password, from anywhere, is the same account
    assert first.get("/", headers={"Authorization": f"Bearer {key_a}"}).status_code == 429
    assert second.get("/", headers={"Authorization": _basic(key_a)}).status_code == 429
    assert first.get("/", headers={"X-API-Key": key_b}).status_code == 200


def test_junk_in_basic_credentials_buys_no_allowance(
    limited: tuple[Any, FakeClock], sqlite_only_store: Engine
) -> None:
    app, _ = limited
    key = add_account(sqlite_only_store, f"junk-{next(_ACCOUNTS)}", "gis", "450000")
    client = _client(app, "10.0.0.3")
    points = "/collections/cases/items?limit=1"  # needs an account
    statuses = [
        client.get(points, headers={"Authorization": _basic(key)}).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    # each mangled spelling was once a fresh bucket that still authenticated; now it does
    # not authenticate, and counts against the address
    answers = [client.get(points, headers={"Authorization": v}) for v in _junk_variants(key)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert answers[0].json()["code"] == "authentication_required"


def test_rotating_x_forwarded_for_buys_no_allowance(limited: tuple[Any, FakeClock]) -> None:
    app, _ = limited
    client = _client(app, "127.0.0.1")
    statuses = [
        client.get("/", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


def _served(app: Any, settings: Settings) -> Any:
    """``app`` as uvicorn serves it with the options of `geo-service serve`."""
    import uvicorn

    config = uvicorn.Config(
        app,
        **{k: v for k, v in server_options(settings).items() if k != "log_config"},
        log_config=None,
    )
    config.load()
    return config.loaded_app


def test_x_forwarded_for_is_believed_only_from_the_trusted_proxies(
    limited: tuple[Any, FakeClock],
) -> None:
    app, _ = limited
    settings: Settings = app.state.settings
    assert settings.trusted_proxies == "" and server_options(settings)["proxy_headers"] is False
    # by default (uvicorn alone would trust any proxy on loopback) a rotated header is
    # nobody's address: the peer is counted
    served = TestClient(_served(app, settings), client=("127.0.0.1", 5000))
    statuses = [
        served.get("/", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    # from a trusted proxy the forwarded client is counted; from another peer, the peer
    trusted = settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})
    assert server_options(trusted)["proxy_headers"] is True
    behind = _served(app, trusted)
    proxy = TestClient(behind, client=("10.1.2.3", 5000))
    assert [
        proxy.get("/", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(4)
    ] == [200, 200, 200, 200]
    stranger = TestClient(behind, client=("192.0.2.50", 5000))
    assert [
        stranger.get("/", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
        for i in range(10, 14)
    ] == [200, 200, 200, 429]


def test_serve_runs_uvicorn_with_the_proxy_and_logging_options(
    sqlite_only_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from geo_service.cli import app as cli
    from geo_service.core.settings import get_settings

    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: runs.append(options))
    monkeypatch.setenv("GEO_DATABASE_URL", _url(sqlite_only_store))
    for proxies, expected in (
        ("", (False, [])),
        ("10.0.0.5, 10.1.0.0/16", (True, ["10.0.0.5", "10.1.0.0/16"])),
    ):
        monkeypatch.setenv("GEO_TRUSTED_PROXIES", proxies)
        get_settings.cache_clear()
        try:
            done = CliRunner().invoke(cli, ["serve", "--port", "8123"])
        finally:
            get_settings.cache_clear()
        assert done.exit_code == 0, done.output
        options = runs.pop()
        assert (options["proxy_headers"], options["forwarded_allow_ips"]) == expected
        handlers = options["log_config"]["handlers"]
        assert all("redact_secrets" in h["filters"] for h in handlers.values())


def test_a_trusted_proxy_must_be_an_address() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(trusted_proxies="proxy.example")
    assert Settings(trusted_proxies=" 10.0.0.1 ,::1").trusted_proxy_list == ["10.0.0.1", "::1"]


def test_tiles_and_static_files_count_apart_and_healthz_never(
    limited: tuple[Any, FakeClock],
) -> None:
    app, _ = limited
    client = _client(app)
    for _ in range(3):
        client.get("/")
    assert client.get("/").status_code == 429
    static = [client.get("/static/maps/favicon.svg").status_code for _ in range(5)]
    assert static == [200, 200, 200, 200, 429]
    assert client.get("/tiles/hexagons/0/0/0.mvt").status_code == 429
    assert {client.get("/healthz").status_code for _ in range(20)} == {200}


def test_zero_turns_the_rate_limits_off(sqlite_only_store: Engine) -> None:
    settings = Settings(
        database_url=_url(sqlite_only_store),
        rate_limit_per_minute=0,
        rate_limit_burst=1,
        tile_rate_limit_per_minute=0,
    )
    app = create_app(settings)
    assert app.state.rate_limits.api is None and app.state.rate_limits.tiles is None
    client = _client(app)
    assert {client.get("/").status_code for _ in range(30)} == {200}


def test_the_defaults_limit_the_rate() -> None:
    defaults = Settings.model_fields
    assert defaults["rate_limit_per_minute"].default > 0
    assert (
        defaults["tile_rate_limit_per_minute"].default > defaults["rate_limit_per_minute"].default
    )


@pytest.fixture
def small_limits(sqlite_only_store: Engine) -> TestClient:
    settings = Settings(
        database_url=_url(sqlite_only_store),
        max_query_chars=100,
        max_body_bytes=1000,
        rate_limit_per_minute=0,
        tile_rate_limit_per_minute=0,
    )
    return _client(create_app(settings))


def test_a_query_string_past_the_limit_is_a_414(small_limits: TestClient) -> None:
    within = "f=" + "j" * 98
    assert small_limits.get(f"/?{within}").status_code == 200
    refused = small_limits.get(f"/?{within}x")
    assert refused.status_code == 414
    assert refused.json()["code"] == "query_too_long"
    assert "101 characters" in refused.json()["description"]


def test_a_body_past_the_limit_is_a_413_declared_or_streamed(small_limits: TestClient) -> None:
    declared = small_limits.post("/login", content=b"api_key=" + b"k" * 1000)
    assert declared.status_code == 413 and declared.json()["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:
        yield b"api_key=" + b"k" * 1000

    streamed = small_limits.post("/login", content=chunks())
    assert streamed.status_code == 413 and streamed.json()["code"] == "request_too_large"
    # within the limit the route answers itself
    assert small_limits.post("/login", content=b"api_key=").status_code == 400
