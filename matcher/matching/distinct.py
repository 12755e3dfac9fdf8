"""Leads that must get the same answer, answered once: colleagues at one company on a
tradeshow list share everything the matcher reads. Needs no index, so ``match-file`` uses it to
send only distinct leads to the processes that match them (``api/matching/commands.py``).
"""
from __future__ import annotations

from typing import Callable, Iterable

from matcher import normalize
from matcher.matching.types import Lead

# answers a match_many memo holds at most, so that a huge file of distinct leads stays bounded
MEMO_LIMIT = 100_000


def answer_key(lead: Lead) -> tuple:
    """Everything a lead's answer depends on: two leads with the same key get the same answer
    from the same index. The person (names, title) and a well-formed email's local part play
    no part; the raw texts the reasons quote do."""
    domain = normalize.email_domain(lead.email)
    email = ("@", domain) if domain is not None else lead.email
    return (email, lead.company, lead.country, lead.region, lead.city, lead.phone, lead.website)


def match_distinct(leads: Iterable[Lead], memo: dict | None, answer_many: Callable[[list[Lead]], list]) -> list:
    """Answers in order, where ``answer_many(leads)`` answers distinct leads: leads with the same
    ``answer_key`` (colleagues at one company on a tradeshow list) are answered once. ``memo``
    keeps answers across calls, only while the index behind ``answer_many`` does not change;
    it is emptied when it would pass MEMO_LIMIT answers. Needs no index itself, so the
    answering may happen in other processes."""
    memo = {} if memo is None else memo
    leads = list(leads)
    keys = [answer_key(lead) for lead in leads]
    here: dict = {}
    missing: dict = {}
    for key, lead in zip(keys, leads):
        if key in here or key in missing:
            continue
        answer = memo.get(key)
        if answer is None:
            missing[key] = lead
        else:
            here[key] = answer
    if missing:
        todo = list(missing.values())
        answers = answer_many(todo)
        if len(answers) != len(todo):
            raise ValueError(f"answer_many gave {len(answers)} answers for {len(todo)} leads")
        fresh = dict(zip(missing, answers))
        here.update(fresh)
        if len(memo) + len(fresh) > MEMO_LIMIT:
            memo.clear()
        memo.update(fresh)
    return [here[key] for key in keys]
