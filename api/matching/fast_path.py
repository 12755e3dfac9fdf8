"""The web-form hot path: a valid ``POST /v1/match`` answered ahead of FastAPI's routing."""
from __future__ import annotations

import orjson
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from api import middleware
from api.matching import service
from api.matching.schemas import LeadIn
from api.responses import JSONBytesResponse


class MatchFastPath:
    """Answers ``POST /v1/match`` with a JSON body that is a valid lead, the web-form hot path.

    The body is validated exactly as the route's ``LeadIn`` parameter is (the same model, in
    Python mode, on the parsed JSON) and answered by the same ``api/matching/service.py`` ``answer`` as the route. Anything else
    (another content type, a chunked body, malformed JSON, an invalid lead, an index still
    loading) is replayed to the route, so errors keep their one format and their messages."""

    PATH = "/v1/match"
    ROUTE = middleware.RouteName(PATH)
    HEADERS = [(b"content-type", b"application/json")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.PATH:
            await self.app(scope, receive, send)
            return
        services = getattr(scope["app"].state, "services", None) if "app" in scope else None
        if services is None or not services.index.ready or not middleware.json_with_length(scope):
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
        try:
            lead = LeadIn.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            await self.app(scope, middleware.replay_body(body, receive), send)
            return
        payload = JSONBytesResponse(service.answer(services, lead)).body
        scope["route"] = self.ROUTE
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*self.HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
