"""Account index (temporary minimal version: domain only; being replaced by the full one)."""
from __future__ import annotations
from typing import Iterable
from config.rules import MatchingRules
from matcher import normalize
from matcher.types import Account, Candidate, Lead, MatchResult, Route


class AccountIndex:
    def __init__(self, rules: MatchingRules) -> None:
        self.rules = rules
        self._accounts: dict[str, Account] = {}
        self._by_domain: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def upsert(self, account: Account) -> None:
        self.remove(account.id)
        self._accounts[account.id] = account
        for d in account.domains + account.contact_domains:
            nd = normalize.domain(d)
            if nd:
                self._by_domain.setdefault(nd, set()).add(account.id)

    def upsert_many(self, accounts: Iterable[Account]) -> None:
        for a in accounts:
            self.upsert(a)

    def remove(self, account_id: str) -> bool:
        old = self._accounts.pop(account_id, None)
        if old is None:
            return False
        for ids in self._by_domain.values():
            ids.discard(account_id)
        return True

    def match(self, lead: Lead) -> MatchResult:
        d = normalize.email_domain(lead.email)
        ids = sorted(self._by_domain.get(d or "", ()))
        if ids:
            a = self._accounts[ids[0]]
            return MatchResult("matched", a.id, 0.99,
                               (Candidate(a.id, a.name, 0.99, "email_domain", ()),),
                               (f"email domain {d} is a domain of account {a.id}",),
                               Route(a.owner, a.id, "account owner"), "email_domain")
        return MatchResult("no_match", None, 0.0, (), ("no account matched",),
                           Route(None, None, "unmatched: fallback queue " + self.rules.routing.fallback_queue))

    def match_many(self, leads: Iterable[Lead]) -> list[MatchResult]:
        return [self.match(l) for l in leads]
