"""Matching, as the routes and the fast path use it: one valid lead in, its answer out."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from api.errors import ServiceUnavailable
from api.matching.schemas import LeadIn
from matcher.matching.types import Lead
from matcher.routing.review import Lesson

if TYPE_CHECKING:
    from api.deps import Services


def index_not_ready() -> ServiceUnavailable:
    """The 503 of every request that needs the index while it is still loading."""
    return ServiceUnavailable("the account index is still loading; retry shortly (see /readyz)")


def answer(services: Services, lead: LeadIn) -> dict[str, Any]:
    """The answer to one valid lead, counted in the metrics (also used by
    ``api/matching/fast_path.py``, which answers valid bodies ahead of the routing)."""
    started = time.perf_counter()
    result = services.index.match(lead.to_lead())
    services.metrics.observe_match(result.decision, time.perf_counter() - started)
    return result.to_dict()


def lessons(services: Services, lead: Lead, account_id: str) -> list[Lesson]:
    """What a person resolving ``lead`` to ``account_id`` teaches (each lesson learned or refused,
    with its reason), judged against the index; store them with ``api.accounts.service.learn``."""
    if not services.index.ready:
        raise index_not_ready()
    return services.index.lessons(lead, account_id)
