"""``leadmatch upload``: a CSV or XLSX file as a batch job (docs/batches.md), with a progress bar.

With ``--url`` (or LEADMATCH_URL) the file goes to that running service (POST /v1/batches) and
the job is polled; without one, the job runs in this process on the configured database (the
embedded default unless DATABASE_URL says otherwise) through the same functions a worker runs.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from api import console

POLL_SECONDS = 0.5
FINISHED = ("done", "failed", "cancelled")


def _mapping(value: str | None) -> str | None:
    """The mapping as JSON text: given inline, or ``@file`` for a file holding it."""
    if value is None:
        return None
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--mapping") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter('a JSON object: our field -> your column, e.g. {"email": "Work Email"}',
                                 param_hint="--mapping")
    return json.dumps(parsed)


def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the CSV or XLSX file to upload")],
    mapping: Annotated[Optional[str], typer.Option(  # noqa: UP007 - typer needs Optional
        help='JSON (our field -> your column, e.g. \'{"email": "Work Email"}\') or @file holding it')] = None,
    route: Annotated[bool, typer.Option("--route", help="take in and route the matched rows (POST /v1/leads)")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the job and download results.csv and errors.csv")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="a new job even if the same file is one already")] = False,
    url: Annotated[Optional[str], typer.Option(  # noqa: UP007
        "--url", envvar="LEADMATCH_URL", help="the running service; none: run the job in this process")] = None,
    out: Annotated[Optional[Path], typer.Option(  # noqa: UP007
        "--out", "-o", help="where results.csv goes (errors.csv beside it); default FILE.results.csv")] = None,
) -> None:
    """Upload a CSV or XLSX list of leads as a batch job and follow it with a progress bar. The job's id is
    printed on stdout. With --wait the result files are written when it is done."""
    mapping_json = _mapping(mapping)
    results_path = out or file.with_name(file.stem + ".results.csv")
    errors_path = results_path.with_name(results_path.name.replace(".results.csv", "") + ".errors.csv") \
        if results_path.name.endswith(".results.csv") else results_path.with_suffix(".errors.csv")
    if url:
        state = _remote(url.rstrip("/"), file, mapping_json, route, force, wait, results_path, errors_path)
    else:
        state = _local(file, mapping_json, route, force, results_path, errors_path)
    if state != "done":
        raise typer.Exit(1)


def _follow(get, batch_id: str) -> dict:  # noqa: ANN001 - () -> the job's JSON
    with console.progress() as progress:
        task = progress.add_task(f"batch {batch_id}", total=None)
        while True:
            job = get()
            progress.update(task, total=job["rows_total"], completed=job["rows_done"],
                            description=f"batch {batch_id} {job['state']}")
            if job["state"] in FINISHED:
                return job
            time.sleep(POLL_SECONDS)


def _summary(job: dict) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in job["counts"].items())
    console.err.print(f"batch {job['id']}: {job['state']} ({counts})" + (f": {job['error']}" if job["error"] else ""))


def _remote(base: str, file: Path, mapping: str | None, route: bool, force: bool, wait: bool,
            results_path: Path, errors_path: Path) -> str:
    import mimetypes

    import httpx

    data = {"route": str(route).lower(), "force": str(force).lower(), **({"mapping": mapping} if mapping else {})}
    with httpx.Client(base_url=base, timeout=httpx.Timeout(30.0, read=600.0)) as client:
        with open(file, "rb") as fh:  # httpx streams a file part from the open file
            # the service reads the format from the bytes; the type is for proxies and logs
            kind = mimetypes.guess_type(file.name)[0] or "text/csv"
            r = client.post("/v1/batches", files={"file": (file.name, fh, kind)}, data=data)
        if r.status_code == 409 and "id" in r.json():
            console.err.print(f"[yellow]{r.json()['error']}[/]")
            batch_id = r.json()["id"]
        elif r.status_code != 202:
            console.err.print(f"[red]error:[/] {r.status_code} {r.text}")
            raise typer.Exit(2)
        else:
            batch_id = r.json()["id"]
        typer.echo(batch_id)
        job = _follow(lambda: client.get(f"/v1/batches/{batch_id}").raise_for_status().json(), batch_id)
        _summary(job)
        if wait and job["state"] == "done":
            for name, path in (("results", results_path), ("errors", errors_path)):
                with client.stream("GET", f"/v1/batches/{batch_id}/{name}.csv") as resp, open(path, "wb") as fh:
                    resp.raise_for_status()
                    for part in resp.iter_bytes():
                        fh.write(part)
            console.err.print(f"-> {results_path}, {errors_path}")
        return job["state"]


def _local(file: Path, mapping: str | None, route: bool, force: bool, results_path: Path, errors_path: Path) -> str:
    from api.app import build_services
    from api.batches import jobs, store
    from api.batches.routes import store_upload, view
    from api.db import session_scope
    from api.errors import Conflict, LeadmatchError
    from api.metrics import Metrics

    settings = console.settings()
    services = build_services(settings, Metrics(), settings.cache_prefix)
    try:
        services.index.start()
        try:
            with open(file, "rb") as fh:
                batch_id = store_upload(services, fh, file.name, json.loads(mapping) if mapping else None, route,
                                        force, size=os.fstat(fh.fileno()).st_size)
        except Conflict as exc:
            console.err.print(f"[yellow]{exc.message}[/]")
            batch_id = exc.details["id"]
        except LeadmatchError as exc:
            console.err.print(f"[red]error:[/] {exc.message}")
            raise typer.Exit(2) from None
        typer.echo(batch_id)

        def get() -> dict:
            with session_scope(services.sessions) as session:
                return view(store.get(session, batch_id), session)

        import threading

        runner = threading.Thread(target=jobs.run_batch, args=(services, batch_id), daemon=True)
        runner.start()  # the same functions a worker runs, in this process
        job = _follow(get, batch_id)
        runner.join()
        job = get()
        _summary(job)
        if job["state"] == "done":
            with session_scope(services.sessions) as session:
                row = store.get(session, batch_id)
                for kind, path, head in (("results", results_path, jobs.results_header(row.header or [])),
                                         ("errors", errors_path, jobs.errors_header())):
                    with open(path, "wb") as fh:
                        fh.write(head)
                        for part in store.result_parts(session, batch_id, kind):
                            fh.write(part)
            console.err.print(f"-> {results_path}, {errors_path}")
        return job["state"]
    finally:
        services.close()
