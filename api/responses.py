"""JSON responses encoded with orjson (FastAPI's ORJSONResponse is deprecated in 0.165)."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONBytesResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):  # already encoded (e.g. straight from the cache)
            return content
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
