"""The account index: blocking postings in memory, then scoring of a bounded candidate set.

Stage 1 looks the lead's keys (``matcher.matching.keys``) up in postings per key kind; domain keys
always count, name keys are taken rarest first and the candidates are capped by their shared
word weight, so a lead never costs a scan over all accounts. Stage 2 scores each candidate
on the evidence ladder (``matcher.matching.evidence``) and ``matcher.matching.decide`` turns the
scores into one decision.

Postings hold a bare id for a key with one account (most keys: domains, whole names), a tuple
when a few share it and a set only for common keys: that keeps a million accounts within the
memory budget.
Word weights are inverse document frequencies read off the token postings, so they follow
every upsert and removal without a rebuild.
"""
from __future__ import annotations

import contextlib
import gc
import sys
from bisect import bisect_left
from typing import Callable, Iterable, Iterator

from config.matching import MatchingRules
from matcher.matching import decide, distinct, evidence, keys, similarity
from matcher.matching.keys import AccountFeatures, LeadFeatures
from matcher.normalize import NameNormalizer, NormalizedName, idf
from matcher.routing import review
from matcher.matching.types import Account, Lead, MatchResult

# A key's accounts (and a parent's children): a bare id (most keys), a tuple while few share
# it, a set beyond that while accounts are being filed; ``settle`` turns those sets into
# sorted tuples. So a tuple longer than _TUPLE_MAX is always sorted (``_posting_has``).
# Tuples cost 8 bytes an entry where a set costs about 40: that is most of the index's memory.
_Posting = str | tuple[str, ...] | set[str]
_TUPLE_MAX = 16
# key kinds whose values repeat across accounts (words, initials): interned so each is stored
# once; domains and whole names are nearly unique, and interning them would only add a table
_SHARED_KINDS = frozenset({keys.TOKEN, keys.ACRONYM})


