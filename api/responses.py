"""JSON responses encoded with orjson (FastAPI's ORJSONResponse is deprecated in 0.165)."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSONBytesResponse(JSONResponse):
    """A ``JSONResponse`` (only its encoder differs): FastAPI documents a route's ``response_model``
    as the 200 body only when the response class is a ``JSONResponse``; any other class is
    documented as ``type: string`` (fastapi/openapi/utils.py), which is not what the routes send."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):  # already encoded (e.g. straight from the cache)
            return content
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
