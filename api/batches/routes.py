"""Batch uploads: POST /v1/batches (multipart), GET /v1/batches[/{id}], the result files, DELETE
to cancel (docs/batches.md).

The upload is read where Starlette spooled it (a temporary file once it passes 1 MiB): its
header first (an upload without a usable email or company column is refused at once, nothing
stored), then hashed, then copied to ``batch_files`` in ~1 MiB pieces; it is never whole in
memory. The job itself runs elsewhere (api/batches/queue.py): the answer is 202 at once.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, BinaryIO, Iterator

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import StreamingResponse

from api import db
from api.batches import jobs, store
from api.batches.schemas import BatchExistsOut, BatchOut, BatchPageOut
from api.db import session_scope
from api.db.bulk import utc_now
from api.db.rows import BatchRow
from api.deps import Services, ServicesDep, SessionDep
from api.errors import Conflict, FieldError, NotFound, PayloadTooLarge, ValidationFailed, error_responses

router = APIRouter(prefix="/v1", tags=["batches"])

# the multipart framing and the small fields around the file, on top of batch_max_bytes
FRAMING_BYTES = 64 * 1024
ID_PATTERN = "^b_[0-9a-f]{16}$"
BatchId = Annotated[str, Path(pattern=ID_PATTERN, examples=["b_5f0c3e1a9b2d4c6e"])]

# No OpenAPI links from POST /v1/batches: schemathesis's stateful phase would start its
# scenarios there (a root) and never reach the PUT /v1/accounts workflows (schemathesis.toml);
# the job's body carries its `links` instead.


def url(batch_id: str, tail: str = "") -> str:
    return f"/v1/batches/{batch_id}{tail}"


def view(row: BatchRow, session: Any, now: datetime | None = None) -> dict[str, Any]:
    now = now or utc_now()
    if row.state in ("done", "failed") and row.counts is not None:
        rows_done, counts = row.rows_done, row.counts
    else:
        seen = store.progress(session, row.id, now)
        rows_done, counts = seen.rows_done, seen.counts
    rate = eta = None
    if row.started_at is not None:
        elapsed = ((row.finished_at or now) - row.started_at).total_seconds()
        rate = round(rows_done / elapsed, 1) if elapsed > 0 else None
        if row.state == "running" and rate and row.rows_total is not None:
            eta = round((row.rows_total - rows_done) / rate, 1)
    return {
        "id": row.id, "filename": row.filename, "state": row.state, "route": row.route,
        "size_bytes": row.size_bytes, "content_sha256": row.content_sha256,
        "rows_total": row.rows_total, "rows_done": rows_done,
        "counts": {k: counts.get(k, 0) for k in ("matched", "review", "no_match", "error")},
        "rate": rate, "eta_seconds": eta, "mapping": row.mapping_used, "encoding": row.encoding,
        "delimiter": row.delimiter, "error": row.error, "created_at": row.created_at,
        "started_at": row.started_at, "finished_at": row.finished_at,
        "links": {"self": url(row.id), "results": url(row.id, "/results.csv"), "errors": url(row.id, "/errors.csv")},
    }


def _mapping(text: str | None) -> dict[str, str] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"mapping: not JSON ({exc})", [FieldError("mapping", f"not JSON: {exc}")]) from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        msg = 'a JSON object of our field -> your column name, e.g. {"email": "Work Email"}'
        raise ValidationFailed(f"mapping: {msg}", [FieldError("mapping", msg)])
    return value


def _refused(exc: Exception) -> ValidationFailed:
    message = str(exc)
    where = message.split(":", 1)[0] if message.startswith("mapping.") else "file"
    return ValidationFailed(f"{where}: {message}", [FieldError(where, message)])


@router.post(
    "/batches", status_code=202, response_model=BatchOut,
    responses={409: {"model": BatchExistsOut, "description": "The same file is already a job "
                                  "(queued, running or done): its `id` and `url`; send `force=true` for a new job"},
               **error_responses(413, 422)},
    summary="Upload a CSV or XLSX list of leads as a batch job",
    description=(
        "Multipart: `file` (CSV, or an XLSX workbook whose first sheet is read; told apart by its "
        "bytes, not its name or type; XLS is a 422), optional `mapping` (JSON object: our field -> your column, e.g. "
        "`{\"email\": \"Work Email\"}`; wins over header recognition), optional `route=true` (each "
        "matched row is taken in and routed as by `POST /v1/leads`; duplicates of a person are not "
        "routed twice), optional `force=true` (a new job even if the same file is already one). "
        "The header is read at once: a file with no usable email or company column is a 422 listing "
        "the columns it saw, and nothing is stored. Larger than `batch_max_bytes` (default 200 MiB): "
        "413. The same content (SHA-256) as a queued, running or done job: 409 with that job's `id` "
        "and `url`. Otherwise 202 with the job; follow `links.self` for its progress."
    ),
)
def post_batch(file: Annotated[UploadFile, File(description="the CSV or XLSX file")], services: ServicesDep,
               mapping: Annotated[str | None, Form(description="JSON: our field -> your column")] = None,
               route: Annotated[bool, Form(description="take in and route matched rows")] = False,
               force: Annotated[bool, Form(description="a new job even for a file already uploaded")] = False,
               ) -> Any:
    batch_id = store_upload(services, file.file, file.filename, _mapping(mapping), route, force, size=file.size)
    with session_scope(services.sessions) as session:
        return view(store.get(session, batch_id), session)


def store_upload(services: Services, fh: BinaryIO, filename: str | None, mapping: dict[str, str] | None,
                 route: bool, force: bool, *, size: int | None = None) -> str:
    """The upload in ``fh`` (a seekable binary file) checked and stored as a queued job, which is
    then handed to the batch runner; its id. Used by the route and by ``leadmatch upload``
    without a service. Raises 413 (over batch_max_bytes), 422 (no usable column, a bad mapping;
    nothing stored), 409 (the same content is a job already, unless ``force``)."""
    limit = services.settings.batch_max_bytes
    too_large = f"the file is larger than the limit of {limit} bytes (batch_max_bytes)"
    if size is not None and size > limit:
        raise PayloadTooLarge(too_large, [FieldError("file", too_large)])
    try:
        # only the header is wanted here (the job reads the file again); the reader is kept
        # until the end, since closing it may close the file
        header_check = jobs.reading.open_upload(fh, mapping)
    except (jobs.UploadRefused, ValueError, UnicodeError) as exc:
        raise _refused(exc) from None
    fh.seek(0)
    digest, size = hashlib.sha256(), 0
    for piece in iter(lambda: fh.read(store.PIECE_BYTES), b""):
        digest.update(piece)
        size += len(piece)
    if size > limit:
        raise PayloadTooLarge(too_large, [FieldError("file", too_large)])
    sha = digest.hexdigest()
    with session_scope(services.sessions) as session:
        if not force and (same := store.same_content(session, sha)) is not None:
            raise Conflict(f"this file was already uploaded as job {same.id} ({same.state}); send force=true "
                           "for a new job", [FieldError("file", f"same content as job {same.id}")],
                           id=same.id, url=url(same.id), state=same.state)
        row = BatchRow(id=store.new_id(), filename=(filename or None) and filename[:300],
                       content_sha256=sha, size_bytes=size, state="queued", route=route,
                       mapping_requested=mapping, rows_done=0, created_at=utc_now())
        session.add(row)
        session.flush()
        batch_id = row.id
        fh.seek(0)
        for number, piece in enumerate(iter(lambda: fh.read(store.PIECE_BYTES), b"")):
            store.add_piece(session, batch_id, number, piece)
        db.after_commit(session, lambda: _submit(services, batch_id))
    del header_check
    return batch_id


def _submit(services: Services, batch_id: str) -> None:
    runner = getattr(services, "batches", None)
    if runner is not None:
        runner.submit(batch_id)
    # without a runner (a process that only serves), batches_sweep takes it up


@router.get("/batches", response_model=BatchPageOut, responses=error_responses(422),
            summary="Batch jobs, newest first")
def list_batches(session: SessionDep,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 before: Annotated[str | None, Query(pattern=ID_PATTERN,
                                                     description="`next` of the previous page")] = None,
                 ) -> dict[str, Any]:
    cursor = None
    if before is not None:
        last = store.get(session, before)
        if last is None:
            raise ValidationFailed("before: no such job", [FieldError("before", "no such job")])
        cursor = (last.created_at, last.id)
    rows = store.page(session, limit + 1, cursor)
    more = len(rows) > limit
    rows = rows[:limit]
    now = utc_now()
    return {"items": [view(r, session, now) for r in rows], "next": rows[-1].id if more else None}


def _job(session: Any, batch_id: str) -> BatchRow:
    row = store.get(session, batch_id)
    if row is None:
        raise NotFound(f"batch {batch_id!r} not found", [FieldError("batch_id", "no such job")])
    return row


@router.get("/batches/{batch_id}", response_model=BatchOut, responses=error_responses(404, 422),
            summary="One batch job: state, progress, counts, rate and ETA")
def get_batch(batch_id: BatchId, session: SessionDep) -> dict[str, Any]:
    return view(_job(session, batch_id), session)


@router.delete("/batches/{batch_id}", response_model=BatchOut, responses=error_responses(404, 409, 422),
               summary="Cancel a batch job",
               description="A queued or running job is cancelled: workers stop at their next chunk. "
                           "Cancelling a cancelled job again changes nothing; a done or failed job is a 409.")
def delete_batch(batch_id: BatchId, services: ServicesDep) -> dict[str, Any]:
    state = jobs.cancel(services, batch_id)
    if state is None:
        raise NotFound(f"batch {batch_id!r} not found", [FieldError("batch_id", "no such job")])
    if state in ("done", "failed"):
        raise Conflict(f"batch {batch_id} is {state}: nothing to cancel",
                       [FieldError("batch_id", f"the job is {state}")], state=state)
    with session_scope(services.sessions) as session:
        return view(store.get(session, batch_id), session)


_CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}}


def _file(services: Services, batch_id: str, kind: str) -> StreamingResponse:
    with session_scope(services.sessions) as session:
        row = _job(session, batch_id)
        if row.state != "done":
            raise Conflict(f"batch {batch_id} is {row.state}: its files are there once it is done",
                           [FieldError("batch_id", f"the job is {row.state}")], state=row.state)
        head = jobs.results_header(row.header or []) if kind == "results" else jobs.errors_header()

    def body() -> Iterator[bytes]:
        yield head
        with session_scope(services.sessions) as session:
            yield from store.result_parts(session, batch_id, kind)

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{batch_id}-{kind}.csv"'})


@router.get("/batches/{batch_id}/results.csv", response_class=StreamingResponse,
            responses={200: {**_CSV, "description": "every input column as it came, then decision, account_id, "
                             "account_name, confidence, owner, queue, reasons; one row per readable input row, "
                             "in input order"}, **error_responses(404, 409, 422)},
            summary="The results of a done job (409 before)")
def get_results(batch_id: BatchId, services: ServicesDep) -> StreamingResponse:
    return _file(services, batch_id, "results")


@router.get("/batches/{batch_id}/errors.csv", response_class=StreamingResponse,
            responses={200: {**_CSV, "description": "line, error, raw: each row that could not be read"},
                       **error_responses(404, 409, 422)},
            summary="The rows of a done job that could not be read (409 before)")
def get_errors(batch_id: BatchId, services: ServicesDep) -> StreamingResponse:
    return _file(services, batch_id, "errors")
