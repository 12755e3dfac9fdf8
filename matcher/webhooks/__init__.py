"""Webhooks: how a body is signed and verified, and how long a failed delivery waits."""
