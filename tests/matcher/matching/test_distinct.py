"""Leads with the same answer key answered once, also one chunk ahead (match-file's loop)."""
from matcher.matching.distinct import match_distinct_ahead
from matcher.matching.types import Lead

ACME_JANE = Lead(email="jane@acme.com", company="Acme")
ACME_JOE = Lead(email="joe@acme.com", company="Acme")  # a colleague: same key as Jane
BETA = Lead(email="x@beta.io", company="Beta")
GAMMA = Lead(company="Gamma", country="DE")


def run(chunks, memo=None):
    sent: list[list[str]] = []
    handles = iter(range(100))
    answered: dict[int, list] = {}
    order: list[str] = []

    def submit(leads):
        sent.append([lead.company for lead in leads])
        h = next(handles)
        answered[h] = [f"answer {lead.company}" for lead in leads]
        order.append(f"submit {h}")
        return h

    def collect(h):
        order.append(f"collect {h}")
        return answered.pop(h)

    out = [(tag, answers) for tag, answers in match_distinct_ahead(chunks, memo, submit, collect)]
    return out, sent, order


def test_each_key_is_sent_once_and_every_lead_answered_in_order():
    chunks = [("c1", [ACME_JANE, BETA]),
              ("c2", [ACME_JOE, GAMMA]),  # Acme is in flight with c1: not sent again
              ("c3", [BETA, ACME_JOE]),  # both answered by now: from the memo
              ("c4", [])]
    out, sent, order = run(chunks)
    assert out == [("c1", ["answer Acme", "answer Beta"]),
                   ("c2", ["answer Acme", "answer Gamma"]),
                   ("c3", ["answer Beta", "answer Acme"]),
                   ("c4", [])]
    assert sent == [["Acme", "Beta"], ["Gamma"]]
    # one chunk ahead: the next chunk is submitted before the one before it is collected
    assert order == ["submit 0", "submit 1", "collect 0", "collect 1"]


def test_a_memo_from_before_answers_without_sending():
    memo: dict = {}
    run([("a", [GAMMA])], memo)
    out, sent, _ = run([("b", [GAMMA, BETA])], memo)
    assert out == [("b", ["answer Gamma", "answer Beta"])]
    assert sent == [["Beta"]]
