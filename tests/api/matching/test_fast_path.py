"""A valid POST /v1/match is answered ahead of FastAPI's routing; it must be the route's answer,
and everything else must still reach the route (its errors, its 503)."""
from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.matching.schemas import LeadIn
from api.matching.service import answer
from config import load_matching_rules
from tests.conftest import account

LEADS = [
    {"email": "jane@acme.com", "company": "Acme Corp", "country": "US"},
    {"email": "jane1987@gmail.com", "company": "ACME Corporation", "country": "US"},
    {"company": "Globex", "country": "DE", "first_name": "Hank", "unknown_field": 1},
    {"email": "nobody@unknown-domain.io"},
]
# What each lead must get from the two accounts of ``_load``: (decision, account, evidence, owner, queue).
# acme.com is A1's own domain; a free-mail lead matches on A1's exact name in A1's country;
# 'Globex' is A2's name without its legal form, in A2's country; unknown-domain.io is nobody's
# and there is no company: the fallback queue (config/matching.toml [routing]).
EXPECTED = [
    ("matched", "A1", "email_domain", "Dana Whitfield", None),
    ("matched", "A1", "name_exact", "Dana Whitfield", None),
    ("matched", "A2", "name_exact", "Lena Vogel", None),
    ("no_match", None, None, None, load_matching_rules().routing.fallback_queue),
]


def _load(client: TestClient) -> None:
    body = [account("A1"), account("A2", "Globex Inc", domains=["globex.com"], country="DE", owner="Lena Vogel")]
    assert client.put("/v1/accounts", json=body).status_code == 200


def test_fast_answer_is_the_routes_answer(client: TestClient) -> None:
    _load(client)
    services = client.app.state.services
    for lead, expected in zip(LEADS, EXPECTED, strict=True):
        raw = json.dumps(lead).encode()
        fast = client.post("/v1/match", content=raw, headers={"content-type": "application/json"})
        # FastAPI also parses a '+json' type as JSON; the fast path leaves that to the route
        routed = client.post("/v1/match", content=raw, headers={"content-type": "application/vnd.lead+json"})
        assert fast.status_code == routed.status_code == 200
        body = fast.json()
        assert (body["decision"], body["account_id"], body["evidence"], body["route"]["owner"],
                body["route"]["queue"]) == expected, (lead, body["reasons"])
        assert fast.content == routed.content
        assert fast.json() == answer(services, LeadIn.model_validate(lead))
        assert fast.headers["content-type"] == "application/json"
        assert int(fast.headers["content-length"]) == len(fast.content)
    metrics = client.get("/metrics").text
    assert f'route="/v1/match",status="200"}} {2.0 * len(LEADS)}' in metrics
    assert 'leadmatch_matches_total{decision="matched"}' in metrics


def test_what_the_fast_path_does_not_answer_reaches_the_route(client: TestClient) -> None:
    _load(client)
    cases = [
        (b'{"email": "not-an-email", "company": "Acme"}', "email"),  # invalid field
        (b'{"first_name": "Jane"}', "email"),  # neither email nor company
        (b'{"email": "jane@acme.com", ', "body"),  # malformed JSON
        (b'["jane@acme.com"]', "body"),  # not an object
        (b'{"company": 42}', "company"),  # wrong type
    ]
    for raw, field in cases:
        r = client.post("/v1/match", content=raw, headers={"content-type": "application/json; charset=utf-8"})
        assert r.status_code == 422, (raw, r.text)
        assert field in {f["field"] for f in r.json()["fields"]}, r.json()
    # an oversized body is refused before anything reads it
    big = json.dumps({"company": "Acme", "title": "x" * (70 * 1024)}).encode()
    assert client.post("/v1/match", content=big, headers={"content-type": "application/json"}).status_code == 413
    # nothing was stored or changed by any of it
    assert client.get("/v1/accounts/A1").json()["name"] == "Acme Corporation"


def test_index_still_loading_is_the_routes_503(client: TestClient) -> None:
    services = client.app.state.services
    services.index._ready.clear()  # as while the index loads
    try:
        r = client.post("/v1/match", json={"company": "Acme"})
        assert r.status_code == 503 and "loading" in r.json()["error"]
    finally:
        services.index._ready.set()


def _call(middleware_app, scope: dict, body: bytes, parts: int = 1) -> list[dict]:
    """Run one ASGI request through ``middleware_app``; the body arrives in ``parts`` messages."""
    import asyncio

    size = -(-len(body) // parts) or 1
    messages = [{"type": "http.request", "body": body[i:i + size], "more_body": i + size < len(body)}
                for i in range(0, max(len(body), 1), size)]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(middleware_app(scope, receive, send))
    return sent


def test_fast_path_answers_without_the_route_and_replays_the_body_otherwise(client: TestClient) -> None:
    from api.matching.fast_path import MatchFastPath

    _load(client)
    seen: list[bytes] = []

    async def route(scope, receive, send) -> None:  # noqa: ANN001 - stands for FastAPI
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"routed"})

    fast = MatchFastPath(route)
    scope = {"type": "http", "method": "POST", "path": "/v1/match", "app": client.app,
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"1")]}
    valid = json.dumps(LEADS[0]).encode()
    sent = _call(fast, dict(scope), valid, parts=3)  # a body in several messages is read whole
    assert seen == [] and sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == answer(client.app.state.services, LeadIn.model_validate(LEADS[0]))
    assert json.loads(sent[1]["body"])["account_id"] == EXPECTED[0][1]
    invalid = b'{"email": "not-an-email"}'
    sent = _call(fast, dict(scope), invalid, parts=2)
    assert seen == [invalid] and sent[0]["status"] == 299  # the route got the whole body
    no_length = {**scope, "headers": [(b"content-type", b"application/json")]}  # chunked: the route's
    _call(fast, no_length, valid)
    assert seen[-1] == valid and len(seen) == 2
