"""The pure core: plain functions and small classes over plain data. No I/O, no framework.

- ``normalize``: text, domain and country normalisation shared by every domain;
- ``matching``: the account index, the evidence ladder and match decisions;
- ``qualification``: the activity ledger and account/contact statuses (MQA);
- ``routing``: who gets a lead once its account is decided.

Use module-qualified names at call sites (``from matcher import normalize`` then
``normalize.email_domain(...)``) so a reader sees where the logic lives.
"""
__all__ = ["matching", "normalize", "qualification", "routing"]
