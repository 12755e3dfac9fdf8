"""Bodies of the account and contact routes (CRM sync)."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError,
                      WrapValidator)
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

from api.schemas import SAFE_INTEGER, operation, Count, Email, Flag, Id, Name, OptionalId, Text, blank_is_absent

# Any JSON value that the stored attributes can be sent back as (orjson writes no integer beyond 64
# bits and no lone surrogate, which json.loads lets through): numbers within the I-JSON range (int
# and float alike: JSON Schema cannot tell 1e30 from 1000000000000000000000000000000), text that
# is Unicode.
def _unicode(v: str) -> str:
    v.encode("utf-8")  # a UnicodeEncodeError is a ValueError: invalid
    return v


_TEXT = Annotated[str, AfterValidator(_unicode)]
_NUMBER = {"ge": -SAFE_INTEGER, "le": SAFE_INTEGER}
AttributeValue = TypeAliasType("AttributeValue", Union[  # noqa: UP007 - a recursive alias needs the strings
    _TEXT, bool, None, Annotated[int, Strict(), Field(**_NUMBER)],
    Annotated[float, Strict(), Field(allow_inf_nan=False, **_NUMBER)],
    list["AttributeValue"], dict[_TEXT, "AttributeValue"]])


def _one_attributes_error(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError:  # one message, not one per alternative of every nested value
        raise PydanticCustomError("attributes", "attributes are a JSON object whose numbers lie between "
                                                f"-{SAFE_INTEGER} and {SAFE_INTEGER} and whose text is Unicode") from None


Attributes = Annotated[dict[_TEXT, AttributeValue], WrapValidator(_one_attributes_error)]

ACCOUNT_EXAMPLE = {
    "id": "A17", "name": "Acme GmbH", "domains": ["acme.de"], "country": "DE", "region": "BY",
    "city": "Munich", "parent_id": "A1", "owner": "Lena Vogel", "aliases": ["Acme Deutschland"],
    "is_customer": False, "fit_tier": "A", "industry": "Manufacturing", "employees": 1200,
    "attributes": {"annual_revenue_eur": 250000000}}


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ACCOUNT_EXAMPLE]})

    id: Id
    name: Name(300)
    domains: list[Name(253)] = Field(default_factory=list, max_length=100)
    country: blank_is_absent(Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]) = Field(
        None, description="ISO 3166-1 alpha-2 code")
    region: Text(100) = None
    city: Text(100) = None
    parent_id: OptionalId = None
    owner: Text(300) = None
    phone: Text(50) = None
    aliases: list[Name(300)] = Field(default_factory=list, max_length=50)
    is_customer: Flag = False
    fit_tier: Text(20) = None
    industry: Text(100) = None
    employees: Count | None = None
    attributes: Attributes = Field(default_factory=dict, description="other firmographics, stored as given")


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "C9001", "account_id": "A17", "email": "max.muster@acme.de", "first_name": "Max",
        "last_name": "Muster", "title": "CFO"}]})

    id: Id
    account_id: Id
    email: Email = None
    first_name: Text(100) = None
    last_name: Text(100) = None
    title: Text(300) = None


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


class AccountDeletedOut(BaseModel):
    deleted: str
    detached_children: list[str] = Field(description="child accounts that became top-level accounts")


class LearnedNameOut(BaseModel):
    """An alias or domain a person taught through a review (``matcher/routing/review.py``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 7, "account_id": "A17", "kind": "alias", "value": "Acme Intl", "source": "review of lead L1",
        "learned_by": "jane@ours.com", "created_at": "2026-12-02T09:30:00+00:00"}]})

    id: int
    account_id: str
    kind: Literal["alias", "domain"]
    value: str = Field(description="the alias as the lead wrote it, or the registrable email domain")
    source: str = Field(description="what taught it, e.g. 'review of lead L1'")
    learned_by: str | None = Field(description="who resolved the review")
    created_at: str


class LearnedNamesOut(BaseModel):
    items: list[LearnedNameOut]


# ---------------------------------------------------------------- OpenAPI links to an account's views


def links_to_account(id_from: str) -> dict[str, Any]:
    """OpenAPI links from a bulk write to the views of the account that ``id_from`` (a runtime
    expression such as ``$request.body#/0/id``) names: how the stateful phase of schemathesis
    (and a reader) gets from "stored" to "look at it". Not to ``/history``: it stays readable after
    the account is deleted (an audit trail), which schemathesis's use-after-free check, run by
    ``--checks all`` whatever its configuration says per operation, takes for a deleted resource
    still served once a scenario has also followed the link to DELETE."""
    parameters = {"account_id": id_from}
    return {
        "GetAccount": {"operationRef": operation("get", "/v1/accounts/{account_id}"), "parameters": parameters},
        "GetAccountStatus": {"operationRef": operation("get", "/v1/accounts/{account_id}/status"),
                             "parameters": parameters},
        "GetAccountContacts": {"operationRef": operation("get", "/v1/accounts/{account_id}/contacts"),
                               "parameters": parameters},
    }
