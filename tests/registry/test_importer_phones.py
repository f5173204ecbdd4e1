"""The one table's phone columns for the signs: 社区.办公电话, 人员.工作电话 and 公示电话."""
from __future__ import annotations

from sqlalchemy import select

from tests.registry.test_importer import import_and_commit, sheets_file
from webapp.demo import SAMPLE_CSV_DIR, SAMPLE_XLSX
from webapp.extensions import db
from webapp.people.models import Person
from webapp.registry.importer import import_registry_file, preview_registry, read_registry_file
from webapp.registry.models import Community


def person(code: str) -> Person:
    return db.session.scalars(select(Person).where(Person.code == code)).one()


def test_sample_sets_office_phones_and_published_work_phones(app_ctx):
    import_and_commit(SAMPLE_XLSX)

    offices = dict(db.session.execute(select(Community.code, Community.office_phone)).all())
    assert offices == {"FH-01": "0530-8211001", "FH-02": "0530-8211002"}
    assert (person("P011").work_phone, person("P011").publish_phone) == ("15305300011", True)
    assert (person("P015").work_phone, person("P015").publish_phone) == ("15305300015", False)
    assert (person("P013").work_phone, person("P013").publish_phone) == (None, False)


def test_csv_sample_matches_the_workbook(app_ctx):
    import_and_commit(SAMPLE_CSV_DIR)
    assert person("P021").work_phone == "0530-8233021" and person("P021").publish_phone


def test_a_file_without_the_phone_columns_leaves_stored_phones_alone(app_ctx, tmp_path):
    import_and_commit(SAMPLE_XLSX)

    def drop_phone_columns(sheets):
        header, rows = sheets["社区"]
        sheets["社区"] = (header[:3], [row[:3] for row in rows])
        header, rows = sheets["人员"]
        sheets["人员"] = (header[:6], [row[:6] for row in rows])

    report = import_registry_file(sheets_file(tmp_path, drop_phone_columns))
    assert report.ok and report.changed == 0
    db.session.commit()
    assert person("P011").work_phone == "15305300011"
    assert db.session.scalars(select(Community.office_phone).where(Community.code == "FH-01")).one()


def test_bad_phone_cells_are_reported_with_reasons(app_ctx, tmp_path):
    def edit(sheets):
        communities = sheets["社区"][1]
        communities[0] = communities[0][:3] + ("8211001",)
        people = sheets["人员"][1]
        index = next(i for i, row in enumerate(people) if row[0] == "P013")
        people[index] = people[index][:6] + ("", "是")
        index = next(i for i, row in enumerate(people) if row[0] == "P014")
        people[index] = people[index][:6] + ("15305300014", "也许")

    report = import_registry_file(sheets_file(tmp_path, edit))

    messages = [str(e) for e in report.errors]
    assert "[社区] 第2行：办公电话 8211001 不是有效的电话号码（如 0530-8123456 或11位手机号）" in messages
    assert any(m.startswith("[人员]") and "公示电话为“是”时须填写工作电话" in m for m in messages)
    assert any(m.startswith("[人员]") and "公示电话应填“是”或“否”，而不是“也许”" in m for m in messages)
    db.session.rollback()
    assert db.session.scalar(select(Community.id).limit(1)) is None  # nothing written


def test_preview_counts_changes_and_writes_nothing(app_ctx, tmp_path):
    import_and_commit(SAMPLE_XLSX)

    def change_office(sheets):
        communities = sheets["社区"][1]
        communities[1] = communities[1][:3] + ("0530-8299999",)

    report = preview_registry(read_registry_file(sheets_file(tmp_path, change_office)))

    assert report.ok and report.counts["社区"].updated == 1
    assert report.counts["社区"].updated_keys == ["FH-02"]
    db.session.commit()
    assert db.session.scalars(select(Community.office_phone).where(Community.code == "FH-02")).one() == "0530-8211002"
