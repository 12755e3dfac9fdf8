"""Prometheus metrics, one registry per app (tests build many apps in one process).

With ``--workers N`` each worker has its own counters; scrape each worker, or run one worker
per container (the usual layout) so one scrape sees one process.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.matches = Counter("leadmatch_matches_total", "Leads matched, by decision",
                               ["decision"], registry=self.registry)
        self.match_seconds = Histogram(
            "leadmatch_match_seconds", "Time to match one lead in the index",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=self.registry)
        self.index_accounts = Gauge("leadmatch_index_accounts", "Accounts in this process's index",
                                    registry=self.registry)
        self.index_reloads = Counter("leadmatch_index_reloads_total", "Full index loads from the database",
                                     registry=self.registry)
        self.http_requests = Counter("leadmatch_http_requests_total", "HTTP requests",
                                     ["method", "route", "status"], registry=self.registry)
        self.webhooks_delivered = Counter("leadmatch_webhooks_delivered_total", "Webhook events delivered (2xx)",
                                          registry=self.registry)
        self.webhooks_failed = Counter("leadmatch_webhooks_failed_total",
                                       "Webhook attempts that failed (status not 2xx, timeout, connection error)",
                                       registry=self.registry)
        self.webhooks_pending = Gauge("leadmatch_webhooks_pending", "Webhook events in the outbox not yet delivered",
                                      registry=self.registry)
        self.routing_turn_fallbacks = Counter(
            "leadmatch_routing_turn_fallbacks_total",
            "Round-robin turns taken from the database because Redis was unreachable", registry=self.registry)
        self.scheduled_runs = Counter("leadmatch_scheduled_runs_total",
                                      "Scheduled task runs, by task and where they ran (process, queue: enqueued "
                                      "for a worker, fallback: in process because the queue was unreachable)",
                                      ["task", "where"], registry=self.registry)
        self.scheduled_failures = Counter("leadmatch_scheduled_failures_total", "Scheduled task runs that raised",
                                          ["task"], registry=self.registry)
        self.leads = Counter("leadmatch_leads_total", "Leads taken in, by outcome and routing rule kind",
                             ["outcome", "rule"], registry=self.registry)
        # Redis is optional at run time (api/redis_guard.py): its failures are counted, not raised
        self.redis_errors = Counter("leadmatch_redis_errors_total", "Redis calls that failed, by operation",
                                    ["op"], registry=self.registry)
        self.redis_skipped = Counter("leadmatch_redis_skipped_total",
                                     "Redis calls not tried while Redis was unreachable, by operation",
                                     ["op"], registry=self.registry)
        self.redis_up = Gauge("leadmatch_redis_up", "1 when the last Redis call answered, else 0",
                              registry=self.registry)
        # label children bound once: the hot path should not look labels up per request
        self._decision = {d: self.matches.labels(d) for d in ("matched", "review", "no_match")}
        self._requests: dict[tuple[str, str, str], object] = {}

    def count_request(self, method: str, route: str, status: str) -> None:
        key = (method, route, status)
        child = self._requests.get(key)
        if child is None:  # routes x methods x statuses: a small, bounded set
            child = self._requests[key] = self.http_requests.labels(method, route, status)
        child.inc()

    def observe_match(self, decision: str, seconds: float) -> None:
        child = self._decision.get(decision) or self.matches.labels(decision)
        child.inc()
        self.match_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
