"""Titles -> (seniority, persona) by the ordered rules of ``config.qualification.Titles``.

The patterns are compiled once; answers are cached by the raw title because titles repeat a lot
("VP Engineering" thousands of times in a million contacts), so a recompute costs one dict lookup
per contact instead of a dozen regular-expression searches.
"""
from __future__ import annotations

import re

from anyascii import anyascii

from config.qualification import Titles

_NON_WORD_RE = re.compile(r"[^a-z0-9]+")
# Bounds the cache (distinct titles in a CRM run to the hundred thousands); cleared when full.
_MAX_CACHED_TITLES = 500_000


def title_words(title: str, abbreviations: dict[str, str]) -> str:
    """'Sr. Dir., Sales Ops & Strategy' -> 'senior director sales operations and strategy'."""
    text = title if title.isascii() else anyascii(title)
    text = text.lower().replace("&", " and ").replace("'", "")
    words = (abbreviations.get(w, w) for w in _NON_WORD_RE.split(text) if w)
    return " ".join(words)


class TitleClassifier:
    """``classify(title) -> (seniority, persona)``, either None when no rule matches."""

    def __init__(self, titles: Titles) -> None:
        self._abbreviations = {k.lower(): v.lower() for k, v in titles.abbreviations.items()}
        # one alternation per rule: a rule matches when any of its patterns does
        self._seniority = tuple((r.level, re.compile("|".join(f"(?:{p})" for p in r.patterns)))
                                for r in titles.seniority)
        self._personas = tuple((r.persona, re.compile("|".join(f"(?:{p})" for p in r.patterns)))
                               for r in titles.personas)
        self._cache: dict[str | None, tuple[str | None, str | None]] = {None: (None, None), "": (None, None)}

    def classify(self, title: str | None) -> tuple[str | None, str | None]:
        hit = self._cache.get(title)
        if hit is not None:
            return hit
        words = title_words(title, self._abbreviations)
        found = (_first(self._seniority, words), _first(self._personas, words))
        if len(self._cache) >= _MAX_CACHED_TITLES:
            self._cache = {None: (None, None), "": (None, None)}
        self._cache[title] = found
        return found


def _first(rules: tuple[tuple[str, re.Pattern[str]], ...], words: str) -> str | None:
    for value, pattern in rules:
        if pattern.search(words):
            return value
    return None
