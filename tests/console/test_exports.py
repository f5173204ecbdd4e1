"""Exports: the filtered queue as XLSX and CSV (Chinese headers, the queue's rows and scope,
no wish to those who may not read it, no reporter), the dashboard's tables, a street's monthly
report, and every export in the audit trail."""
from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from tests.console.helpers import sign_in_as
from tests.figures.seed import NOW, PERIOD, seed_month
from webapp.audit.models import AuditEntry
from webapp.exports.queue import HEADERS
from webapp.exports.writers import Sheet, csv_chunks, write_xlsx
from webapp.extensions import db
from webapp.tickets.models import Ticket

_ROW = re.compile(r'<tr class="[^"]*" data-ticket="([^"]+)">')


@pytest.fixture
def month(app_ctx, monkeypatch):
    from webapp.figures import compute

    monkeypatch.setattr(compute, "utcnow", lambda: NOW)
    return seed_month(tickets=70)


def _fresh(client):
    """Another browser: a client without the first one's cookies."""
    return type(client)(client.application, client.application.response_class, use_cookies=True)


def _xlsx(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)


def _sheet_rows(workbook, title=None):
    sheet = workbook[title] if title else workbook.worksheets[0]
    return [tuple("" if v is None else v for v in row) for row in sheet.iter_rows(values_only=True)]


def _page_numbers(client, query) -> list[str]:
    """The numbers of the tickets the queue page lists (one page of at most 50)."""
    page = client.get("/console/", query_string=query).get_data(as_text=True)
    return re.findall(r'class="number">([^<]+)</a>', page)


def _exported_ids(rows) -> set[str]:
    numbers = [row[0] for row in rows[1:]]
    return set(db.session.scalars(db.select(Ticket.id).where(Ticket.number.in_(numbers))))


@pytest.mark.parametrize("query", [
    {},
    {"status": "closed"},
    {"status": "closed", "category": "light"},
    {"overdue": "1"},
    {"q": "T-1", "kind": "report"},
])
def test_queue_export_has_the_rows_of_the_filtered_queue(client, month, query):
    sign_in_as(client, month.registry.community_staff)
    rows = _sheet_rows(_xlsx(client.get("/console/export.xlsx", query_string=query)))
    assert list(rows[0]) == HEADERS
    assert [row[0] for row in rows[1:]] == _page_numbers(client, query)


def test_queue_export_headers_are_chinese_and_rows_name_no_reporter(client, month):
    sign_in_as(client, month.admin)
    rows = _sheet_rows(_xlsx(client.get("/console/export.xlsx", query_string={})))
    assert rows[0][:4] == ("工单编号", "类型", "类别", "状态") and "是否超期" in rows[0] and "评价" in rows[0]
    text = "".join(str(v) for row in rows for v in row)
    assert "吴民" not in text and "13500006666" not in text  # the seed's resident
    reporter = rows[0].index("反映人类型")
    assert {row[reporter] for row in rows[1:]} <= {"居民", "骑手", "匿名"}
    created = rows[1][rows[0].index("提交时间")]
    assert re.fullmatch(r"2026-\d\d-\d\d \d\d:\d\d", created)
    ticket = db.session.scalar(db.select(Ticket).where(Ticket.number == rows[1][0]))
    from webapp.figures.period import BEIJING

    assert created == ticket.created_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def test_queue_export_keeps_to_the_scope_of_a_grid_worker(client, month):
    worker = month.workers[0]
    sign_in_as(client, worker)
    rows = _sheet_rows(_xlsx(client.get("/console/export.xlsx", query_string={})))
    ids = _exported_ids(rows)
    assert ids
    tickets = db.session.scalars(db.select(Ticket).where(Ticket.id.in_(ids))).all()
    assert all(t.grid_id == month.grids[0].id or t.assignee_id == worker.id for t in tickets)
    assert all(t.kind.value == "report" for t in tickets)


def test_queue_export_shows_wishes_only_to_their_readers(client, month):
    sign_in_as(client, month.street_staff)
    rows = _sheet_rows(_xlsx(client.get("/console/export.xlsx", query_string={})))
    assert len(rows) > 1 and "心语心愿" not in {row[1] for row in rows[1:]}
    client = _fresh(client)
    reader = month.supervisors[0]  # community staff and wish reader of the first community
    sign_in_as(client, reader)
    rows = _sheet_rows(_xlsx(client.get("/console/export.xlsx", query_string={"kind": "wish"})))
    wishes = db.session.scalars(db.select(Ticket).where(Ticket.id.in_(_exported_ids(rows)))).all()
    assert wishes and all(w.community_id == month.communities[0].id for w in wishes)


