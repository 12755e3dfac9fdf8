"""GET /v1/reports/{name} on both databases, over the hand-made ledger of tests/api/reports/dataset.py:
each report's answer is worked out by hand from the definitions in domain.md section 6."""
from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from tests.api.reports.dataset import MARCH, day, load


@pytest.fixture
def loaded(client: TestClient, database_url: str) -> TestClient:
    load(database_url)
    return client


def report(client: TestClient, name: str, **params) -> dict[str, list[list]]:
    r = client.get(f"/v1/reports/{name}", params={**MARCH, **params})
    assert r.status_code == 200, r.text
    return {t["name"]: t["rows"] for t in r.json()["tables"]}


def test_velocity(loaded: TestClient) -> None:
    # won: O1 0 -> 10 = 10 days; lost: O2 -20 -> 5 = 25, O3 2 -> 30 = 28 -> median = mean = 26.5
    assert report(loaded, "velocity")["velocity"] == [["won", 1, 10.0, 10.0], ["lost", 2, 26.5, 26.5]]


def test_velocity_filtered_by_segment_and_owner(loaded: TestClient) -> None:
    # fit tier A: A1 (O1 won, 10 days) and A3 (O3 lost, 28 days)
    assert report(loaded, "velocity", segment="fit_tier:A")["velocity"] == [["won", 1, 10.0, 10.0],
                                                                              ["lost", 1, 28.0, 28.0]]
    # bob: O2 only
    assert report(loaded, "velocity", owner="bob")["velocity"] == [["won", 0, None, None], ["lost", 1, 25.0, 25.0]]


def test_close_rate(loaded: TestClient) -> None:
    got = report(loaded, "close-rate")
    assert got["overall"] == [["all", 1, 2, pytest.approx(1 / 3)]]            # 1 / (1 + 2)
    assert got["by_owner"] == [["ann", 1, 1, 0.5], ["bob", 0, 1, 0.0]]        # ann O1 won, O3 lost; bob O2 lost
    assert got["by_type"] == [["new_business", 1, 1, 0.5], ["renewal", 0, 1, 0.0]]


def test_stage_conversion(loaded: TestClient) -> None:
    got = {r[0]: r[1:] for r in report(loaded, "stage-conversion")["stage_conversion"]}
    # discovery entered in March: O1 (day 0), O3 (day 2); O2 entered it in February. Converted: O1
    # (proposal, and won) -> 1/2. Left: O1 after 4 days, O3 closed after 28 -> median 16
    assert got["discovery"] == [2, 1, 0.5, 2, 16.0]
    # evaluation: O4 (day 1), still open there
    assert got["evaluation"] == [1, 0, 0.0, 0, None]
    # proposal: O1 day 4, won day 10 -> converted, 6 days
    assert got["proposal"] == [1, 1, 1.0, 1, 6.0]


def test_gone_dark(loaded: TestClient) -> None:
    got = report(loaded, "gone-dark")
    # discovery open in March: O1 (days 0-4), O2 (until day 5), O3 (days 2-30) = 3.
    #   O2: not dark before opened -20 + 21 = day 1 and, after the meeting on day -19, before day 2:
    #   dark from day 2 -> went dark in discovery in March. O3: no two-way touch (a download is not
    #   one): dark from 2 + 21 = day 23. O1: the reply on day 6 covers it to day 27, closed day 10.
    # evaluation: O4 opened day 1, no touch since: dark from day 22. O5 (opened day -100): the
    # meeting on day -60 covered it to day -39, dark since; the meeting on day -1 ends that and it
    # goes dark again on day 20 -> 2 of 2. proposal: O1, not dark.
    assert got["by_stage"] == [["discovery", 3, 2, pytest.approx(2 / 3)], ["evaluation", 2, 2, 1.0],
                               ["proposal", 1, 0, 0.0], ["negotiation", 0, 0, None]]
    # lost in March: O2 and O3, both last went dark in discovery
    assert got["lost_by_last_dark_stage"] == [["discovery", 2], ["evaluation", 0], ["proposal", 0],
                                              ["negotiation", 0], ["never", 0]]


