"""What a batch job does, wherever it runs (the in-process runner, a ``leadmatch worker``,
``leadmatch upload`` without a service): the same functions, idempotent and checkpointed.

1. ``prepare``: the stored upload read through the reader (api/batches/reading.py), its records
   (data rows and rows that cannot be read, in file order) counted, duplicate people flagged
   (same email, case-insensitive; the first line wins), and cut into chunks of
   ``batch_chunk_rows`` records whose parsed input is stored in ``batch_chunks``; all in one
   transaction, so a preparer killed halfway leaves the job queued and its lease runs out.
2. ``work_chunk``: a chunk claimed (api/batches/store.py), its lease renewed by a heartbeat
   while its rows are matched (colleagues answered once: matcher/matching/distinct.py) or, with
   ``route``, matched rows taken in through lead intake (api/routing/routes.py ``take_in``,
   idempotent on the lead id, so a chunk done twice routes nobody twice; a cancel stops the
   routing within CANCEL_CHECK_SECONDS and the chunk is then not checkpointed); then its part of
   results.csv and errors.csv, its counts and state done written in one transaction.
3. ``finish_if_complete``: when every chunk is done, the job is done, after checking that result
   rows + error rows = the file's records (else it fails, saying so).
"""
from __future__ import annotations

import io
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
import zlib
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator

from pydantic import ValidationError

from api import csvio
from api.batches import reading, spill, store
from api.db import session_scope
from api.db.bulk import InvalidItems, utc_now
from matcher.batches import output
from matcher.batches.columns import UploadRefused
from matcher.matching import distinct
from matcher.matching.types import Lead


if TYPE_CHECKING:
    from api.deps import Services

log = logging.getLogger("leadmatch.batches")


def csv_bytes(rows: Any) -> bytes:
    """Rows as UTF-8 CSV (the ``csv`` module's dialect: quotes when needed, CRLF line ends) through
    ``api/csvio.py``'s spreadsheet-safe writer, exactly as they appear in results.csv / errors.csv."""
    buffer = io.StringIO()
    csvio.csv_writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")
LEAD_FIELDS = tuple(Lead.__dataclass_fields__)
INDEX_WAIT_SECONDS = 600.0
# how often a chunk that routes its rows asks whether its job was cancelled meanwhile: routing
# has effects (leads taken in, owners told), so a cancel must stop it within about this long
CANCEL_CHECK_SECONDS = 1.0
# a chunk taken this many times without finishing fails its job: a row that crashes the matching
# every time, or kills its worker, would otherwise be retried by the sweep for ever
MAX_CHUNK_ATTEMPTS = 5
INTAKE_SOURCE = "batch"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _encode(records: list[list]) -> bytes:
    return zlib.compress(json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), 6)


def _decode(data: bytes) -> list[list]:
    return json.loads(zlib.decompress(data))


def results_header(header: list[str]) -> bytes:
    return csv_bytes([[*header, *output.ANSWER_COLUMNS]])


def errors_header() -> bytes:
    return csv_bytes([output.ERROR_COLUMNS])


# ---------------------------------------------------------------- leases