def test_queue_csv_has_a_bom_and_the_same_rows(client, month):
    sign_in_as(client, month.registry.community_staff)
    query = {"category": "light"}
    response = client.get("/console/export.csv", query_string=query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    xlsx = _sheet_rows(_xlsx(client.get("/console/export.xlsx", query_string=query)))
    assert [r[0] for r in rows[1:]] == [r[0] for r in xlsx[1:]]
    assert "attachment" in response.headers["Content-Disposition"]


def test_every_export_is_in_the_audit_trail(client, month):
    sign_in_as(client, month.registry.community_staff)
    client.get("/console/export.xlsx", query_string={"status": "closed", "kind": "report"})
    client.get("/console/export.csv", query_string={"status": "closed"}).get_data()
    entries = db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "data_exported").order_by(AuditEntry.id)
    ).all()
    assert [e.detail["format"] for e in entries] == ["Excel", "CSV"]
    assert entries[0].actor_id == month.registry.community_staff.id
    assert entries[0].detail["filters"] == {"status": "closed", "kind": "report"}
    assert entries[0].detail["rows"] == len(_page_numbers(client, {"status": "closed", "kind": "report"}))


def test_queue_export_refuses_a_filter_the_queue_refuses(client, month):
    sign_in_as(client, month.admin)
    assert client.get("/console/export.xlsx", query_string={"status": "nonsense"}).status_code == 400
    assert client.get("/console/export.csv", query_string={"grid": "x"}).status_code == 400


def test_dashboard_export_has_its_tables(client, month):
    sign_in_as(client, month.street_staff)
    period = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
    workbook = _xlsx(client.get("/console/dashboard/export.xlsx", query_string=period))
    assert workbook.sheetnames == ["汇总", "按类别", "按下级单位", "按周", "热点"]
    summary = dict(row[:2] for row in _sheet_rows(workbook, "汇总")[1:])
    from webapp.figures import compute
    from webapp.figures.period import Period
    from webapp.figures.scope import resolve_scope
    from webapp.people.actors import load_actor

    actor = load_actor(month.street_staff.id)
    figures = compute.figures(actor, resolve_scope(actor), Period(*PERIOD), now=NOW)
    assert summary["受理量"] == figures["tickets_in"] and summary["应接单数"] == figures["due_for_acceptance"]
    children = _sheet_rows(workbook, "按下级单位")
    assert children[0][0] == "单位" and {r[0] for r in children[1:]} == {c.name for c in month.communities}
    response = client.get("/console/dashboard/export.csv", query_string=period)
    text = response.get_data().decode("utf-8-sig")
    assert response.get_data().startswith(b"\xef\xbb\xbf") and "按类别" in text and "受理量" in text


def test_dashboard_export_keeps_to_the_scope(client, month):
    sign_in_as(client, month.workers[0])
    response = client.get("/console/dashboard/export.xlsx", query_string={"community_id": month.communities[0].id})
    assert response.status_code == 404


def test_monthly_report_has_a_sheet_per_community(client, month):
    sign_in_as(client, month.street_staff)
    street = month.registry.street
    response = client.get("/console/reports/monthly.xlsx", query_string={"street": street.id, "month": "2026-11"})
    workbook = _xlsx(response)
    assert workbook.sheetnames == [f"{street.name}汇总", *[c.name for c in month.communities]]
    first = _sheet_rows(workbook, month.communities[0].name)
    assert ("按网格",) == tuple(v for v in next(r for r in first if r and r[0] == "按网格") if v)
    assert "热点（楼栋 × 类别）" in [r[0] for r in first if r]
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "data_exported")).one()
    assert entry.detail["what"] == "月度报表" and entry.detail["sheets"] == 3


def test_monthly_report_only_for_the_street(client, month):
    sign_in_as(client, month.registry.community_staff)
    street = month.registry.street
    response = client.get("/console/reports/monthly.xlsx", query_string={"street": street.id, "month": "2026-11"})
    assert response.status_code == 403 and "<html" in response.get_data(as_text=True).lower()
    assert client.get("/console/reports/monthly.xlsx", query_string={"street": 999, "month": "2026-11"}).status_code == 404
    client = _fresh(client)
    sign_in_as(client, month.admin)
    assert client.get("/console/reports/monthly.xlsx", query_string={"street": street.id, "month": "2026-13"}).status_code == 400
    assert client.get("/console/reports/monthly.xlsx", query_string={"street": street.id, "month": "2026-11"}).status_code == 200


def test_writers_keep_formulas_as_text_and_roll_over_long_sheets(app_ctx, monkeypatch):
    from webapp.exports import writers

    rows = [("=HYPERLINK(\"x\")", "+1", "a\x07b")]
    workbook, counts = write_xlsx([Sheet("表", ["甲", "乙", "丙"], [rows])])
    cells = _sheet_rows(openpyxl.load_workbook(workbook))
    assert cells[1] == ('=HYPERLINK("x")', "+1", "ab") and counts == {"表": 1}
    text = b"".join(csv_chunks([Sheet("表", ["甲"], [rows])])).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1" in text
    monkeypatch.setattr(writers, "SHEET_MAX_ROWS", 3)
    workbook, counts = write_xlsx([Sheet("工单", ["甲"], [[(1,), (2,), (3,)], [(4,), (5,)]])])
    loaded = openpyxl.load_workbook(workbook)
    assert loaded.sheetnames == ["工单", "工单（2）", "工单（3）"] and counts == {"工单": 5}
