"""The pieces every domain's request and response bodies are made of: text fields (trimmed,
length-capped, empty counts as absent), ids, times, emails, the error body and the upsert counts.

Each domain's bodies live in ``api/<domain>/schemas.py``. Unknown fields: ignored on leads (web
forms send all sorts), rejected on accounts, contacts and the ledger (a typo in a CRM sync mapping
should fail loudly, not silently drop data)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from matcher import normalize


def blank_to_none(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def Text(max_length: int):  # noqa: N802 - reads like a type
    return Annotated[Annotated[str, StringConstraints(max_length=max_length)] | None, BeforeValidator(blank_to_none)]


Short = Text(200)
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                      pattern=r"^[^\s/?#]+$")]


def check_email(v: str | None) -> str | None:
    if v is not None and not normalize.is_valid_email(v):
        raise ValueError("not a valid email address")
    return v



OptionalId = Annotated[Id | None, BeforeValidator(blank_to_none)]
IsoTime = Annotated[datetime, Field(description="ISO 8601; a time without an offset is taken as UTC")]



class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "error": "invalid request: email: not a valid email address",
        "fields": [{"field": "email", "message": "not a valid email address"}]}]})

    error: str
    fields: list[FieldErrorOut] = []


class UpsertOut(BaseModel):
    created: int
    updated: int
    unchanged: int


