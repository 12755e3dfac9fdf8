"""The shared vocabularies: activity types, account and contact statuses, opportunity types and
states, directions. The rules in ``config/`` are checked against them and the core's ledger
(``matcher/qualification/ledger.py``) is typed with them, so they live in this leaf module that
both can import.
"""
from __future__ import annotations

from typing import Literal, get_args

ActivityType = Literal[
    "form_fill",
    "demo_request",
    "contact_us",
    "event_attended",
    "webinar",
    "content_download",
    "page_view",
    "email_open",
    "email_click",
    "email_reply",
    "meeting",
    "call",
    "social_touch",
]
ACTIVITY_TYPES: frozenset[str] = frozenset(get_args(ActivityType))

AccountStatus = Literal[
    "pre_qualified",
    "nurture",
    "qualified",
    "sales_working",
    "opportunity_open",
    "customer",
    "customer_engaged",
    "customer_opportunity",
    "churned",
    "disqualified",
    "partner",
]
ACCOUNT_STATUSES: tuple[str, ...] = get_args(AccountStatus)

ContactStatus = Literal[
    "pre_qualified",
    "nurture",
    "qualified",
    "sales_working",
    "opportunity_open",
    "disqualified",
    "partner",
    "no_longer_with_company",
]
CONTACT_STATUSES: tuple[str, ...] = get_args(ContactStatus)

OpportunityType = Literal["new_business", "expansion", "renewal"]
OPPORTUNITY_TYPES: tuple[str, ...] = get_args(OpportunityType)
OpportunityState = Literal["open", "won", "lost"]
OPPORTUNITY_STATES: tuple[str, ...] = get_args(OpportunityState)
Direction = Literal["inbound", "outbound"]