@contextmanager
def heartbeat(services: Services, renew: Callable[[Any], bool]) -> Iterator[threading.Event]:
    """Renews a lease every third of ``batch_lease_seconds`` while the block runs; the event is
    set when the lease was found taken (the work is then someone else's: its checkpoint will
    write nothing)."""
    lease = services.settings.batch_lease_seconds
    stop, lost = threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(lease / 3):
            try:
                with session_scope(services.sessions) as session:
                    if not renew(session):
                        lost.set()
                        return
            except Exception:  # noqa: BLE001 - a missed beat is retried; the lease has slack
                log.warning("batch lease renewal failed", exc_info=True)

    thread = threading.Thread(target=beat, name="leadmatch-batch-heartbeat", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


# ---------------------------------------------------------------- prepare


@contextmanager
def _stored_file(services: Services, batch_id: str) -> Iterator[Any]:
    """The upload as a seekable file on this machine's temporary disk (spooled: small files
    stay in memory), copied from its pieces in the database."""
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as fh:
        with session_scope(services.sessions) as session:
            for piece in store.pieces(session, batch_id):
                fh.write(piece)
        fh.seek(0)
        yield fh


def prepare(services: Services, batch_id: str, worker: str | None = None) -> bool:
    """The prepare step of a queued job (nothing if it is not queued or another worker has it);
    True if this call prepared it."""
    worker = worker or worker_name()
    lease = services.settings.batch_lease_seconds
    with session_scope(services.sessions) as session:
        if not store.claim_prepare(session, batch_id, worker, lease, utc_now()):
            return False
        row = store.get(session, batch_id)
        mapping, chunk_rows = row.mapping_requested, services.settings.batch_chunk_rows
    with heartbeat(services, lambda s: store.renew_prepare(s, batch_id, worker, lease)):
        try:
            with _stored_file(services, batch_id) as fh:
                upload = reading.open_upload(fh, mapping)
                chunks, total = _cut(batch_id, upload, chunk_rows)
                described = {"header": list(upload.header), "encoding": upload.encoding,
                             "delimiter": upload.delimiter, "mapping_used": dict(upload.columns.used)}
        except (UploadRefused, ValueError, UnicodeError) as exc:
            _fail(services, batch_id, f"the file could not be read: {exc}")
            return True
    with session_scope(services.sessions) as session:
        row = store.get(session, batch_id, for_update=True)
        if row is None or row.state != "queued" or row.worker != worker:
            return False  # cancelled meanwhile, or the lease was lost to another preparer
        store.replace_chunks(session, batch_id, chunks)
        for k, v in described.items():
            setattr(row, k, v)
        row.rows_total, row.chunks_total = total, len(chunks)
        row.state, row.started_at, row.worker, row.lease_until = "running", utc_now(), None, None
        if not chunks:
            row.state, row.finished_at = "done", row.started_at
            row.counts, row.rows_done = {"matched": 0, "review": 0, "no_match": 0, "error": 0}, 0
    return True


def _cut(batch_id: str, upload: Any, chunk_rows: int) -> tuple[list[dict], int]:
    """The upload's records as chunk rows. A data row is ``["d", line, cells, lead fields,
    intake id, duplicate of line or 0]``; a duplicate carries its first row's lead and intake id,
    so it gets the first row's answer and is never taken in twice. A bad row is
    ``["e", line, error, raw]``."""
    with spill.DiskMap() as remembered:
        return _cut_rows(batch_id, upload, chunk_rows, output.FirstSeen(remembered))


def _cut_rows(batch_id: str, upload: Any, chunk_rows: int, first: output.FirstSeen) -> tuple[list[dict], int]:
    width = len(upload.header)
    chunks: list[dict] = []
    records: list[list] = []
    total = 0

    def close() -> None:
        chunks.append({"number": len(chunks), "first_line": records[0][1], "last_line": records[-1][1],
                       "rows": len(records), "input": _encode(records)})
        records.clear()

    for item in upload.rows():
        total += 1
        if isinstance(item, reading.BadRow):
            records.append(["e", item.line, item.error, item.raw])
        else:
            lead = [getattr(item.lead, f) for f in LEAD_FIELDS]
            cells = [*item.cells, *[""] * (width - len(item.cells))]  # a short row: its missing cells empty
            intake_id = item.lead_id or f"{batch_id}-{item.line}"
            earlier = first.see(item.lead.email, (item.line, lead, intake_id))
            if earlier is None:
                records.append(["d", item.line, cells, lead, intake_id, 0])
            else:
                line, lead, intake_id = earlier
                records.append(["d", item.line, cells, lead, intake_id, line])
        if len(records) >= chunk_rows:
            close()
    if records:
        close()
    return chunks, total


def _fail(services: Services, batch_id: str, error: str) -> None:
    with session_scope(services.sessions) as session:
        row = store.get(session, batch_id, for_update=True)
        if row is not None and row.state in store.ACTIVE:
            row.state, row.error, row.finished_at = "failed", error, utc_now()
            row.worker = row.lease_until = None
    log.warning("batch %s failed: %s", batch_id, error)


# ---------------------------------------------------------------- chunks


def work_chunk(services: Services, batch_id: str, worker: str | None = None) -> bool:
    """Claim one chunk of the job and do it; False when there was none to claim."""
    worker = worker or worker_name()
    settings = services.settings
    with session_scope(services.sessions) as session:
        claim = store.claim_chunk(session, batch_id, worker, settings.batch_lease_seconds, utc_now())
        if claim is None:
            return False
        route = store.get(session, batch_id).route
        records = _decode(store.chunk_input(session, batch_id, claim.number))
    if claim.attempt > MAX_CHUNK_ATTEMPTS:
        _fail(services, batch_id, f"chunk {claim.number} (lines {records[0][1]}-{records[-1][1]}) was taken "
                                  f"{MAX_CHUNK_ATTEMPTS} times and never finished: its worker died each time")
        return True
    with heartbeat(services, lambda s: store.renew(s, claim, settings.batch_lease_seconds)) as lost:
        if not services.index.wait_ready(INDEX_WAIT_SECONDS):
            raise RuntimeError("the account index did not load")
        try:
            results, errors, counts = answer_chunk(services, records, route, batch_id,
                                                   still_running=_still_running(services, batch_id))
        except JobCancelled:
            log.info("batch %s was cancelled during chunk %d: its routing stopped, nothing is checkpointed",
                     batch_id, claim.number)
            return True
        except Exception as exc:
            if claim.attempt < MAX_CHUNK_ATTEMPTS:
                raise  # its lease runs out and the sweep sends it again (a passing outage, say)
            _fail(services, batch_id, f"chunk {claim.number} (lines {records[0][1]}-{records[-1][1]}) failed "
                                      f"{claim.attempt} times; the last time: {type(exc).__name__}: {exc}")
            return True
        if settings.batch_test_chunk_delay_seconds:
            time.sleep(settings.batch_test_chunk_delay_seconds)
    if lost.is_set():
        log.warning("batch %s chunk %d was taken over; its answers here are dropped", batch_id, claim.number)
        return True
    with session_scope(services.sessions) as session:
        if not store.checkpoint(session, claim, results, errors, counts):
            log.warning("batch %s chunk %d was taken over; its answers here are dropped", batch_id, claim.number)
    finish_if_complete(services, batch_id)
    return True


class JobCancelled(Exception):
    """The job was cancelled while one of its chunks was being routed."""


def _still_running(services: Services, batch_id: str) -> Callable[[], bool]:
    """Is the job still running? Asked of the database at most every CANCEL_CHECK_SECONDS."""
    asked = [time.monotonic(), True]  # when last asked, and the answer

    def still_running() -> bool:
        now = time.monotonic()
        if now - asked[0] >= CANCEL_CHECK_SECONDS:
            with session_scope(services.sessions) as session:
                row = store.get(session, batch_id)
                asked[:] = [now, row is not None and row.state == "running"]
        return asked[1]

    return still_running


def answer_chunk(services: Services, records: list[list], route: bool, batch_id: str | None = None,
                 still_running: Callable[[], bool] | None = None) -> tuple[bytes, bytes, dict[str, int]]:
    """A chunk's rows of results.csv and errors.csv, and its counts. With ``batch_id``, the
    answers this process gave the job's earlier chunks are reused (``_answers_of``). With
    ``route``, ``still_running()`` is asked before each row is taken in: JobCancelled when not."""
    counts = {"matched": 0, "review": 0, "no_match": 0, "error": 0}
    data = [r for r in records if r[0] == "d"]
    leads = [Lead(*r[3]) for r in data]
    matches = distinct.match_distinct(leads, _answers_of(batch_id, services.index.version),
                                      lambda todo: [_kept(services.index.match(x).to_dict()) for x in todo])
    answered: dict[int, list[str] | tuple[str]] = {}  # line -> answer cells, or (why intake refused it,)
    taken: dict[str, dict] = {}  # intake id -> its answer in this chunk
    for r, match in zip(data, matches):
        line, lead, intake_id, dup_of = r[1], r[3], r[4], r[5]
        extra = [output.duplicate_reason(dup_of)] if dup_of else []
        if route and match["decision"] == "matched":
            if intake_id not in taken and still_running is not None and not still_running():
                raise JobCancelled(batch_id)
            try:
                answer = taken.get(intake_id) or _take_in(services, intake_id, lead)
            except (ValidationError, InvalidItems) as exc:
                answered[line] = (f"lead intake refused the row: {_message(exc)}",)
                continue
            taken[intake_id] = answer
            cells_out = output.answer_cells(answer["match"], answer["route"]["owner"], answer["route"]["queue"], extra)
        else:
            owner = (match.get("route") or {}).get("owner")
            queue = (match.get("route") or {}).get("queue")
            cells_out = output.answer_cells(match, owner, queue, extra)
        answered[line] = cells_out
    result_rows: list[list[str]] = []
    error_rows: list[list[str]] = []
    for r in records:
        if r[0] == "e":
            error_rows.append([str(r[1]), r[2], r[3]])
            counts["error"] += 1
            continue
        got = answered[r[1]]
        if isinstance(got, tuple):
            error_rows.append([str(r[1]), got[0], ",".join(r[2])])
            counts["error"] += 1
            continue
        result_rows.append([*r[2], *got])
        counts[got[0]] += 1
    return csv_bytes(result_rows), csv_bytes(error_rows), counts


# Answers by answer key (matcher/matching/distinct.py) of the jobs whose chunks this process
# answered last, each while the index stays at one version: colleagues spread over many chunks
# (a tradeshow list) are matched once per worker, not once per chunk. The same index gives the
# same answer, so what a chunk writes does not depend on which chunks this process did before.
_ANSWERS_KEPT = 2  # jobs; each holds at most distinct.MEMO_LIMIT answers
_answers: dict[tuple[str, int], dict] = {}
_answers_lock = threading.Lock()


def _answers_of(batch_id: str | None, version: int) -> dict | None:
    if batch_id is None:
        return None
    key = (batch_id, version)
    with _answers_lock:
        memo = _answers.get(key)
        if memo is None:
            for stale in [k for k in _answers if k[0] == batch_id]:
                del _answers[stale]  # the index moved on: those answers may be wrong now
            while len(_answers) >= _ANSWERS_KEPT:
                del _answers[next(iter(_answers))]
            memo = _answers[key] = {}
        return memo


def _kept(match: dict) -> dict:
    """What results.csv and the routing read of a /v1/match answer (output.answer_cells): kept
    small, since up to MEMO_LIMIT of them are kept."""
    account_id = match.get("account_id")
    return {"decision": match["decision"], "account_id": account_id, "confidence": match["confidence"],
            "reasons": match.get("reasons", ()), "route": match.get("route"),
            "candidates": [c for c in match.get("candidates", ()) if account_id and c["account_id"] == account_id][:1]}


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'lead'}: {e['msg']}" for e in exc.errors())
    return str(exc)


