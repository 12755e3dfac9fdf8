"""Leads that must get the same answer, answered once: colleagues at one company on a
tradeshow list share everything the matcher reads. Needs no index, so ``match-file`` uses it to
send only distinct leads to the processes that match them (``api/matching/commands.py``).
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

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
    keys, here, missing = _split(list(leads), memo, {})
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


def match_distinct_ahead(chunks: Iterable[tuple[object, list[Lead]]], memo: dict | None,
                         submit: Callable[[list[Lead]], object],
                         collect: Callable[[object], list]) -> Iterator[tuple[object, list]]:
    """``match_distinct`` over a stream of ``(tag, leads)`` chunks, one chunk ahead: the distinct
    leads of a chunk are handed to ``submit`` before the answers of the chunk before it are
    taken with ``collect(handle)``, so whoever answers (other processes) has the next chunk while
    the caller writes out one and reads the next. Yields ``(tag, answers)`` in chunk order,
    the same answers ``match_distinct`` gives with the same memo: a lead whose key the chunk
    before sent is not sent again, but answered from it."""
    memo = {} if memo is None else memo
    pending = None  # the chunk submitted and not yet collected
    earlier: dict = {}  # the answers the last collected chunk sent for
    for tag, leads in chunks:
        keys, here, missing = _split(list(leads), memo, pending["missing"] if pending is not None else {})
        current = {"tag": tag, "keys": keys, "here": here, "missing": missing,
                   "handle": submit(list(missing.values())) if missing else None}
        if pending is not None:
            answers, earlier = _collected(pending, earlier, memo, collect)
            yield pending["tag"], answers
        pending = current
    if pending is not None:
        answers, _ = _collected(pending, earlier, memo, collect)
        yield pending["tag"], answers


def _split(leads: list[Lead], memo: dict, sent_before: dict) -> tuple[list, dict, dict]:
    """The leads' answer keys, in order; the answers ``memo`` has (by key); and one lead for each
    key that still needs answering, leaving out keys in ``sent_before`` (already on their way)."""
    keys = [answer_key(lead) for lead in leads]
    here: dict = {}
    missing: dict = {}
    for key, lead in zip(keys, leads):
        if key in here or key in missing or key in sent_before:
            continue
        answer = memo.get(key)
        if answer is None:
            missing[key] = lead
        else:
            here[key] = answer
    return keys, here, missing


def _collected(chunk: dict, earlier: dict, memo: dict, collect: Callable[[object], list]) -> tuple[list, dict]:
    """A submitted chunk's answers in order, and the fresh answers it was sent for (by key)."""
    missing = chunk["missing"]
    answers = collect(chunk["handle"]) if chunk["handle"] is not None else []
    if len(answers) != len(missing):
        raise ValueError(f"collect gave {len(answers)} answers for {len(missing)} leads")
    fresh = dict(zip(missing, answers))
    here = chunk["here"]
    here.update(fresh)
    out = [here[key] if key in here else earlier[key] for key in chunk["keys"]]
    if len(memo) + len(fresh) > MEMO_LIMIT:
        memo.clear()
    memo.update(fresh)
    return out, fresh
