"""The FastAPI application factory.

``create_app(settings)`` builds the app without touching the network; the lifespan then creates
the engine, the Redis client, the cache and the index (loaded in the background: ``/readyz``
turns 200 when it is loaded) and tears them down on shutdown. ``leadmatch serve`` runs it with
``uvicorn --factory``.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI

from api import errors
from api.cache import DEFAULT_PREFIX, make_cache
from api.db import make_engine, make_sessionmaker
from api.deps import Services
from api.matching.index_sync import IndexSync
from api.metrics import Metrics
from api.middleware import RequestGuard
from api.redis_guard import RedisGuard, connect as connect_redis
from api.responses import JSONBytesResponse
from api.accounts import routes as account_routes
from api.batches import routes as batch_routes
from api.batches.queue import BatchQueue, BatchRunner
from api.closing import routes as closing_routes
from api.closing import service as closing_service
from api.pipeline import routes as pipeline_routes
from api.pipeline import service as pipeline_service
from api.matching import routes as matching_routes
from api.matching.fast_path import MatchFastPath
from api.ops import routes as ops_routes
from api.qualification import routes as qualification_routes
from api.routing import config_routes as routing_config_routes
from api.routing import routes as lead_routes
from api.scheduling.queue import TaskQueue
from api.scheduling.runner import Scheduler
from api.qualification.deferred import Requalifier
from api.qualification.fast_path import CachedStatusFastPath
from api.qualification.schemas import rules_document_schemas
from api.qualification.rule_sets import FollowingQualifier
from api.reports import routes as report_routes
from api.webhooks import routes as webhook_routes
from api.webhooks import service as webhook_service
from api.webhooks.delivery import Deliverer
from config import get_settings, load_matching_rules, load_qualification_rules
from config.settings import Settings

DESCRIPTION = """\
Matches incoming leads to the accounts you already have (by email domain, company name and
region), says how sure it is and why, and routes the lead to the account's owner.

Errors always look like `{"error": "...", "fields": [{"field": "items[3].email", "message": "..."}]}`.
"""


def build_services(settings: Settings, metrics: Metrics, cache_prefix: str) -> Services:
    closing_service.rules_for(settings)  # bad closing rules stop the process here, not at the first close
    pipeline_service.rules_for(settings)  # and bad pipeline or gone-dark rules
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    webhook_service.use_urls(sessions, settings.webhook_urls)
    redis_client = connect_redis(settings.redis_url) if settings.redis_url else None
    # one circuit for the client: the cache, the index notifications and /readyz all see Redis go away
    redis_guard = RedisGuard(metrics) if redis_client is not None else None
    cache = make_cache(redis_client, cache_prefix, redis_guard)
    holder: dict[str, Services] = {}
    sync = IndexSync(
        load_matching_rules(settings.matching_rules), sessions, redis_client=redis_client,
        channel=settings.index_channel,
        on_change=lambda ids: holder["s"].invalidate(ids),
        on_size=metrics.index_accounts.set,
        redis_guard=redis_guard, check_interval=settings.index_check_seconds,
    )
    # the rule set applied with `leadmatch rules apply` wins over the settings file (api/qualification/rule_sets.py)
    qualifier = FollowingQualifier(load_qualification_rules(settings.qualification_rules))
    qualifier.follow_database(engine)
    # rows already in the outbox are sent even if webhook_urls has since been emptied; without a
    # secret nothing can be signed, so nothing is sent
    deliverer = Deliverer(sessions, settings, metrics=metrics) if settings.webhook_secret else None
    services = Services(settings=settings, engine=engine, sessions=sessions, index=sync, cache=cache,
                        metrics=metrics, qualifier=qualifier, redis=redis_client, webhooks=deliverer,
                        redis_guard=redis_guard)
    holder["s"] = services
    services.requalifier = Requalifier(sessions, services.requalify, settings.requalify_linger_seconds)
    return services


def complete_document(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What FastAPI cannot derive from the routes: the schemas of the rules preview's body, which
    the route reads itself (JSON or TOML), and the item limits of the bulk bodies, which are this
    deployment's setting (every JSON array body is a bulk body: check_item_count in api/errors.py
    answers an empty one with 422 and one over ``bulk_max_items`` with 413)."""
    document.setdefault("components", {}).setdefault("schemas", {}).update(rules_document_schemas())
    for operations in document["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if body.get("type") == "array":
                body.update(minItems=1, maxItems=settings.bulk_max_items)
    return document


def create_app(settings: Settings | None = None, *, cache_prefix: str | None = None) -> FastAPI:
    settings = settings or get_settings()
    # a `cache_prefix` setting, once config/ has one, wins over the default namespace
    prefix = cache_prefix or getattr(settings, "cache_prefix", None) or DEFAULT_PREFIX
    metrics = Metrics()
    logging.getLogger("leadmatch").setLevel(settings.log_level.upper())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, metrics, prefix)
        app.state.services = services
        services.index.start()
        if services.webhooks is not None:
            services.webhooks.start()
        queue = TaskQueue(services.redis) if services.redis is not None and settings.scheduler_queue else None
        # batch jobs: on the same queue for `leadmatch worker`, else in this process (api/batches/queue.py)
        services.batches = BatchRunner(services, BatchQueue(queue) if queue is not None else None)
        scheduler = Scheduler(services, queue=queue)
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            if queue is not None:
                queue.close()
            services.close()

    app = FastAPI(
        title="leadmatch", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
        default_response_class=JSONBytesResponse,
        openapi_tags=[
            {"name": "match", "description": "Match leads to accounts"},
            {"name": "accounts", "description": "Accounts and contacts, bulk idempotent upserts for CRM sync"},
            {"name": "qualification", "description": "The activity ledger, opportunities and contracts; "
                                                     "account and contact statuses with their reasons and history"},
            {"name": "webhooks", "description": "The outbox of signed webhooks to the CRM: what waits, what was "
                                                "delivered, what failed for good"},
            {"name": "leads", "description": "Lead intake (match, convert, route, record), the lead views, "
                                             "SLAs and the review queue"},
            {"name": "routing", "description": "Who gets a lead: members, pools, territories and schedules"},
            {"name": "closing", "description": "After the close: questionnaires, unanswered closes and their "
                                               "reminders, win/loss interviews, account dispositions"},
            {"name": "reports", "description": "The win/loss reports of the monthly review and the content "
                                               "catalogue they read"},
            {"name": "batches", "description": "Uploaded lists (tradeshows, CRM reports) matched or routed as jobs "
                                               "on workers, with progress, results.csv and errors.csv"},
            {"name": "ops", "description": "Health, readiness and metrics"},
        ],
    )
    app.state.metrics = metrics
    generate_document = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_document(generate_document(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    errors.install(app)
    # the two hot paths first: routes are matched in order (/v1/match for web forms, the cached
    # account status for CRM page views)
    for routes in (matching_routes, qualification_routes, account_routes, lead_routes, routing_config_routes,
                   closing_routes, pipeline_routes, webhook_routes, report_routes, batch_routes, ops_routes):
        app.include_router(routes.router)
    # added first = runs inside RequestGuard, so their answers are counted and size-checked too
    app.add_middleware(CachedStatusFastPath)
    app.add_middleware(MatchFastPath)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes, metrics=metrics,
                       path_limits={"/v1/batches": (settings.batch_max_bytes + batch_routes.FRAMING_BYTES,
                                                    "batch_max_bytes")})
    return app
