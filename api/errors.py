"""Errors the API reports, each carrying its HTTP status; one handler renders them all.

    LeadmatchError            500  base class; never raised directly
    ├── ValidationFailed      422  request content is wrong; ``fields`` name what and where
    ├── NotFound              404  the addressed resource does not exist (message names the id)
    ├── Conflict              409  the request contradicts the stored state (e.g. an illegal
    │                              status move); extra keys in the body say what is allowed
    ├── PayloadTooLarge       413  body or item count over the configured limit
    └── ServiceUnavailable    503  a dependency is not ready (index loading, database down)

Every error response has the same shape::

    {"error": "human readable summary", "fields": [{"field": "items[3].email", "message": "..."}]}

``fields`` is empty when no single field is at fault; a ``Conflict`` adds its own keys (an illegal
contact move answers ``"current"`` and ``"allowed"``). FastAPI's own request validation errors
are converted to ``ValidationFailed`` with readable field paths (``items[3].email`` rather than
``["body", 3, "email"]``), and so is a body FastAPI cannot even decode (not UTF-8, nested too
deep), which FastAPI itself answers with a bare 400 no operation documents: it is a 422 naming
``body``, like malformed JSON. A method the path does not have is a 405 whose ``Allow`` lists the
methods the OpenAPI document has for that path (Starlette's names only the methods of the first
route it met). Anything else is a bug: it is logged and answered with a plain 500.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.responses import JSONBytesResponse
from api.schemas import ErrorOut

if TYPE_CHECKING:
    from api.db.bulk import InvalidItems

log = logging.getLogger("leadmatch.api")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class LeadmatchError(Exception):
    status_code = 500

    def __init__(self, message: str, fields: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fields = list(fields)

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "fields": [f.to_dict() for f in self.fields]}


class ValidationFailed(LeadmatchError):
    status_code = 422


class NotFound(LeadmatchError):
    status_code = 404


class Conflict(LeadmatchError):
    status_code = 409

    def __init__(self, message: str, fields: Sequence[FieldError] = (), **details: Any) -> None:
        super().__init__(message, fields)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), **self.details}


class PayloadTooLarge(LeadmatchError):
    status_code = 413


class ServiceUnavailable(LeadmatchError):
    status_code = 503


# ---------------------------------------------------------------- pydantic errors -> field paths

# Custom pydantic error types whose location is the model but whose subject is a field.
MODEL_ERROR_FIELDS = {"email_or_company": "email", "contact_or_email": "contact_id", "account_needed": "account_id"}


def field_path(loc: Iterable[Any], root: str = "") -> str:
    """('body', 3, 'domains', 0) -> 'items[3].domains[0]'; ('body', 'email') -> 'email'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts.pop(0)
        if where != "body":
            root = root or where
    out = root
    for p in parts:
        if isinstance(p, int):
            out = f"{out or 'items'}[{p}]"
        else:
            out = f"{out}.{p}" if out else str(p)
    return out or "body"


def pydantic_errors(errors: Iterable[dict[str, Any]], root: str = "") -> list[FieldError]:
    out: list[FieldError] = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if e.get("type") == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
            # FastAPI puts the character offset where a field path goes: ('body', 15)
            e = {**e, "msg": f"{e.get('msg', 'invalid JSON')} at character {loc[1]}"}
            loc = loc[:1]
        extra = MODEL_ERROR_FIELDS.get(e.get("type", ""))
        if extra:
            loc.append(extra)
        msg = str(e.get("msg", "invalid"))
        out.append(FieldError(field_path(loc, root), msg.removeprefix("Value error, ")))
    return out


# ---------------------------------------------------------------- helpers for the routes


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {404: "Not found", 409: "Conflicts with the stored state", 413: "Body or item count over the limit",
            422: "Invalid input", 503: "Not ready (index loading or a dependency down)"}
    return {c: {"model": ErrorOut, "description": text.get(c, "Error")} for c in codes}


