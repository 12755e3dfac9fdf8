"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a queue per request).

``RequestGuard`` does two cheap things for every HTTP request:
- refuses bodies over ``max_body_bytes`` with 413 before anything parses them: at once when
  Content-Length says so, or as soon as a chunked body crosses the limit;
- counts requests by method, route template and status for ``/metrics``.
"""
from __future__ import annotations

from fastapi import HTTPException
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
