"""The cached account status, answered ahead of FastAPI's routing (``GET /v1/accounts/{id}/status``)."""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api import middleware
from api.deps import status_cache_key


class CachedStatusFastPath:
    """Answers ``GET /v1/accounts/{id}/status`` straight from the status cache when the answer
    is there, before FastAPI's routing, validation and dependency machinery. That lookup is what
    a CRM does on every page view; a miss (or anything else) goes on to the real route, which
    builds, caches and documents the answer. The cached bytes are exactly what the route sends."""

    PREFIX = "/v1/accounts/"
    SUFFIX = "/status"
    ROUTE = middleware.RouteName("/v1/accounts/{account_id}/status")
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
                    body = services.cache.get(status_cache_key(account_id))
                    if body is not None:
                        scope["route"] = self.ROUTE
                        await send({"type": "http.response.start", "status": 200,
                                    "headers": [*self.HEADERS, (b"content-length", str(len(body)).encode())]})
                        await send({"type": "http.response.body", "body": body})
                        return
        await self.app(scope, receive, send)
