"""Request and response bodies. Strings are trimmed and length-capped; empty strings count as
absent. Unknown fields: ignored on leads (web forms send all sorts), rejected on accounts and
contacts (a typo in a CRM sync mapping should fail loudly, not silently drop data)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from matcher import normalize
from matcher.types import Lead


def _blank_to_none(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def Text(max_length: int):  # noqa: N802 - reads like a type
    return Annotated[Annotated[str, StringConstraints(max_length=max_length)] | None, BeforeValidator(_blank_to_none)]


Short = Text(200)
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                      pattern=r"^[^\s/?#]+$")]


def _check_email(v: str | None) -> str | None:
    if v is not None and not normalize.is_valid_email(v):
        raise ValueError("not a valid email address")
    return v


LEAD_EXAMPLE = {
    "email": "jane.doe@acme.de", "company": "ACME GmbH", "country": "DE", "region": "Bavaria",
    "city": "Munich", "phone": "+49 89 1234567", "website": "https://www.acme.de",
    "first_name": "Jane", "last_name": "Doe", "title": "Head of Procurement",
}


class LeadIn(BaseModel):
    """One incoming lead. Every field is optional, but a lead needs an email or a company."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [LEAD_EXAMPLE]})

    email: Text(320) = None
    company: Text(300) = None
    country: Text(100) = None
    region: Text(100) = None
    city: Text(100) = None
    phone: Text(50) = None
    website: Text(500) = None
    first_name: Text(100) = None
    last_name: Text(100) = None
    title: Text(300) = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _check_email(v)

    @model_validator(mode="after")
    def _needs_email_or_company(self) -> "LeadIn":
        if self.email is None and self.company is None:
            # reported on field 'email' (see api.errors.MODEL_ERROR_FIELDS)
            raise PydanticCustomError("email_or_company", "a lead needs an email or a company")
        return self

    def to_lead(self) -> Lead:
        return Lead(self.email, self.company, self.country, self.region, self.city, self.phone,
                    self.website, self.first_name, self.last_name, self.title)


class CandidateOut(BaseModel):
    account_id: str
    name: str
    score: float
    evidence: str
    reasons: list[str]


class RouteOut(BaseModel):
    owner: str | None
    account_id: str | None
    queue: str | None = None
    reason: str


class MatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "decision": "matched", "account_id": "A17", "confidence": 0.99, "evidence": "email_domain",
        "reasons": ["email domain acme.de is a domain of account A17 (Acme GmbH)",
                    "lead country DE selects the regional account Acme GmbH"],
        "candidates": [{"account_id": "A17", "name": "Acme GmbH", "score": 0.99, "evidence": "email_domain",
                        "reasons": ["email domain acme.de is a domain of account A17"]}],
        "route": {"owner": "Lena Vogel", "account_id": "A17", "queue": None,
                  "reason": "owner of the matched account"},
    }]})

    decision: Literal["matched", "review", "no_match"]
    account_id: str | None
    confidence: float = Field(ge=0, le=1)
    evidence: str | None = None
    reasons: list[str]
    candidates: list[CandidateOut]
    route: RouteOut | None


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "error": "invalid request: email: not a valid email address",
        "fields": [{"field": "email", "message": "not a valid email address"}]}]})

    error: str
    fields: list[FieldErrorOut] = []


class BulkItemOut(BaseModel):
    """Either ``result`` or ``error`` is set, never both."""

    index: int
    result: MatchOut | None = None
    error: ErrorOut | None = None


class BulkMatchOut(BaseModel):
    results: list[BulkItemOut]
    counts: dict[str, int]


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "A17", "name": "Acme GmbH", "domains": ["acme.de"], "country": "DE", "region": "BY",
        "city": "Munich", "parent_id": "A1", "owner": "Lena Vogel", "aliases": ["Acme Deutschland"],
        "is_customer": False, "fit_tier": "A", "industry": "Manufacturing", "employees": 1200,
        "attributes": {"annual_revenue_eur": 250000000}}]})

    id: Id
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    domains: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253)]] = Field(
        default_factory=list, max_length=100)
    country: Annotated[Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)] | None,
                       BeforeValidator(_blank_to_none)] = Field(
        None, description="ISO 3166-1 alpha-2 code")
    region: Text(100) = None
    city: Text(100) = None
    parent_id: Annotated[Id | None, BeforeValidator(_blank_to_none)] = None
    owner: Text(300) = None
    phone: Text(50) = None
    aliases: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=50)
    is_customer: bool = False
    fit_tier: Text(20) = None
    industry: Text(100) = None
    employees: int | None = Field(None, ge=0)
    attributes: dict[str, Any] = Field(default_factory=dict, description="other firmographics, stored as given")


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "C9001", "account_id": "A17", "email": "max.muster@acme.de", "first_name": "Max",
        "last_name": "Muster", "title": "CFO"}]})

    id: Id
    account_id: Id
    email: Text(320) = None
    first_name: Text(100) = None
    last_name: Text(100) = None
    title: Text(300) = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _check_email(v)


class UpsertOut(BaseModel):
    created: int
    updated: int
    unchanged: int


class AccountOut(BaseModel):
    id: str
    name: str
    domains: list[str]
    country: str | None
    region: str | None
    city: str | None
    parent_id: str | None
    owner: str | None
    phone: str | None
    aliases: list[str]
    is_customer: bool
    fit_tier: str | None
    industry: str | None
    employees: int | None
    attributes: dict[str, Any]
    contact_count: int
    created_at: str
    updated_at: str


class Check(BaseModel):
    ok: bool
    detail: str | None = None


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, Check]
