"""A small hand-made ledger for the report routes, written straight into the tables: three
accounts, four opportunities, their stage changes, touches, status transitions, close records,
an interview, a gone-dark episode and the content catalogue. March 2026 is the period the tests
ask about; ``day(n)`` is n days after 1 March 2026 00:00 UTC. The tests work out each report by
hand from the comments here.

    account  owner  tier  opportunities
    A1       ann    A     O1 new_business won   opened day 0, discovery day 0, proposal day 4, closed day 10
    A2       bob    B     O2 renewal      lost  opened day -20, discovery, closed day 5 (answered)
                          O4 new_business open  opened day 1, evaluation
    A3       ann    A     O3 new_business lost  opened day 2, discovery, closed day 30 (gone dark)
    A4       ann    B     O5 new_business open  opened day -100, evaluation; qualified day -10 (February),
                          sales_working day 15

    activities
    A1  K1 (manager)  demo_request  inbound  day -5
        K2 (director) email_reply   inbound  day 6    K2 becomes no longer with company day 8
        call outbound day 2, email_open outbound day 3, content_download 'case' day 3,
        page_view 'price' day 20 (after O1 closed)
    A2  K3 (VP)       meeting       inbound  day -19;  call outbound day -1
    A3  content_download 'case' day 3 (inbound, not a two-way type); social_touch outbound day 10
    A4  K5 meeting inbound day -60 and day -1
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, insert

from api.db.rows import AccountRow, OwnerRow
from api.db.rows.closing import CloseRecordRow, ContentAssetRow, GoneDarkEpisodeRow, WinLossInterviewRow
from api.db.rows.qualification import (ActivityRow, ContactStatusRow, OpportunityRow, OpportunityStageChangeRow,
                                       StatusTransitionRow)

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
MARCH = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def load(database_url: str) -> None:
    now = day(40)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(insert(OwnerRow), [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}])
        conn.execute(insert(AccountRow), [
            {"id": a, "name": f"Account {a}", "owner_id": o, "fit_tier": t, "industry": "Software", "country": "DE",
             "aliases": [], "attributes": {}, "created_at": now, "updated_at": now}
            for a, o, t in (("A1", 1, "A"), ("A2", 2, "B"), ("A3", 1, "A"), ("A4", 1, "B"))])
        conn.execute(insert(OpportunityRow), [
            {"id": i, "account_id": a, "owner": o, "type": t, "state": s, "stage": None, "opened_at": day(op),
             "closed_at": None if cl is None else day(cl), "created_at": now, "updated_at": now}
            for i, a, o, t, s, op, cl in (("O1", "A1", "ann", "new_business", "won", 0, 10),
                                          ("O2", "A2", "bob", "renewal", "lost", -20, 5),
                                          ("O3", "A3", "ann", "new_business", "lost", 2, 30),
                                          ("O4", "A2", "bob", "new_business", "open", 1, None),
                                          ("O5", "A4", "ann", "new_business", "open", -100, None))])
        conn.execute(insert(OpportunityStageChangeRow), [
            {"opportunity_id": o, "stage": s, "at": day(at)}
            for o, s, at in (("O1", "discovery", 0), ("O1", "proposal", 4), ("O2", "discovery", -20),
                             ("O3", "discovery", 2), ("O4", "evaluation", 1),
                             ("O5", "evaluation", -100))])
        activities = (("a1", "A1", "K1", "demo_request", "inbound", -5, None),
                      ("a2", "A1", "K2", "email_reply", "inbound", 6, None),
                      ("a3", "A1", None, "call", "outbound", 2, None),
                      ("a4", "A1", None, "email_open", "outbound", 3, None),
                      ("a5", "A1", "K1", "content_download", "inbound", 3, "case"),
                      ("a6", "A1", "K1", "page_view", "inbound", 20, "price"),
                      ("a7", "A2", "K3", "meeting", "inbound", -19, None),
                      ("a8", "A2", None, "call", "outbound", -1, None),
                      ("a9", "A3", "K4", "content_download", "inbound", 3, "case"),
                      ("a10", "A3", None, "social_touch", "outbound", 10, None),
                      ("a11", "A4", "K5", "meeting", "inbound", -60, None),
                      ("a12", "A4", "K5", "meeting", "inbound", -1, None))
        conn.execute(insert(ActivityRow), [
            {"id": i, "account_id": a, "contact_id": c, "type": t, "direction": d, "occurred_at": day(at),
             "asset_id": asset, "received_at": now, "content_hash": i} for i, a, c, t, d, at, asset in activities])
        conn.execute(insert(ContactStatusRow), [
            {"contact_id": c, "account_id": a, "status": "nurture", "since": now, "reasons": [], "seniority": s,
             "rule_version": "v", "updated_at": now}
            for c, a, s in (("K1", "A1", "manager"), ("K2", "A1", "director"), ("K3", "A2", "vp"), ("K4", "A3", None))])
        transitions = (("account", "A1", "A1", None, "nurture", -30), ("account", "A1", "A1", "nurture", "qualified", -6),
                       ("account", "A1", "A1", "qualified", "opportunity_open", 0),
                       ("account", "A1", "A1", "opportunity_open", "customer_engaged", 12),
                       ("account", "A2", "A2", None, "pre_qualified", -40),
                       ("account", "A2", "A2", "pre_qualified", "sales_working", 3),
                       ("account", "A3", "A3", None, "nurture", -40), ("account", "A3", "A3", "nurture", "qualified", 1),
                       ("account", "A4", "A4", None, "qualified", -10),
                       ("account", "A4", "A4", "qualified", "sales_working", 15),
                       ("contact", "K2", "A1", "qualified", "no_longer_with_company", 8))
        conn.execute(insert(StatusTransitionRow), [
            {"entity_kind": k, "entity_id": e, "account_id": a, "old_status": old, "new_status": new, "since": day(at),
             "at": day(at), "reasons": [], "rule_version": "v"} for k, e, a, old, new, at in transitions])
        conn.execute(insert(CloseRecordRow), [
            {"opportunity_id": o, "account_id": a, "owner": ow, "outcome": out, "closed_at": day(cl), "source": src,
             "answers": ans, "state": "answered", "created_at": now, "updated_at": now}
            for o, a, ow, out, cl, src, ans in (
                ("O1", "A1", "ann", "won", 10, "api", {"primary_reason": "product_fit"}),
                ("O2", "A2", "bob", "lost", 5, "api",
                 {"primary_reason": "price", "competitor": "Rival", "reason_confirmed": "yes"}),
                ("O3", "A3", "ann", "lost", 30, "gone_dark", {"primary_reason": "went_dark"}))])
        conn.execute(insert(WinLossInterviewRow), [
            {"opportunity_id": "O2", "account_id": "A2", "reason": r, "competitor": "Rival", "interviewed_at": day(at),
             "recorded_at": day(at)} for r, at in (("price", 6), ("product_fit", 9))])  # the later one counts
        conn.execute(insert(GoneDarkEpisodeRow), [
            {"subject": "opportunity", "opportunity_id": "O3", "account_id": "A3", "owner": "ann", "stage": "discovery",
             "dark_since": day(23), "flagged_at": day(23), "state": "closed_lost", "updated_at": day(30),
             "cadence": [{"step": 1, "channel": "call", "done_at": day(24).isoformat()},
                         {"step": 2, "channel": "email", "done_at": day(26).isoformat()}]}])
        conn.execute(insert(ContentAssetRow), [
            {"id": i, "title": t, "created_at": now, "updated_at": now}
            for i, t in (("case", "Case study"), ("dusty", "Old whitepaper"), ("price", "Pricing page"))])
    engine.dispose()