def _take_in(services: Services, intake_id: str, lead: list) -> dict:
    from api.routing.routes import take_in  # the function POST /v1/leads uses
    from api.routing.schemas import LeadIntakeIn

    body = {"id": intake_id, "source": INTAKE_SOURCE,
            **{f: v for f, v in zip(LEAD_FIELDS, lead) if v is not None}}
    intake = LeadIntakeIn.model_validate(body)
    with session_scope(services.sessions) as session:
        return take_in(session, services, intake)


# ---------------------------------------------------------------- the end of a job


def finish_if_complete(services: Services, batch_id: str) -> str | None:
    """The job done (or failed, if its rows do not add up) when every chunk is; its new state."""
    with session_scope(services.sessions) as session:
        row = store.get(session, batch_id, for_update=True)
        if row is None or row.state != "running":
            return None
        seen = store.progress(session, batch_id)
        if seen.chunks_left:
            return None
        answered = sum(seen.counts.values())
        row.rows_done, row.counts, row.finished_at = seen.rows_done, seen.counts, utc_now()
        if answered != row.rows_total or seen.rows_done != row.rows_total:
            row.state = "failed"
            row.error = (f"results rows + error rows = {answered}, chunks' records = {seen.rows_done}, "
                         f"but the file has {row.rows_total} data rows")
        else:
            row.state = "done"
        return row.state