def test_never_responded(loaded: TestClient) -> None:
    # A3 qualified day 1, never a two-way touch; O3 closed day 30 -> 29 days.
    # A2 entered sales_working (a later status) day 3; its only two-way touch was day -19; O2 closed
    # day 5 -> 2 days. A1 and A4 qualified in February: not this period's (A4's move from qualified
    # to sales_working in March is not an entry: it came from a status of the set).
    assert report(loaded, "never-responded")["never_responded"] == [
        ["A3", "ann", day(1).isoformat(), 29.0], ["A2", "bob", day(3).isoformat(), 2.0]]
    assert report(loaded, "never-responded", owner="bob")["never_responded"] == [
        ["A2", "bob", day(3).isoformat(), 2.0]]


def test_content(loaded: TestClient) -> None:
    got = report(loaded, "content")
    # won: O1; lost: O2, O3. 'case': A1 day 3 (O1 window 0-10), A3 day 3 (O3 window 2-30) -> won 1/1,
    # lost 1/2, difference 0.5. 'price' was viewed on day 20, after O1 closed: nobody.
    assert got["by_asset"] == [["case", "Case study", 1, 1.0, 1, 0.5, 0.5],
                               ["dusty", "Old whitepaper", 0, 0.0, 0, 0.0, 0.0],
                               ["price", "Pricing page", 0, 0.0, 0, 0.0, 0.0]]
    assert got["never_consumed"] == [["dusty", "Old whitepaper"], ["price", "Pricing page"]]


def test_loss_reasons(loaded: TestClient) -> None:
    got = report(loaded, "loss-reasons")
    # lost O2 (price / Rival, confirmed; buyer's latest interview: product_fit / Rival) and O3 (went
    # dark, no interview): confirmed 1/2; interviewed 1, agreeing 0
    assert got["summary"] == [[2, 1, 0.5, 1, 0, 0.0]]
    assert got["reasons"] == [["price", 1, 0], ["product_fit", 0, 1], ["went_dark", 1, 0]]
    assert got["competitors"] == [["Rival", 1, 1]]
    assert got["matrix"] == [["price", "product_fit", 1]]


def test_contact_sequence(loaded: TestClient) -> None:
    got = {r[0]: r[1:] for r in report(loaded, "contact-sequence")["by_outcome"]}
    # won O1: K1 manager (2) day -5, K2 director (3) day 6 -> first 2 (<= 2), last 3; K2 outranks
    # K1 and first engaged day 6 >= 10 - 30 -> late; K2 (rank 3) left on day 8, within 0-10
    assert got["won"] == [1, 1, 1.0, 2, 3, 1.0, 1.0]
    # lost O2: K3 VP (4) alone -> first and last 4; O3: nobody engaged
    assert got["lost"] == [2, 1, 0.0, 4, 4, 0.0, 0.0]


def test_follow_up(loaded: TestClient) -> None:
    got = {r[0]: r[1:] for r in report(loaded, "follow-up")["by_owner"]}
    # columns: opportunities, call, per opp, email, per opp, social, per opp, meeting, per opp,
    # gone-dark closes, complete cadences, share
    # ann: O1 (call day 2, email day 3), O3 (social day 10; closed gone dark, both steps done)
    assert got["ann"] == [2, 1, 0.5, 1, 0.5, 1, 0.5, 0, 0.0, 1, 1, 1.0]
    # bob: O2 (call day -1, within -20..5)
    assert got["bob"] == [1, 1, 1.0, 0, 0.0, 0, 0.0, 0, 0.0, 0, 0, None]
    assert got["(all)"] == [3, 2, pytest.approx(2 / 3), 1, pytest.approx(1 / 3), 1, pytest.approx(1 / 3), 0, 0.0,
                            1, 1, 1.0]