@contextlib.contextmanager
def bulk_building() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic objects (tuples, strings,
    slotted records) are made: it would walk them again and again for nothing, a sixth of a
    build's time. Process-wide, so anything else running meanwhile collects cycles later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class AccountIndex:
    def __init__(self, rules: MatchingRules) -> None:
        self.rules = rules
        self._names = NameNormalizer(rules.names.legal_forms)
        self._country_aliases = {k.lower(): v.upper() for k, v in rules.country_aliases.items()}
        self._generic = frozenset(w.lower() for w in rules.names.generic_words)
        self._ladder = evidence.ladder(rules)
        self._aliases = self._alias_table(rules.aliases)
        self._features: dict[str, AccountFeatures] = {}
        # the accounts' features by id; a restored index swaps in one that unpacks on first use
        self._lookup: Callable[[str], AccountFeatures | None] = self._features.get
        # words in an account's first name (0 without one): what ranking word candidates reads;
        # a restored index answers it without unpacking the account
        self._first_name_words: Callable[[str], int] = self._first_name_words_built
        self._postings: dict[str, dict[str, _Posting]] = {k: {} for k in keys.KINDS}
        self._children: dict[str, _Posting] = {}  # parent id -> its children's ids
        self._weight_cache: dict[str, float] = {}

    # ------------------------------------------------------------------ maintenance

    def __len__(self) -> int:
        return len(self._features)

    def __contains__(self, account_id: str) -> bool:
        return account_id in self._features

    def prepared_accounts(self) -> Iterator[AccountFeatures]:
        """Every account as ``prepare`` made it, in filing order (for ``add_prepared`` elsewhere)."""
        lookup = self._lookup
        return (lookup(account_id) for account_id in self._features)  # type: ignore[misc]

    def filing(self) -> tuple[dict, dict]:
        """What filing the accounts made (postings and families) as plain dicts, tuples, sets
        and strings, for ``restore`` in another process. Account ids in it are the same string
        objects as in ``prepared_accounts``, so a serialiser that keeps shared references
        (marshal, pickle) stores each once."""
        return self._postings, self._children

    @classmethod
    def restore(cls, rules: MatchingRules, packed_accounts: Iterable[tuple], filing: tuple[dict, dict]) -> AccountIndex:
        """The index whose ``prepared_accounts()`` (as ``keys.pack_features`` tuples) and
        ``filing()`` these were, without filing every account again; an account is unpacked
        when first used, so a batch that meets a few thousand accounts does not unpack a
        million. Only for what an index with the same rules and code produced."""
        return cls.restore_encoded(rules, {keys.packed_account_id(p): p for p in packed_accounts}, filing)

    @classmethod
    def restore_encoded(cls, rules: MatchingRules, accounts: dict, filing: tuple[dict, dict],
                        decode: Callable[[bytes], tuple] | None = None) -> AccountIndex:
        """``restore`` from the accounts by id, each a ``keys.pack_features`` tuple or, with
        ``decode``, bytes that ``decode`` turns into one (the snapshot keeps each account
        serialised on its own, so that restoring makes one object an account, not dozens:
        ``api/matching/index_snapshot.py``). The dict becomes the index's own."""
        index = cls(rules)
        postings, children = filing
        if set(postings) != set(index._postings):
            raise ValueError("the filing has other key kinds than this index")
        features = accounts
        index._features, index._postings, index._children = features, postings, children
        get, unpack = features.get, keys.unpack_features

        def lookup(account_id: str) -> AccountFeatures | None:
            f = get(account_id)
            if f.__class__ is tuple:
                f = features[account_id] = unpack(f)
            elif f.__class__ is bytes:
                f = features[account_id] = unpack(decode(f))  # type: ignore[misc]
            return f

        def first_name_words(account_id: str) -> int:
            f = get(account_id)
            if f.__class__ is bytes:
                f = features[account_id] = decode(f)  # type: ignore[misc]
            names = f[1] if f.__class__ is tuple else f.names if f is not None else ()
            return len(names[0]) if names else 0

        index._lookup = lookup
        index._first_name_words = first_name_words
        return index

    def _first_name_words_built(self, account_id: str) -> int:
        acc = self._features.get(account_id)
        return len(acc.names[0]) if acc is not None and acc.names else 0

    def known(self) -> review.Known:
        """What this index knows about its accounts, as the lookups learning from a review asks
        (``matcher.routing.review.lessons``). They read the index as it is when called."""

        def account_name(account_id: str) -> str | None:
            f = self._lookup(account_id)
            return f.account.name if f is not None else None

        return review.Known(
            domain_owners=lambda d: self.posting(keys.DOMAIN, d),
            contact_domain_users=lambda d: self.posting(keys.CONTACT_DOMAIN, d),
            name_owners=lambda key: self.posting(keys.KEY, key),
            account_name=account_name, names=self._names, generic=self._generic)

    def get(self, account_id: str) -> Account | None:
        f = self._lookup(account_id)
        return f.account if f else None

    def upsert(self, account: Account) -> None:
        """Add an account or replace it (rename, new domains, re-parent) in place."""
        self.add_prepared(self.prepare(account))

    def prepare(self, account: Account) -> AccountFeatures:
        """The costly, index-independent half of an upsert (names, domains): a pure function of
        the account and the rules, so it may run in another process (``api.matching.index_load``)."""
        return keys.account_features(account, self._names, self._country_aliases)

    def add_prepared(self, f: AccountFeatures) -> None:
        """File an account prepared by ``prepare`` (with the same rules), replacing any
        account with its id."""
        account_id = f.account.id
        if account_id in self._features:
            self.remove(account_id)
        self._features[account_id] = f
        add = self._add
        for kind, value in keys.iter_account_keys(f):
            add(kind, value, account_id)
        if f.account.parent_id:
            _file(self._children, f.account.parent_id, account_id)
        self._weight_cache.clear()

    def upsert_many(self, accounts: Iterable[Account]) -> int:
        n = 0
        with bulk_building():
            for a in accounts:
                self.upsert(a)
                n += 1
        if n >= 10_000:
            self.settle()
        return n

    def settle(self, collect: bool = True) -> None:
        """Call after a bulk load. A large index is millions of long-lived objects; without
        this, every full collection walks them all and a waiting web form sees a 30-50 ms pause.
        The postings that grew into sets are compacted into sorted tuples first (a tenth of the
        index's memory); a later change turns the one it touches back into a set.
        ``collect=False`` skips freeing the load's garbage first (a whole-heap walk, 0.4 s at
        55k accounts): for a short-lived batch process, where that garbage is a few MB."""
        for table in (*self._postings.values(), self._children):
            for key, cur in table.items():
                if cur.__class__ is set:
                    table[key] = tuple(sorted(cur))  # 8 bytes an entry where a set costs 30 to 40
        if collect:
            gc.collect()
        gc.freeze()

    def remove(self, account_id: str) -> bool:
        f = self._lookup(account_id)
        if f is None:
            return False
        del self._features[account_id]
        for kind, value in keys.account_keys(f):
            self._discard(kind, value, account_id)
        if f.account.parent_id:
            _unfile(self._children, f.account.parent_id, account_id)
        self._weight_cache.clear()
        return True


    def _add(self, kind: str, value: str, account_id: str) -> None:
        if kind in _SHARED_KINDS:
            value = sys.intern(value)
        _file(self._postings[kind], value, account_id)

    def _discard(self, kind: str, value: str, account_id: str) -> None:
        _unfile(self._postings[kind], value, account_id)

    def posting(self, kind: str, value: str) -> tuple[str, ...] | set[str]:
        """The accounts filed under a key (do not modify the result)."""
        cur = self._postings[kind].get(value)
        if cur is None:
            return ()
        return (cur,) if isinstance(cur, str) else cur

    def _posting_size(self, kind: str, value: str) -> int:
        cur = self._postings[kind].get(value)
        return 0 if cur is None else 1 if isinstance(cur, str) else len(cur)

    # ------------------------------------------------------------------ lookups

    def _alias_table(self, aliases: dict[str, list[str]]) -> dict[str, tuple[NormalizedName, ...]]:
        """Both directions: 'alphabet' -> google and 'google' -> alphabet."""
        groups: dict[str, set[NormalizedName]] = {}
        for canonical, others in aliases.items():
            names = {self._names.normalize(n) for n in (canonical, *others)}
            names.discard(NormalizedName(()))
            for n in names:
                groups.setdefault(n.key, set()).update(names - {n})
        return {k: tuple(sorted(v, key=lambda n: n.key)) for k, v in groups.items()}

    def weight(self, token: str) -> float:
        w = self._weight_cache.get(token)
        if w is None:
            w = idf(self._posting_size(keys.TOKEN, token), len(self._features) or 1)
            if token in self._generic:
                w *= self.rules.names.generic_weight
            self._weight_cache[token] = w
        return w

    def features_of(self, lead: Lead) -> LeadFeatures:
        return keys.lead_features(lead, self._names, self._country_aliases, self._aliases)

    def candidate_ids(self, f: LeadFeatures, *, limit: int | None = None, min_shared_weight: float | None = None) -> list[str]:
        """Stage 1: accounts sharing a key with the lead. Domain and whole-name keys always
        count; word keys are taken rarest first, skipping words too common to block on, and
        the word candidates are capped at ``limit`` (rules.names.max_candidates) by weight."""
        limit = self.rules.names.max_candidates if limit is None else limit
        max_postings = self.rules.names.max_postings
        postings = self._postings
        found: set[str] = set()
        token_keys = []
        # lead_domain_keys gives no word keys, so one walk looks up the whole keys of both lists
        for kind, value in (*keys.lead_domain_keys(f), *keys.lead_name_keys(f)):
            if kind == keys.TOKEN:
                token_keys.append(value)
                continue
            cur = postings[kind].get(value)
            if cur is not None:
                if isinstance(cur, str):
                    found.add(cur)
                else:
                    found.update(cur)
        # an account sharing less than this share of the lead's word weight cannot reach the
        # name threshold: do not pay for scoring it. Distinct words: a repeated word ('Acme
        # Acme') is no more evidence than one.
        weight = self.weight
        lead_weight = max([sum([weight(t) for t in set(n)]) for n in (*f.names, *f.alias_names)], default=0.0)
        share = self.rules.names.min_shared_weight if min_shared_weight is None else min_shared_weight
        floor = share * lead_weight
        usable = []
        token_postings = postings[keys.TOKEN]
        for token in set(token_keys):
            cur = token_postings.get(token)
            if cur is None:
                continue
            if isinstance(cur, str):
                cur = (cur,)
            size = len(cur)
            if 0 < size <= max_postings:
                usable.append((size, token, cur))  # tokens are distinct: the sort never compares cur
        usable.sort()  # rarest first
        weights = [weight(t) for _, t, _ in usable]
        still_possible = sum(weights)  # the most weight an account not yet seen can still gather
        word_scores: dict[str, float] = {}
        for (size, token, posting), w in zip(usable, weights):
            if still_possible < floor:
                # from here on only accounts already seen can reach the floor: add this word's
                # weight to them without walking a long posting of common-word accounts
                if not word_scores:
                    break
                if size > len(word_scores):
                    for aid in word_scores:
                        if _posting_has(posting, aid):
                            word_scores[aid] += w
                    still_possible -= w
                    continue
                for aid in posting:
                    if aid in word_scores:
                        word_scores[aid] += w
            else:
                for aid in posting:
                    word_scores[aid] = word_scores.get(aid, 0.0) + w
            still_possible -= w
            if len(word_scores) >= 2 * limit:
                break  # enough candidates from the rarer words
        reachable = [(aid, w) for aid, w in word_scores.items() if w >= floor]
        if 0 < len(reachable) <= limit:
            # all of them are taken: their order does not matter (the ids come back sorted), so
            # they are not ranked (ranking reads every account's names)
            found.update(aid for aid, _ in reachable)
        elif reachable:
            # closest names first: shared weight, less a little per extra word in the account's
            # name ('Admera' before 'Admera North Labs 7'); ties by id so every process agrees
            words = self._first_name_words

            def rank(kv: tuple[str, float]) -> tuple[float, str]:
                return (-(kv[1] - 0.01 * words(kv[0])), kv[0])

            found.update(aid for aid, _ in sorted(reachable, key=rank)[:limit])
        return sorted(found)

    def name_similarity(self, a: AccountFeatures, b: AccountFeatures) -> float:
        return max((similarity.name_similarity(x, y, self.weight) for x in a.names for y in b.names), default=0.0)

    # ------------------------------------------------------------------ matching

    def match(self, lead: Lead) -> MatchResult:
        f = self.features_of(lead)
        notes: list[str] = []
        if lead.email and f.email_domain is None:
            notes.append(f"email '{lead.email}' has no usable domain")
        if f.email_is_disposable:
            notes.append(f"email domain {f.email_domain} is a disposable-mail domain")
        if f.country_raw_unknown:
            notes.append(f"country '{lead.country}' is not recognised and was ignored")
        scored = []
        for aid in self.candidate_ids(f):
            acc = self._lookup(aid)
            if acc is None:
                continue
            s = evidence.score(f, acc, self._ladder, self.rules, self.weight, self._generic, self._names)
            if s is not None:
                scored.append(s)
        return decide.decide(f, scored, self.rules, self._lookup, self._children_of,
                             self.name_similarity, notes)

    def match_many(self, leads: Iterable[Lead], memo: dict | None = None,
                   answer_many: Callable[[list[Lead]], list] | None = None) -> list:
        """Answers in order, each distinct lead matched once (``distinct.match_distinct``); by
        default the answers are this index's ``match`` results."""
        return distinct.match_distinct(leads, memo, answer_many or (lambda todo: [self.match(lead) for lead in todo]))

    def _children_of(self, account_id: str) -> tuple[str, ...]:
        cur = self._children.get(account_id)
        if cur is None:
            return ()
        return (cur,) if isinstance(cur, str) else tuple(sorted(cur))


