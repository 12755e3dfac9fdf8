"""The routing configuration over HTTP: the whole document (``GET/PUT /v1/routing``) and its
entries (members, pools, territories, schedules), each write validating the WHOLE resulting
document and storing it as a new version (``api/routing/config_store.py``): a refused write is a
422 whose ``fields`` name the entry (``territories[2].when``), and stores nothing.

Bodies are read as JSON objects and validated by ``RoutingRules`` itself (strictly: every value in
its JSON type); their documented schemas are the config models' own (``config/routing.py``), with
the rules JSON Schema cannot state (a known time zone, a span that ends after it starts, references
between entries) answered 422.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import ServicesDep, SessionDep
from api.errors import Conflict, FieldError, NotFound, ValidationFailed, error_responses
from api.routing import config_store
from config.routing import Member, Pool, RoutingRules, Schedule, Territory, routing_document

router = APIRouter(prefix="/v1/routing", tags=["routing"])

EntryId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^/?#]+$", examples=["sdr"])]


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its ``$defs`` written in place (a request body's schema in
    ``openapi_extra`` cannot refer to ``#/$defs``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node
    return resolve(schema)


def _body(model: type[BaseModel], from_path: str | None = None) -> dict[str, Any]:
    """The documented body; ``from_path`` names a field the path gives, so the body may leave it out."""
    schema = inline_schema(model)
    if from_path is not None and from_path in schema.get("required", []):
        schema["required"] = [f for f in schema["required"] if f != from_path]
        if not schema["required"]:
            del schema["required"]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


class RoutingOut(BaseModel):
    version: int  # 0: nothing stored yet; the settings file's rules
    document: dict[str, Any]


class EntryOut(BaseModel):
    version: int
    entry: dict[str, Any]


class EntriesOut(BaseModel):
    version: int
    items: list[dict[str, Any]]


Document = Annotated[dict[str, Any], Body()]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _store(session: Session, services: Any, document: dict[str, Any], source: str) -> config_store.ActiveRouting:  # noqa: ANN401
    return config_store.write_document(session, document, now=_now(), source=source)


def _current(session: Session, services: Any) -> tuple[int, dict[str, Any]]:  # noqa: ANN401
    return config_store.active_document(session, services.settings.routing_rules)


@router.get("", response_model=RoutingOut, summary="The active routing configuration and its version")
def get_routing(session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    version, document = _current(session, services)
    return {"version": version, "document": document}


@router.put("", response_model=RoutingOut, responses=error_responses(413, 422), openapi_extra=_body(RoutingRules),
            summary="Replace the whole routing configuration",
            description="Validated whole; a refused document is a 422 naming each entry at fault and stores nothing.")
def put_routing(document: Document, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    stored = _store(session, services, document, "PUT /v1/routing")
    return {"version": stored.version, "document": routing_document(stored.rules)}


def _list_routes(collection: str, label: str, key: str, model: type[BaseModel]) -> None:
    """GET/PUT/DELETE /v1/routing/{collection}/{id} for a list of entries keyed by ``key``."""

    def find(document: dict[str, Any], entry_id: str) -> int | None:
        return next((i for i, e in enumerate(document[collection]) if e[key] == entry_id), None)

    def get_entry(entry_id: EntryId, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
        version, document = _current(session, services)
        at = find(document, entry_id)
        if at is None:
            raise NotFound(f"no {label} {entry_id!r}", [FieldError(key, f"no such {label}")])
        return {"version": version, "entry": document[collection][at]}

    def put_entry(entry_id: EntryId, entry: Document, session: SessionDep, services: ServicesDep,
                  position: Annotated[int | None, Query(ge=0, le=10_000)] = None) -> dict[str, Any]:
        if entry.get(key, entry_id) != entry_id:
            raise ValidationFailed(f"the body's {key} {entry.get(key)!r} is not the path's {entry_id!r}",
                                   [FieldError(key, f"must be {entry_id!r} (the path's) or left out")])
        entry = {**entry, key: entry_id}
        _, document = _current(session, services)
        entries = list(document[collection])
        at = find(document, entry_id)
        if at is not None:
            del entries[at]
        where = position if position is not None else (at if at is not None else len(entries))
        entries.insert(min(where, len(entries)), entry)
        stored = _store(session, services, {**document, collection: entries}, f"PUT /v1/routing/{collection}")
        saved = next(e for e in routing_document(stored.rules)[collection] if e[key] == entry_id)
        return {"version": stored.version, "entry": saved}

    def delete_entry(entry_id: EntryId, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
        _, document = _current(session, services)
        at = find(document, entry_id)
        if at is None:
            raise NotFound(f"no {label} {entry_id!r}", [FieldError(key, f"no such {label}")])
        if collection == "members":
            users = [p["id"] for p in document["pools"] if any(pm["member"] == entry_id for pm in p["members"])]
            if users:
                raise Conflict(f"member {entry_id!r} is still in pool {', '.join(map(repr, users))}",
                               [FieldError(f"pools[{i}]", f"pool {p['id']!r} lists member {entry_id!r}")
                                for i, p in enumerate(document["pools"]) if p["id"] in users])
        removed = document[collection][at]
        entries = [e for i, e in enumerate(document[collection]) if i != at]
        stored = _store(session, services, {**document, collection: entries}, f"DELETE /v1/routing/{collection}")
        return {"version": stored.version, "entry": removed}

    path = f"/{collection}/{{entry_id}}"
    router.add_api_route(path, get_entry, methods=["GET"], response_model=EntryOut,
                         responses=error_responses(404, 422), summary=f"One {label}", name=f"get_{label}")
    router.add_api_route(path, put_entry, methods=["PUT"], response_model=EntryOut,
                         responses=error_responses(413, 422), openapi_extra=_body(model, key), name=f"put_{label}",
                         summary=f"Create or replace a {label}",
                         description="The whole configuration is validated with the change; a refused "
                                     "change is a 422 naming the entry and stores nothing. An existing entry "
                                     "keeps its position unless `position` is given; a new one is appended.")
    codes = (404, 409, 422) if collection == "members" else (404, 422)
    router.add_api_route(path, delete_entry, methods=["DELETE"], response_model=EntryOut,
                         responses=error_responses(*codes), name=f"delete_{label}", summary=f"Remove a {label}")


@router.get("/members", response_model=EntriesOut, summary="Every member")
def list_members(session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    version, document = _current(session, services)
    return {"version": version, "items": document["members"]}


def _set_paused(paused: bool) -> Callable[..., dict[str, Any]]:
    def set_paused(entry_id: EntryId, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
        _, document = _current(session, services)
        members = [dict(m, paused=paused) if m["id"] == entry_id else m for m in document["members"]]
        if members == document["members"] and not any(m["id"] == entry_id for m in members):
            raise NotFound(f"no member {entry_id!r}", [FieldError("id", "no such member")])
        stored = _store(session, services, {**document, "members": members},
                        f"POST /v1/routing/members/{{id}}/{'pause' if paused else 'resume'}")
        return {"version": stored.version, "entry": routing_document(stored.rules)["members"][
            [m["id"] for m in members].index(entry_id)]}
    return set_paused


router.add_api_route("/members/{entry_id}/pause", _set_paused(True), methods=["POST"], response_model=EntryOut,
                     responses=error_responses(404, 422), name="pause_member",
                     summary="Pause a member now: round robin passes them over until resumed")
router.add_api_route("/members/{entry_id}/resume", _set_paused(False), methods=["POST"], response_model=EntryOut,
                     responses=error_responses(404, 422), name="resume_member", summary="Resume a paused member now")
_list_routes("members", "member", "id", Member)
_list_routes("pools", "pool", "id", Pool)
_list_routes("territories", "territory", "id", Territory)


@router.get("/schedules/{name}", response_model=EntryOut, responses=error_responses(404, 422), summary="A schedule")
def get_schedule(name: EntryId, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    version, document = _current(session, services)
    if name not in document["schedules"]:
        raise NotFound(f"no schedule {name!r}", [FieldError("name", "no such schedule")])
    return {"version": version, "entry": document["schedules"][name]}


@router.put("/schedules/{name}", response_model=EntryOut, responses=error_responses(413, 422),
            openapi_extra=_body(Schedule), summary="Create or replace a schedule")
def put_schedule(name: EntryId, schedule: Document, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    _, document = _current(session, services)
    stored = _store(session, services, {**document, "schedules": {**document["schedules"], name: schedule}},
                    "PUT /v1/routing/schedules")
    return {"version": stored.version, "entry": routing_document(stored.rules)["schedules"][name]}


@router.delete("/schedules/{name}", response_model=EntryOut, responses=error_responses(404, 422),
               summary="Remove a schedule (refused while a member uses it)")
def delete_schedule(name: EntryId, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    _, document = _current(session, services)
    if name not in document["schedules"]:
        raise NotFound(f"no schedule {name!r}", [FieldError("name", "no such schedule")])
    schedules = {k: v for k, v in document["schedules"].items() if k != name}
    stored = _store(session, services, {**document, "schedules": schedules}, "DELETE /v1/routing/schedules")
    return {"version": stored.version, "entry": document["schedules"][name]}
