"""content: for each asset of the catalogue, the number and share of won and of lost opportunities
closed in the period whose account consumed it (a content download, or a page view with that
asset id) between ``opened_at`` and ``closed_at`` (both included); the difference won share - lost
share; and the assets consumed by no opportunity closed in the period."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from matcher.reports.types import Opportunity, Period, Report, Table, closed_in, share


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    title: str


def content(assets: Iterable[Asset], opportunities: Iterable[Opportunity], consumed: Iterable[tuple[str, str]],
            period: Period) -> Report:
    """``consumed``: (opportunity id, asset id) pairs, each an asset the opportunity's account
    consumed in the opportunity's window."""
    closed = {o.id: o.state for o in closed_in(opportunities, period)}
    won = sum(1 for s in closed.values() if s == "won")
    lost = len(closed) - won
    by_asset: dict[str, set[str]] = {}
    for opp_id, asset_id in consumed:
        if opp_id in closed:
            by_asset.setdefault(asset_id, set()).add(opp_id)
    rows, unread = [], []
    for asset in sorted(assets, key=lambda a: a.id):
        opps = by_asset.get(asset.id, set())
        n_won = sum(1 for o in opps if closed[o] == "won")
        n_lost = len(opps) - n_won
        won_share, lost_share = share(n_won, won), share(n_lost, lost)
        diff = None if won_share is None or lost_share is None else won_share - lost_share
        rows.append((asset.id, asset.title, n_won, won_share, n_lost, lost_share, diff))
        if not opps:
            unread.append((asset.id, asset.title))
    return Report("content", (
        Table("by_asset", ("asset_id", "title", "won", "won_share", "lost", "lost_share", "difference"), tuple(rows)),
        Table("never_consumed", ("asset_id", "title"), tuple(unread)),
    ))