def check_period(start: datetime | None, end: datetime | None) -> None:
    """A list's ``from``/``to`` query: ``from`` after ``to`` is a 422 naming ``from``."""
    if start is not None and end is not None and start > end:
        raise ValidationFailed("`from` is after `to`", [FieldError("from", "must not be after `to`")])


def check_item_count(n: int, limit: int, what: str) -> None:
    if n > limit:
        msg = f"at most {limit} {what} per request (bulk_max_items); got {n}"
        raise PayloadTooLarge(msg, [FieldError("items", msg)])
    if n == 0:
        raise ValidationFailed("the array is empty", [FieldError("items", f"send at least one of the {what}")])


def invalid_items(exc: InvalidItems, item: str | None = None) -> ValidationFailed:
    """A 422 naming each problem's field: ``items[i].field`` for a bulk body; with ``item``, a
    body of one item that the store saw as a batch of one: ``item.field`` (``item=""``: ``field``)."""
    def path(p) -> str:  # noqa: ANN001 - api.db.bulk.Problem
        if item is None:
            return f"items[{p.index}].{p.field}"
        return f"{item}.{p.field}" if item else p.field
    fields = [FieldError(path(p), p.message) for p in exc.problems]
    summary = "nothing was stored: " + "; ".join(f"{f.field}: {f.message}" for f in fields[:3])
    if len(fields) > 3:
        summary += f" (and {len(fields) - 3} more)"
    return ValidationFailed(summary, fields)


def _render(exc: LeadmatchError) -> JSONBytesResponse:
    return JSONBytesResponse(exc.to_dict(), status_code=exc.status_code)


async def _leadmatch_handler(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, LeadmatchError)
    return _render(exc)


def _invalid_request(fields: list[FieldError]) -> JSONBytesResponse:
    summary = "invalid request: " + "; ".join(f"{f.field}: {f.message}" for f in fields[:3])
    return _render(ValidationFailed(summary, fields))


async def _validation_handler(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, RequestValidationError)
    return _invalid_request(pydantic_errors(exc.errors()))


_OPERATIONS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def documented_methods(request: Request) -> str | None:
    """For ``Allow``: the methods the OpenAPI document lists for the path this request names (HEAD
    with GET, which Starlette answers too), or None for a path the document does not list."""
    path = request.scope["path"]
    by_parameters: dict[int, set[str]] = {}
    for template, operations in request.app.openapi()["paths"].items():
        # a path parameter is one segment, as Starlette's default convertor matches it
        parts = template.split("/")
        pattern = "/".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        if re.fullmatch(pattern, path):
            by_parameters.setdefault(sum(p.startswith("{") for p in parts), set()).update(
                method.upper() for method in operations if method in _OPERATIONS)
    # a literal path wins over a template that would also take it: /v1/leads/bulk is not a lead id
    # (api/routing/routes.py LeadIdConvertor)
    methods = by_parameters[min(by_parameters)] if by_parameters else set()
    if not methods:
        return None
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _http_handler(request: Request, exc: Exception) -> JSONBytesResponse:
    # Starlette's own 404 (unknown route), 405 and the like, in our error shape
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI raises a bare 400 only when it cannot turn the body into JSON at all (bytes that
        # are not UTF-8, nesting deeper than the parser's recursion limit); malformed JSON is already
        # a RequestValidationError, and both mean the same to a client: the body is not JSON.
        cause = exc.__cause__
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc.detail)
        return _invalid_request([FieldError("body", f"the body is not JSON ({reason})")])
    headers = exc.headers
    allowed = documented_methods(request) if exc.status_code == 405 else None
    if allowed is not None:
        headers = {**(headers or {}), "Allow": allowed}
    return JSONBytesResponse({"error": str(exc.detail), "fields": []}, status_code=exc.status_code,
                             headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LeadmatchError, _leadmatch_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
