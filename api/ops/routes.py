"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from api.deps import ServicesDep
from api.metrics import CONTENT_TYPE_LATEST
from api.responses import JSONBytesResponse
from api.ops.schemas import HealthOut, ReadyOut
from api.redis_guard import RedisUnavailable

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=HealthOut, summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_db(services) -> tuple[bool, str | None]:  # noqa: ANN001
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, None
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return False, str(exc).splitlines()[0][:200]


def _check_redis(services) -> tuple[bool, str | None]:  # noqa: ANN001
    try:
        services.redis_guard.call("ping", services.redis.ping)
        return True, None
    except RedisUnavailable as exc:
        return False, f"unreachable, serving from the database: {exc}"[:200]


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}},
            summary="Database reachable and index loaded; Redis reachable (when configured) or degraded")
async def readyz(services: ServicesDep) -> JSONBytesResponse:
    """Ready (200) when the database answers and the index is loaded. Redis is optional at run
    time (api/redis_guard.py): when it is configured and unreachable the service still answers
    every request from the database, so it stays ready and says ``degraded``."""
    db_ok, db_detail = await run_in_threadpool(_check_db, services)
    checks = {
        "database": {"ok": db_ok, "detail": db_detail},
        "index": {"ok": services.index.ready,
                  "detail": f"{len(services.index)} accounts" if services.index.ready else "loading"},
    }
    ready = all(c["ok"] for c in checks.values())
    degraded = False
    if services.redis is not None:
        r_ok, r_detail = await run_in_threadpool(_check_redis, services)
        checks["redis"] = {"ok": r_ok, "detail": r_detail}
        degraded = not r_ok
    return JSONBytesResponse({"ready": ready, "degraded": degraded, "checks": checks},
                             status_code=200 if ready else 503)


# documented as text/plain (what PlainTextResponse declares); the body's content type carries the
# exposition format's version too
@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> Response:
    services.metrics.index_accounts.set(len(services.index))
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
