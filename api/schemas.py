"""The pieces every domain's request and response bodies are made of: text fields (trimmed,
length-capped, empty counts as absent), ids, times, emails, numbers, the error body and the upsert
counts.

Each domain's bodies live in ``api/<domain>/schemas.py``. Unknown fields: ignored on leads (web
forms send all sorts), rejected on accounts, contacts and the ledger (a typo in a CRM sync mapping
should fail loudly, not silently drop data).

The OpenAPI document is generated from these types, and CRM connectors are generated from the
document, so each type accepts exactly what its JSON Schema says (tests/api/test_openapi.py runs
schemathesis to hold them to it):
- a length limit applies to the value as sent; trimming comes after the checks;
- where blank (empty or only whitespace) counts as absent, the schema lists a blank string as
  one of the accepted forms (``blank_is_absent``);
- numbers, booleans, dates and times are taken only in their JSON form: pydantic's lax mode
  would also take ``"12"`` for a count, ``0`` for ``false``, ``0`` for a date or ``"1700000000"``
  for a time, none of which the schema allows."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints,
                      TypeAdapter, WithJsonSchema)

from matcher import normalize

# Whitespace, spelled out: what `\s` matches differs between the regular expressions of a client
# (ECMA-262, as JSON Schema reads patterns), of pydantic (Rust) and of Python (str.strip), so the
# patterns below and the trimming use this one set, their union.
WHITESPACE = ("\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
_WS = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)  # for a character class, as \uXXXX escapes
NOT_BLANK = f"[^{_WS}]"  # JSON Schema patterns search: "has a character that is not whitespace"
BLANK = f"^[{_WS}]*$"


def trim(v: str) -> str:
    return v.strip(WHITESPACE)


def blank_to_none(v: Any) -> Any:
    if isinstance(v, str):
        return trim(v) or None
    return v


def _none_if_blank(v: Any) -> Any:
    return None if isinstance(v, str) and not trim(v) else v


def matching(text: Any, pattern: str, message: str) -> Any:
    """``text`` that also matches ``pattern``: the pattern for the document, the same pattern checked
    (Python's re reads the \\uXXXX escapes as JSON Schema does), with a message a person can read
    instead of the pattern."""
    compiled = re.compile(pattern)

    def check(v: str) -> str:
        if compiled.search(v) is None:
            raise ValueError(message)
        return v
    return Annotated[text, Field(json_schema_extra={"pattern": pattern}), AfterValidator(check)]


def blank_is_absent(inner: Any) -> Any:
    """``inner``, or null or a blank string, both meaning "not given" (a CRM export writes empty
    cells as ""). Documented as those three alternatives; anything else meets ``inner`` as sent."""
    schema = {"anyOf": [TypeAdapter(inner).json_schema(), {"type": "string", "pattern": BLANK}, {"type": "null"}]}
    return Annotated[inner | None, BeforeValidator(_none_if_blank), WithJsonSchema(schema)]


def Text(max_length: int):  # noqa: N802 - reads like a type
    """Optional free text, trimmed; blank counts as absent (a blank string is already a string of
    at most ``max_length`` characters, so the schema needs no third alternative)."""
    return Annotated[Annotated[str, StringConstraints(max_length=max_length)] | None, AfterValidator(blank_to_none)]


def Name(max_length: int):  # noqa: N802 - reads like a type
    """Required text: at least one character that is not whitespace; trimmed."""
    text = Annotated[str, StringConstraints(min_length=1, max_length=max_length)]
    return Annotated[matching(text, NOT_BLANK, "must not be blank"), AfterValidator(trim)]


Short = Text(200)
# surrounding whitespace is trimmed (CSV exports pad cells); inside, an id has no whitespace and
# none of the characters that would end a URL path segment
Id = Annotated[matching(Annotated[str, StringConstraints(min_length=1, max_length=64)],
                        f"^[{_WS}]*[^{_WS}/?#]+[{_WS}]*$", "an id has no whitespace, '/', '?' or '#' inside"),
               AfterValidator(trim)]
OptionalId = blank_is_absent(Id)
# an account's id in a route's path (/v1/accounts/{account_id}/...): the accounts, qualification
# and closing routes take the same one
AccountId = Annotated[str, Path(min_length=1, max_length=64, examples=["A17"])]


def check_email(v: str | None) -> str | None:
    if v is not None and not normalize.is_valid_email(v):
        raise ValueError("not a valid email address")
    return v


# `format: email` tells a client what to send; normalize.is_valid_email is the rule that decides
Email = blank_is_absent(Annotated[str, StringConstraints(max_length=320), AfterValidator(trim),
                                  AfterValidator(check_email), WithJsonSchema(
                                      {"type": "string", "format": "email", "maxLength": 320})])

# the given (not null, not blank) forms of such fields, for the models' "this one or that one" rules
GIVEN_TEXT = {"type": "string", "pattern": NOT_BLANK}
GIVEN_EMAIL = {"type": "string", "format": "email"}
GIVEN_ID = TypeAdapter(Id).json_schema()


def one_of_given(**given: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``anyOf`` of a model that needs at least one of these fields given; ``given`` maps each
    field to the schema of its given form. A blank or null value is absent, so it satisfies none."""
    return [{"required": [name], "properties": {name: schema}} for name, schema in given.items()]


# The shape RFC 3339 gives a date and a date-time (JSON Schema's `format: date` / `date-time`),
# checked before pydantic parses the string: pydantic alone also takes timestamps and other forms.
# Years run from 1000 to 8999, which the document says with a pattern: at the ends of Python's range
# (years 1 to 9999) a time does not convert to UTC and a contract's renewal window does not fit.
YEARS_1000_TO_8999 = "^[1-8][0-9]{3}-"
_RFC3339_DATE = re.compile(r"[1-8][0-9]{3}-[0-9]{2}-[0-9]{2}")
_RFC3339_DATE_TIME = re.compile(
    r"[1-8][0-9]{3}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?")


def _rfc3339(kind: type, shape: re.Pattern[str], example: str) -> Any:
    def check(v: Any) -> Any:
        if not isinstance(v, str) or shape.fullmatch(v) is None:
            raise ValueError(f"expected an RFC 3339 {kind.__name__.replace('datetime', 'date-time')} such as "
                             f"{example}, in the years 1000 to 8999")
        return v
    return Annotated[kind, BeforeValidator(check), Field(json_schema_extra={"pattern": YEARS_1000_TO_8999})]


# `format: date-time` asks for an offset, which is what a client should send; a time without one is
# still taken (as UTC), as the description says, for the senders that relied on it.
Rfc3339Time = _rfc3339(datetime, _RFC3339_DATE_TIME, "2026-11-20T09:30:00Z")
IsoTime = Annotated[Rfc3339Time, Field(description="RFC 3339 date-time with an offset (a time without one is taken "
                                                   "as UTC)")]
IsoDate = _rfc3339(date, _RFC3339_DATE, "2026-11-20")
# The integers every JSON parser reads exactly (RFC 7493, I-JSON), and which the document can state:
# FastAPI writes the bounds in the document as floats, so a bound must be one a float holds exactly.
SAFE_INTEGER = 2**53 - 1
# JSON's own types only (see the module docstring); int columns are 32-bit on PostgreSQL
Flag = Annotated[bool, Strict()]
def _json_number(v: Any) -> Any:
    if isinstance(v, (bool, str)):
        raise ValueError("expected a JSON number")
    return v


# a count: JSON Schema's integer is any number without a fraction, so 12.0 is one too
Count = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_json_number)]
Amount = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]


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


def operation(method: str, path: str) -> str:
    """An OpenAPI ``operationRef`` (a JSON pointer into ``paths``): links name their target this way
    rather than by operationId, which FastAPI derives from function names."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method
