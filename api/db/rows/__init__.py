"""The tables as typed ORM rows, identical on SQLite and PostgreSQL, one module per domain."""
from api.db.rows.accounts import AccountDomainRow, AccountRow, ContactRow, LearnedNameRow, OwnerRow
from api.db.rows.base import Base, UTCDateTime
from api.db.rows.batches import BatchChunkRow, BatchFileRow, BatchRow
from api.db.rows.closing import (AccountDispositionRow, CloseRecordRow, ContentAssetRow, GoneDarkEpisodeRow,
                                 WinLossInterviewRow)
from api.db.rows.leads import LeadRoutingRow, LeadRow
from api.db.rows.qualification import (AccountStatusRow, ActivityRow, ContactStatusRow, ContractRow,
                                       ManualContactMoveRow, OpportunityRow, OpportunityStageChangeRow,
                                       RecomputeRunRow, RecomputeTouchedRow, RuleSetRow, StatusTransitionRow)
from api.db.rows.routing import (RoutingConfigHeadRow, RoutingConfigRow, RoutingMemberCountRow, RoutingPoolLoadRow,
                                 RoutingPoolTurnRow)
from api.db.rows.webhooks import WebhookOutboxRow

__all__ = ["AccountDispositionRow", "AccountDomainRow", "AccountRow", "AccountStatusRow", "ActivityRow", "Base", "BatchChunkRow", "BatchFileRow", "BatchRow", "CloseRecordRow", "ContactRow", "ContentAssetRow",
           "ContactStatusRow", "ContractRow", "GoneDarkEpisodeRow", "LearnedNameRow", "LeadRoutingRow", "LeadRow", "ManualContactMoveRow",
           "OpportunityRow", "OpportunityStageChangeRow", "OwnerRow", "RecomputeRunRow", "RecomputeTouchedRow",
           "RoutingConfigHeadRow", "RoutingConfigRow", "RoutingMemberCountRow", "RoutingPoolLoadRow",
           "RoutingPoolTurnRow", "RuleSetRow", "StatusTransitionRow", "UTCDateTime", "WebhookOutboxRow", "WinLossInterviewRow"]
