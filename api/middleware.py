"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a queue per request).

Two hot paths are answered ahead of FastAPI's routing, validation and dependency machinery
(about half of a small request's time): ``MatchFastPath`` for a valid ``POST /v1/match``,
``CachedStatusFastPath`` for a cached account status. Whatever they do not answer goes on to
the real route, which also documents them.

``RequestGuard`` does two cheap things for every HTTP request:
- refuses bodies over ``max_body_bytes`` with 413 before anything parses them: at once when
  Content-Length says so, or as soon as a chunked body crosses the limit;
- counts requests by method, route template and status for ``/metrics``.
"""
from __future__ import annotations

import orjson
from fastapi import HTTPException
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics
from api.responses import JSONBytesResponse


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_body} bytes (max_body_bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body:
                status = 413
                await JSONBytesResponse({"error": self._too_large(), "fields": [{"field": "body",
                                         "message": self._too_large()}]}, status_code=413)(scope, receive, send)
                return

            seen = 0
            # With a Content-Length (checked above) the server's framing already bounds the body;
            # only a chunked body has to be counted as it arrives.
            guard_body = declared is None and scope["method"] not in ("GET", "HEAD")

            async def guarded_receive() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_body:
                        # FastAPI re-raises HTTPException from body parsing; our handler renders it
                        raise HTTPException(413, self._too_large())
                return message

            async def observed_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, guarded_receive if guard_body else receive, observed_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.count_request(scope["method"], template, str(status))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _RouteName:
    """What RequestGuard's metrics read off ``scope["route"]`` for a request answered here."""

    def __init__(self, path: str) -> None:
        self.path = path


class CachedStatusFastPath:
    """Answers ``GET /v1/accounts/{id}/status`` straight from the status cache when the answer
    is there, before FastAPI's routing, validation and dependency machinery. That lookup is what
    a CRM does on every page view; a miss (or anything else) goes on to the real route, which
    builds, caches and documents the answer. The cached bytes are exactly what the route sends."""

    PREFIX = "/v1/accounts/"
    SUFFIX = "/status"
    ROUTE = _RouteName("/v1/accounts/{account_id}/status")
    HEADERS = [(b"content-type", b"application/json")]

    def __init__(self, app: ASGIApp, *, max_id_length: int = 64) -> None:
        self.app = app
        self.max_id_length = max_id_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(self.PREFIX) and path.endswith(self.SUFFIX):
                account_id = path[len(self.PREFIX):-len(self.SUFFIX)]
                services = getattr(scope["app"].state, "services", None) if "app" in scope else None
                if services is not None and 0 < len(account_id) <= self.max_id_length and "/" not in account_id:
                    from api.deps import status_cache_key  # deps imports this module's neighbours

                    body = services.cache.get(status_cache_key(account_id))
                    if body is not None:
                        scope["route"] = self.ROUTE
                        await send({"type": "http.response.start", "status": 200,
                                    "headers": [*self.HEADERS, (b"content-length", str(len(body)).encode())]})
                        await send({"type": "http.response.body", "body": body})
                        return
        await self.app(scope, receive, send)


class MatchFastPath:
    """Answers ``POST /v1/match`` with a JSON body that is a valid lead, the web-form hot path.

    The body is validated exactly as the route's ``LeadIn`` parameter is (the same model, in
    Python mode, on the parsed JSON) and answered by the route's own ``answer``. Anything else
    (another content type, a chunked body, malformed JSON, an invalid lead, an index still
    loading) is replayed to the route, so errors keep their one format and their messages."""

    PATH = "/v1/match"
    ROUTE = _RouteName(PATH)
    HEADERS = [(b"content-type", b"application/json")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.PATH:
            await self.app(scope, receive, send)
            return
        services = getattr(scope["app"].state, "services", None) if "app" in scope else None
        if services is None or not services.index.ready or not _json_with_length(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        from api.routes.match import answer  # the routes import this module's neighbours
        from api.schemas import LeadIn

        try:
            lead = LeadIn.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            await self.app(scope, _replay(body, receive), send)
            return
        payload = JSONBytesResponse(answer(services, lead)).body
        scope["route"] = self.ROUTE
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*self.HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the body already read to the next app, then the real messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _json_with_length(scope: Scope) -> bool:
    """A Content-Length (RequestGuard has checked it against the limit) and a JSON content type."""
    length = ctype = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = True
        elif name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            ctype = media == b"application/json"
    return length and ctype
