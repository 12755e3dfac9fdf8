"""Matching, as the routes and the fast path use it: one valid lead in, its answer out."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from api.matching.schemas import LeadIn

if TYPE_CHECKING:
    from api.deps import Services


def answer(services: Services, lead: LeadIn) -> dict[str, Any]:
    """The answer to one valid lead, counted in the metrics (also used by
    ``api/matching/fast_path.py``, which answers valid bodies ahead of the routing)."""
    started = time.perf_counter()
    result = services.index.match(lead.to_lead())
    services.metrics.observe_match(result.decision, time.perf_counter() - started)
    return result.to_dict()