def _file(table: dict[str, _Posting], key: str, account_id: str) -> None:
    """Add an account to the posting of ``key`` (a bare id, then a tuple, then a set)."""
    cur = table.get(key)
    if cur is None:
        table[key] = account_id
    elif isinstance(cur, str):
        if cur != account_id:
            table[key] = (cur, account_id)
    elif isinstance(cur, tuple):
        if account_id not in cur:
            table[key] = cur + (account_id,) if len(cur) < _TUPLE_MAX else {*cur, account_id}
    else:
        cur.add(account_id)


def _unfile(table: dict[str, _Posting], key: str, account_id: str) -> None:
    """Take an account out of the posting of ``key``, shrinking it back as it empties."""
    cur = table.get(key)
    if cur is None:
        return
    if isinstance(cur, str):
        if cur == account_id:
            del table[key]
        return
    if isinstance(cur, tuple):
        rest = tuple(a for a in cur if a != account_id)
    else:
        cur.discard(account_id)
        if len(cur) > _TUPLE_MAX:
            return
        rest = tuple(cur)
    if not rest:
        del table[key]
    else:
        table[key] = rest[0] if len(rest) == 1 else rest


def _posting_has(posting: tuple[str, ...] | set[str], account_id: str) -> bool:
    """``account_id in posting``, by bisection in a long (sorted) tuple."""
    if posting.__class__ is tuple and len(posting) > _TUPLE_MAX:
        i = bisect_left(posting, account_id)
        return i < len(posting) and posting[i] == account_id
    return account_id in posting
