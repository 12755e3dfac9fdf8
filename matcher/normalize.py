"""Normalisation (temporary minimal version; being replaced by the full one)."""
from __future__ import annotations
import re
_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s]+)$")

def is_valid_email(email: str) -> bool:
    return bool(_EMAIL.match(email.strip()))

def email_domain(email: str | None) -> str | None:
    if not email:
        return None
    m = _EMAIL.match(email.strip().lower())
    return m.group(1) if m else None

def domain(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip().lower()
    v = re.sub(r"^[a-z]+://", "", v).split("/")[0]
    return v.removeprefix("www.") or None
