"""Signed webhooks from a durable outbox: emit in the caller's transaction, deliver in the background."""
