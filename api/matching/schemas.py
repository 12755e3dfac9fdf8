"""Bodies of the matching routes: a lead in, a match (decision, candidates, reasons, route) out."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from api.schemas import GIVEN_EMAIL, GIVEN_TEXT, Email, ErrorOut, Text, one_of_given
from matcher.matching.types import Lead

LEAD_EXAMPLE = {
    "email": "jane.doe@acme.de", "company": "ACME GmbH", "country": "DE", "region": "Bavaria",
    "city": "Munich", "phone": "+49 89 1234567", "website": "https://www.acme.de",
    "first_name": "Jane", "last_name": "Doe", "title": "Head of Procurement",
}


class LeadIn(BaseModel):
    """One incoming lead. Every field is optional, but a lead needs an email or a company."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "examples": [LEAD_EXAMPLE],
        # the rule of _needs_email_or_company, so that a web form knows it before the server says so
        "anyOf": one_of_given(email=GIVEN_EMAIL, company=GIVEN_TEXT)})

    email: Email = None
    company: Text(300) = None
    country: Text(100) = None
    region: Text(100) = None
    city: Text(100) = None
    phone: Text(50) = None
    website: Text(500) = None
    first_name: Text(100) = None
    last_name: Text(100) = None
    title: Text(300) = None

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


class BulkItemOut(BaseModel):
    """Either ``result`` or ``error`` is set, never both."""

    index: int
    result: MatchOut | None = None
    error: ErrorOut | None = None


class BulkMatchOut(BaseModel):
    results: list[BulkItemOut]
    counts: dict[str, int]