def cancel(services: Services, batch_id: str) -> str | None:
    """A queued or running job cancelled (workers stop at their next chunk); its state after, or
    None if there is no such job."""
    with session_scope(services.sessions) as session:
        row = store.get(session, batch_id, for_update=True)
        if row is None:
            return None
        if row.state in store.ACTIVE:
            row.state, row.finished_at = "cancelled", utc_now()
            row.worker = row.lease_until = None
        return row.state



def run_batch(services: Services, batch_id: str, on_progress: Callable[[], None] | None = None) -> str | None:
    """The whole job in this process: prepared if it is queued, then chunks claimed until none
    is left (other processes may take chunks meanwhile); its state at the end."""
    worker = worker_name()
    prepare(services, batch_id, worker)
    while work_chunk(services, batch_id, worker):
        if on_progress is not None:
            on_progress()
    with session_scope(services.sessions) as session:
        row = store.get(session, batch_id)
        if row is not None and row.state == "running":
            finish_if_complete(services, batch_id)
            session.refresh(row)
        return None if row is None else row.state


# ---------------------------------------------------------------- the sweep


def sweep(services: Services, now: datetime | None = None,
          send: Callable[[str, str, int], None] | None = None) -> dict[str, int]:
    """Nothing depends on one message surviving: for each unfinished job, the work whose lease
    ran out (or that nobody holds and no message seems to be carrying) is sent again with
    ``send(kind, batch_id, n)`` (kind "prepare" or "chunk"), and a job whose chunks are all done is
    finished. Without ``send`` the work is done here."""
    now = now or utc_now()
    counts = {"prepare": 0, "chunks": 0, "finished": 0}
    lease = services.settings.batch_lease_seconds
    with session_scope(services.sessions) as session:
        jobs = [(r.id, r.state, r.lease_until, r.created_at) for r in store.unfinished(session)]
    for batch_id, state, lease_until, created_at in jobs:
        if state == "queued":
            if (lease_until is None and (now - created_at).total_seconds() >= lease) or \
                    (lease_until is not None and lease_until < now):
                counts["prepare"] += 1
                if send is not None:
                    send("prepare", batch_id, 1)
                else:
                    run_batch(services, batch_id)
            continue
        with session_scope(services.sessions) as session:
            seen = store.progress(session, batch_id, now)
            expired = store.expired_chunks(session, batch_id, now)
        if not seen.chunks_left:
            if finish_if_complete(services, batch_id):
                counts["finished"] += 1
            continue
        # expired leases: their workers died. Pending chunks with nobody at work on the job: their
        # messages were lost (or sit unacknowledged with a dead worker)
        n = expired + (seen.chunks_left - expired if seen.running_live == 0 else 0)
        if n:
            counts["chunks"] += n
            if send is not None:
                send("chunk", batch_id, n)
            else:
                run_batch(services, batch_id)
    return {k: v for k, v in counts.items() if v}
