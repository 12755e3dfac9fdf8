"""What other domains may ask of the accounts domain."""
from __future__ import annotations

from sqlalchemy.orm import Session

from api.accounts import store


def account_exists(session: Session, account_id: str) -> bool:
    return bool(store.existing_account_ids(session, [account_id]))
