"""Bits shared by the routers: error response docs, bulk limits, InvalidItems -> 422, the future tolerance."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from api import store
from api.errors import FieldError, PayloadTooLarge, ValidationFailed
from api.schemas import ErrorOut
from config.settings import Settings


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {404: "Not found", 409: "Conflicts with the stored state", 413: "Body or item count over the limit",
            422: "Invalid input", 503: "Not ready (index loading or a dependency down)"}
    return {c: {"model": ErrorOut, "description": text.get(c, "Error")} for c in codes}


def check_item_count(n: int, limit: int, what: str) -> None:
    if n > limit:
        msg = f"at most {limit} {what} per request (bulk_max_items); got {n}"
        raise PayloadTooLarge(msg, [FieldError("items", msg)])
    if n == 0:
        raise ValidationFailed("the array is empty", [FieldError("items", f"send at least one of the {what}")])


def invalid_items(exc: store.InvalidItems) -> ValidationFailed:
    fields = [FieldError(f"items[{p.index}].{p.field}", p.message) for p in exc.problems]
    summary = "nothing was stored: " + "; ".join(f"{f.field}: {f.message}" for f in fields[:3])
    if len(fields) > 3:
        summary += f" (and {len(fields) - 3} more)"
    return ValidationFailed(summary, fields)


def future_tolerance(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.future_tolerance_seconds)