def test_mqa_volume(loaded: TestClient) -> None:
    # A3 qualified Mon 2 March (ISO 2026-W10); A1 customer engaged Fri 13 March (W11)
    assert report(loaded, "mqa-volume")["by_week"] == [["2026-W10", "2026-03-02", 1, 1, 0],
                                                       ["2026-W11", "2026-03-09", 1, 0, 1]]


def test_funnel(loaded: TestClient) -> None:
    got = report(loaded, "funnel")
    at_end = {s: n for s, n in got["at_end"] if n}
    # before 1 April: A1 customer_engaged (day 12), A2 sales_working (day 3), A3 qualified (day 1),
    # A4 sales_working (day 15)
    assert at_end == {"qualified": 1, "sales_working": 2, "customer_engaged": 1}
    # moves in March, ordered by the status they leave (the order of domain.md section 4)
    assert got["moves"] == [["pre_qualified", "sales_working", 1], ["nurture", "qualified", 1],
                            ["qualified", "sales_working", 1], ["qualified", "opportunity_open", 1], ["opportunity_open", "customer_engaged", 1]]
    # at the end of February: A1 qualified (day -6), A2 pre_qualified, A3 nurture, A4 qualified
    feb = report(loaded, "funnel", **{"from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"})
    assert {s: n for s, n in feb["at_end"] if n} == {"pre_qualified": 1, "nurture": 1, "qualified": 2}


def test_csv(loaded: TestClient) -> None:
    r = loaded.get("/v1/reports/close-rate", params={**MARCH, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[:2] == [["table", "scope", "won", "lost", "close_rate"], ["overall", "all", "1", "2", str(1 / 3)]]
    assert ["table", "owner", "won", "lost", "close_rate"] in rows and ["by_owner", "bob", "0", "1", "0.0"] in rows


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-04-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "from"),
    ({"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "from"),
    ({**MARCH, "segment": "planet:Mars"}, "segment"),
    ({**MARCH, "segment": "fit_tier"}, "segment"),
    ({**MARCH, "format": "xml"}, "format"),
    ({"to": "2026-03-01T00:00:00Z"}, "from"),
    ({**MARCH, "from": "March"}, "from"),
])
def test_bad_input_names_the_field(client: TestClient, params: dict, field: str) -> None:
    r = client.get("/v1/reports/velocity", params=params)
    assert r.status_code == 422, r.text
    assert [f["field"] for f in r.json()["fields"]] == [f"query.{field}"]  # how every route names a query field


def test_unknown_report_lists_the_names(client: TestClient) -> None:
    r = client.get("/v1/reports/vibes", params=MARCH)
    assert r.status_code == 404
    assert "velocity" in r.json()["error"] and "funnel" in r.json()["error"]


def test_content_catalogue_put_and_get(client: TestClient) -> None:
    items = [{"id": "case", "title": "Case study", "kind": "case_study"}, {"id": "wp", "title": "Whitepaper"}]
    assert client.put("/v1/content", json=items).json() == {"created": 2, "updated": 0, "unchanged": 0}
    assert client.put("/v1/content", json=[{"id": "wp", "title": "Whitepaper 2"}, items[0]]).json() == {
        "created": 0, "updated": 1, "unchanged": 1}
    assert client.get("/v1/content").json()["items"] == [
        {"id": "case", "title": "Case study", "kind": "case_study", "url": None},
        {"id": "wp", "title": "Whitepaper 2", "kind": None, "url": None}]
    bad = client.put("/v1/content", json=[{"id": "x", "title": "X"}, {"id": "x", "title": "again"}, {"id": "y"}])
    assert bad.status_code == 422
    assert [f["field"] for f in bad.json()["fields"]] == ["items[2].title"]
    dup = client.put("/v1/content", json=[{"id": "n", "title": "N"}, {"id": "n", "title": "again"}])
    assert dup.status_code == 422 and [f["field"] for f in dup.json()["fields"]] == ["items[1].id"]
    assert [a["id"] for a in client.get("/v1/content").json()["items"]] == ["case", "wp"]  # nothing stored
