"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a queue per request).

Two hot paths are answered ahead of FastAPI's routing, validation and dependency machinery
(about half of a small request's time): ``api/matching/fast_path.py`` for a valid
``POST /v1/match`` and ``api/qualification/fast_path.py`` for a cached account status. They use
the helpers below; whatever they do not answer goes on to the real route, which also documents them.

``RequestGuard`` does two cheap things for every HTTP request:
- refuses bodies over ``max_body_bytes`` with 413 before anything parses them: at once when
  Content-Length says so, or as soon as a chunked body crosses the limit; a route with a limit
  of its own (``path_limits``: the batch uploads' ``batch_max_bytes``) is held to that instead;
- counts requests by method, route template and status for ``/metrics``.
"""
from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics
from api.responses import JSONBytesResponse


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics,
                 path_limits: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics
        self.path_limits = path_limits or {}  # path -> (bytes, setting name)

    def _too_large(self, limit: int | None = None, setting: str = "max_body_bytes") -> str:
        return f"request body is larger than the limit of {limit or self.max_body} bytes ({setting})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        try:
            limit, setting = self.path_limits.get(scope["path"], (self.max_body, "max_body_bytes"))
            declared = content_length(scope)
            if declared is not None and declared > limit:
                status = 413
                too_large = self._too_large(limit, setting)
                await JSONBytesResponse({"error": too_large, "fields": [{"field": "body",
                                         "message": too_large}]}, status_code=413)(scope, receive, send)
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
                    if seen > limit:
                        # FastAPI re-raises HTTPException from body parsing; our handler renders it
                        raise HTTPException(413, self._too_large(limit, setting))
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


class RouteName:
    """What RequestGuard's metrics read off ``scope["route"]`` for a request answered here."""

    def __init__(self, path: str) -> None:
        self.path = path


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the body already read to the next app, then the real messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def json_with_length(scope: Scope) -> bool:
    """A Content-Length (RequestGuard has checked it against the limit) and a JSON content type."""
    length = ctype = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = True
        elif name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            ctype = media == b"application/json"
    return length and ctype
