"""Bodies of the account and contact routes (CRM sync)."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from api.schemas import Id, Text, blank_to_none, check_email

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
                       BeforeValidator(blank_to_none)] = Field(
        None, description="ISO 3166-1 alpha-2 code")
    region: Text(100) = None
    city: Text(100) = None
    parent_id: Annotated[Id | None, BeforeValidator(blank_to_none)] = None
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
        return check_email(v)


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


