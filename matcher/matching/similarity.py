"""How alike two company names are, and whether a domain reads like an account's name.

Pure measures over normalised names (``matcher.normalize.NormalizedName``); the evidence ladder
(``matcher/matching/evidence.py``) turns them into levels and scores.
"""
from __future__ import annotations

from typing import Callable

from rapidfuzz.distance import Indel

from matcher import normalize
from matcher.matching.keys import AccountFeatures
from matcher.normalize import NormalizedName

Weight = Callable[[str], float]


def _token_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < 4:  # short words: a one-letter change is another word
        return 0.0
    # an abbreviation ('bancorp' / 'bancorporation', 'tech' / 'technologies'), but not a
    # near-identical word with a letter added ('perfect' / 'perfecta'), which is another name
    if long_.startswith(short) and len(long_) >= 1.5 * len(short):
        return 0.9
    s = Indel.normalized_similarity(a, b)
    return s if s >= 0.85 else 0.0


def name_similarity(x: NormalizedName, y: NormalizedName, weight: Weight) -> float:
    """Weighted soft token overlap in [0, 1]; rare words count more than generic ones.

    Each word of either name is matched to its most similar word in the other name; the
    similarity is the weighted share of matched words over both names. Names written with or
    without spaces ('Jamasoftware' / 'Jama Software') are compared as a whole as well.
    """
    if not x or not y:
        return 0.0
    if x == y:
        return 1.0
    total = 0.0
    matched = 0.0
    for a_tokens, b_tokens in ((x, y), (y, x)):
        for a in a_tokens:
            w = weight(a)
            total += w
            if a in b_tokens:  # the same word: nothing scores higher, so nothing else is compared
                matched += w
                continue
            best = 0.0
            for b in b_tokens:
                s = _token_similarity(a, b)
                if s > best:
                    best = s
            matched += w * best
    token_sim = matched / total if total else 0.0
    kx, ky = x.key, y.key
    whole = 0.0
    if kx == ky:
        whole = 0.99  # same letters, different spacing: not quite an exact name
    elif min(len(kx), len(ky)) >= 6:
        s = Indel.normalized_similarity(kx, ky)
        if s >= 0.92:
            whole = s * 0.97
    return max(token_sim, whole)


def one_contains_the_other(x: NormalizedName | None, y: NormalizedName | None) -> bool:
    """Are the words of one name all words of the other ('Admera Health' / 'Admera')?"""
    if x is None or y is None:
        return False
    a, b = set(x), set(y)
    return a <= b or b <= a


def domain_resembles_name(domain: str | None, acc: AccountFeatures) -> bool:
    """Does a domain's name part look like the account's name ('grandroundshealth' ~ 'Grand Rounds')?"""
    label = normalize.domain_label(domain)
    if not label or len(label) < 3:
        return False
    label = label.replace("-", "")
    if acc.has_label(label):
        return True
    joined = domain.replace(".", "").replace("-", "")  # openf.in reads as OpenFin
    for n in acc.names:
        k = n.key
        # the domain may add to the name (grandroundshealth.com for Grand Rounds) or shorten
        # its tail (amyrisbiotech.com for Amyris Biotechnologies); only called for exact names
        if len(k) >= 4 and (k in label or k == joined):
            return True
        if len(label) >= 5 and k.startswith(label):
            return True
        if Indel.normalized_similarity(k, label) >= 0.85:
            return True
    return False
