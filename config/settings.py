"""Process settings, read from environment variables (and a ``.env`` file if present).

``DATABASE_URL`` and ``REDIS_URL`` are read without prefix because that is what every platform
sets; everything else is ``LEADMATCH_*``. Built lazily by ``get_settings()`` so importing this
module never reads the environment.
"""
from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, HttpUrl, TypeAdapter, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_HTTP_URL = TypeAdapter(HttpUrl)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADMATCH_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./leadmatch.db",
        validation_alias=AliasChoices("DATABASE_URL", "LEADMATCH_DATABASE_URL"),
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "LEADMATCH_REDIS_URL")
    )
    # Optional TOML file that overrides config/matching.toml (thresholds, tie-breaks, aliases).
    matching_rules: Path | None = None
    # Optional TOML file that overrides config/qualification.toml (qualifying actions, points,
    # decay, the account status decision list).
    qualification_rules: Path | None = None
    # Optional TOML file that overrides config/closing.toml (close questionnaires, reminders of
    # unanswered closes, disposition rules).
    closing_rules: Path | None = None
    # Optional TOML file that overrides config/gone_dark.toml (accounts' dark days per status, the
    # re-qualification cadence, the second limit and whether it closes the opportunity lost).
    gone_dark_rules: Path | None = None
    # Optional TOML file that overrides config/columns.toml (the header names of uploaded lead lists,
    # the labels of a totals row, name particles).
    column_rules: Path | None = None
    # Where `leadmatch match-file` keeps index snapshots (api/matching/index_snapshot.py); unset:
    # $XDG_CACHE_HOME/leadmatch, i.e. ~/.cache/leadmatch.
    cache_dir: Path | None = None
    # Optional TOML file that overrides config/routing.toml while no routing document was stored
    # (`leadmatch routing load`, PUT /v1/routing...): a stored one wins (api/routing/config_store.py).
    routing_rules: Path | None = None
    # Optional TOML file that overrides config/pipeline.toml (stage order, dark days per stage,
    # seniority ranks, two-way and outbound touch types) for the win/loss reports.
    pipeline_rules: Path | None = None
    # Where round-robin turns are taken: "database", or "redis" (needs REDIS_URL; falls back to the
    # database while Redis is unreachable; api/routing/turns.py says what that means for fairness).
    routing_turns: Literal["database", "redis"] = "database"
    # prefix of the Redis keys of round-robin turns (routing_turns = "redis")
    routing_redis_prefix: str = "leadmatch:routing:"
    # How far in the future (server clock) an activity's occurred_at or an opportunity's time may
    # lie before it is refused: clocks drift a little, events do not come from tomorrow.
    future_tolerance_seconds: float = Field(default=300.0, ge=0)
    # Largest JSON array accepted by POST /v1/match/bulk and PUT /v1/accounts.
    bulk_max_items: int = Field(default=1000, ge=1, le=100_000)
    # Largest request body in bytes; bigger bodies get 413 before any parsing.
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Redis pub/sub channel that carries account-index changes between processes.
    index_channel: str = "leadmatch:index-changes"
    # With Redis: how often each process compares the database's index generation with what its
    # index has seen, to catch up on a change whose notification it missed (api/matching/index_sync.py).
    index_check_seconds: float = Field(default=5.0, gt=0, le=3600)
    # prefix of every cache key, so replicas of different deployments can share one Redis
    cache_prefix: str = "leadmatch:cache:"
    log_level: str = "info"
    # Where routing outcomes and other events are POSTed (api/webhooks/): each event is sent to
    # every URL. In the environment: a JSON array or a comma-separated list.
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The HMAC-SHA256 key every webhook body is signed with; required when webhook_urls is set.
    webhook_secret: str | None = None
    # Retries: the n-th failed attempt waits min(max, base * 2**(n-1)) seconds, less up to a fifth
    # (jitter, so receivers coming back are not hit by every replica at once).
    webhook_backoff_base_seconds: float = Field(default=2.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # Attempts before an event is marked dead (kept, listed, retried by hand: POST .../retry).
    webhook_max_attempts: int = Field(default=15, ge=1)
    # Connect/read/write timeout of one delivery.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # How often an idle deliverer looks for due events.
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # Events one deliverer claims (leases) at a time.
    webhook_batch_size: int = Field(default=20, ge=1, le=1000)
    # how often each API process looks for leads whose SLA deadline passed (seconds; 0: never, run
    # `leadmatch routing sla-check` instead)
    sla_check_seconds: float = Field(default=30.0, ge=0)
    # how long the re-qualification after lead intake waits to collect more accounts into one
    # batch (seconds; api/qualification/deferred.py): an account's status lags its ledger by this much
    requalify_linger_seconds: float = Field(default=0.2, ge=0, le=10)
    # how often the scheduler (api/scheduling/) runs requalify_due: accounts whose status can change
    # by time alone (a recycle date, a disqualification's end, a contract ending, decay) are
    # re-evaluated once their review_at has come (seconds; 0: never, run `leadmatch schedule run`)
    scheduler_seconds: float = Field(default=60.0, ge=0)
    # accounts re-evaluated per transaction by requalify_due
    scheduler_batch_size: int = Field(default=200, ge=1, le=10_000)
    # with redis_url: the scheduler's tasks go on the Redis job queue (Dramatiq) for `leadmatch
    # worker`; false keeps them in the API processes. With Redis unreachable they run in process.
    scheduler_queue: bool = True
    # Batch uploads (api/batches/, docs/batches.md). Largest upload in bytes (413 beyond it): the
    # upload is streamed to the database, so this bounds storage, not memory. Its own limit, not
    # max_body_bytes (which stays small for the JSON routes).
    batch_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    # rows per chunk: the unit a worker claims, checkpoints and, if it dies, leaves to another
    batch_chunk_rows: int = Field(default=5000, ge=1, le=1_000_000)
    # how long a claimed chunk (or a prepare step) is a worker's without a heartbeat; the worker
    # renews it every third of this while it works, so only a dead worker's lease runs out
    batch_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    # how often the scheduler's batches_sweep re-sends the work of jobs whose leases ran out
    # (seconds; 0: never)
    batch_sweep_seconds: float = Field(default=30.0, ge=0)
    # jobs run at once by the in-process runner (no Redis, or Redis unreachable)
    batch_threads: int = Field(default=1, ge=1, le=16)
    # TEST ONLY: a pause after each chunk's matching, so a test can kill a worker mid-job
    batch_test_chunk_delay_seconds: float = Field(default=0.0, ge=0, le=60)

    @property
    def future_tolerance(self) -> timedelta:
        return timedelta(seconds=self.future_tolerance_seconds)

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_scheme(cls, v: str) -> str:
        # Platforms hand out postgres:// or postgresql://; we talk psycopg 3.
        if v.startswith("postgres://"):
            v = "postgresql://" + v[len("postgres://"):]
        if v.startswith("postgresql://"):
            v = "postgresql+psycopg://" + v[len("postgresql://"):]
        return v

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_webhook_urls(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return json.loads(v)
            return [u.strip() for u in v.split(",") if u.strip()]
        return v

    @field_validator("webhook_urls")
    @classmethod
    def _check_webhook_urls(cls, v: list[str]) -> list[str]:
        for url in v:
            _HTTP_URL.validate_python(url)  # the URL is kept as written: rows store it verbatim
        return v

    @field_validator("webhook_secret")
    @classmethod
    def _empty_secret_is_none(cls, v: str | None) -> str | None:
        return v or None

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> "Settings":
        if self.webhook_urls and not self.webhook_secret:
            raise ValueError("webhook_urls is set but webhook_secret is not: every webhook is signed")
        if self.webhook_backoff_max_seconds < self.webhook_backoff_base_seconds:
            raise ValueError("webhook_backoff_max_seconds is below webhook_backoff_base_seconds")
        return self

    @field_validator("redis_url")
    @classmethod
    def _empty_redis_is_none(cls, v: str | None) -> str | None:
        return v or None


@lru_cache
def get_settings() -> Settings:
    return Settings()
