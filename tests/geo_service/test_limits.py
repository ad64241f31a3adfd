"""Request limits: query length (414), body size (413, declared or streamed) and the rate
limits per API key and per address (429 with Retry-After), on their own and in the app.

Time is a fake clock driven by the tests: nothing sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Message, Receive, Scope, Send

from geo_service.app import create_app
from geo_service.limits import (
    RateLimits,
    RateLimitState,
    RequestLimits,
    TokenBuckets,
    caller_identity,
)
from geo_service.settings import Settings


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


def test_identity_is_the_hashed_credential_else_the_address() -> None:
    digest = hashlib.sha256(b"gs_secret").hexdigest()
    assert caller_identity(_scope({"Authorization": "Bearer gs_secret"})) == f"key:{digest}"
    assert caller_identity(_scope({"Authorization": "bearer  gs_secret "})) == f"key:{digest}"
    assert caller_identity(_scope({"X-API-Key": "gs_secret"})) == f"key:{digest}"
    basic = base64.b64encode(b"qgis:gs_secret").decode()
    assert caller_identity(_scope({"Authorization": f"Basic {basic}"})) == f"key:{digest}"
    cookie = {"Cookie": "lang=zh; geo_session=gs_secret; theme=dark"}
    assert caller_identity(_scope(cookie)) == f"key:{digest}"
    both = {"X-API-Key": "gs_other", "Authorization": "Bearer gs_secret"}
    assert caller_identity(_scope(both)) == f"key:{digest}"  # Authorization first, as auth
    assert caller_identity(_scope({"Authorization": "Digest abc"})) == "addr:10.0.0.1"
    assert caller_identity(_scope({"Cookie": "lang=zh"})) == "addr:10.0.0.1"
    assert caller_identity(_scope(client="192.0.2.7")) == "addr:192.0.2.7"
    assert caller_identity({"type": "http", "headers": []}) == "addr:unknown"


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
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def _call(
    app: Any, chunks: list[bytes], headers: dict[str, str] | None = None, query: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request through ``app``: the body in ``chunks`` (streamed, no Content-Length
    unless given), and the status, headers and body answered."""
    scope = {**_scope(headers), "method": "POST", "query_string": query}
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]  # fmt: skip
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
    app = RateLimits(_body_length_app, state)
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
    settings = Settings(database_url=_url(sqlite_only_store), rate_limit_per_minute=6,
                        rate_limit_burst=3, tile_rate_limit_per_minute=12,
                        tile_rate_limit_burst=4)  # fmt: skip
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


def test_other_keys_and_addresses_keep_their_own_allowance(
    limited: tuple[Any, FakeClock],
) -> None:
    app, _ = limited
    first, second = _client(app, "10.0.0.1"), _client(app, "10.0.0.2")
    for _ in range(3):
        first.get("/")
    assert first.get("/").status_code == 429
    assert second.get("/").status_code == 200
    key_a = {"X-API-Key": "gs_key_a"}
    statuses = [first.get("/", headers=key_a).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # the same key as a Bearer token is the same caller; another key is not
    assert first.get("/", headers={"Authorization": "Bearer gs_key_a"}).status_code == 429
    assert first.get("/", headers={"X-API-Key": "gs_key_b"}).status_code == 200


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
    settings = Settings(database_url=_url(sqlite_only_store), rate_limit_per_minute=0,
                        rate_limit_burst=1, tile_rate_limit_per_minute=0)  # fmt: skip
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
    settings = Settings(database_url=_url(sqlite_only_store), max_query_chars=100,
                        max_body_bytes=1000, rate_limit_per_minute=0,
                        tile_rate_limit_per_minute=0)  # fmt: skip
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
