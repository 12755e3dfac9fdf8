"""loss-reasons: for the lost opportunities closed in the period, the primary reasons and the
competitors as the seller answered them beside what buyers said in interviews; the share the
seller marked "confirmed by the buyer" (of all of them); the share of the interviewed ones whose
buyer reason equals the seller's (compared without case and surrounding spaces); and the matrix
seller reason x buyer reason where both exist."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from matcher.reports.types import Report, Table, share


@dataclass(frozen=True, slots=True)
class LossRecord:
    opportunity_id: str
    seller_reason: str | None
    seller_competitor: str | None
    seller_confirmed: bool
    interviewed: bool
    buyer_reason: str | None
    buyer_competitor: str | None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


def loss_reasons(losses: Iterable[LossRecord]) -> Report:
    losses = list(losses)
    seller_reasons = Counter(x.seller_reason for x in losses if x.seller_reason)
    buyer_reasons = Counter(x.buyer_reason for x in losses if x.buyer_reason)
    seller_comp = Counter(x.seller_competitor for x in losses if x.seller_competitor)
    buyer_comp = Counter(x.buyer_competitor for x in losses if x.buyer_competitor)
    confirmed = sum(1 for x in losses if x.seller_confirmed)
    interviewed = [x for x in losses if x.interviewed]
    agree = sum(1 for x in interviewed if _same(x.seller_reason, x.buyer_reason))
    matrix = Counter((x.seller_reason, x.buyer_reason) for x in losses if x.seller_reason and x.buyer_reason)
    return Report("loss-reasons", (
        Table("summary", ("lost", "seller_confirmed", "confirmed_share", "interviewed", "agreeing",
                          "agreement_share"),
              ((len(losses), confirmed, share(confirmed, len(losses)), len(interviewed), agree,
                share(agree, len(interviewed))),)),
        _side_by_side("reasons", "reason", seller_reasons, buyer_reasons),
        _side_by_side("competitors", "competitor", seller_comp, buyer_comp),
        Table("matrix", ("seller_reason", "buyer_reason", "lost"),
              tuple((s, b, n) for (s, b), n in sorted(matrix.items()))),
    ))


def _side_by_side(name: str, column: str, seller: Counter[str], buyer: Counter[str]) -> Table:
    keys = sorted(set(seller) | set(buyer))
    return Table(name, (column, "seller", "buyer"), tuple((k, seller[k], buyer[k]) for k in keys))
