"""The security checks of the test command (tools/security_checks.py): what they accept comes
from docs/security-checks.md only, and a package they cannot audit is never a silent pass."""
from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checks():
    spec = importlib.util.spec_from_file_location("security_checks", ROOT / "tools" / "security_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_accepted_lists_are_read_from_the_doc_and_dated(checks):
    tables = checks.accepted_tables()
    assert "vulnerability" in tables  # the --ignore-vuln list, empty today
    held, problems = checks.held_back_packages(dt.date(2026, 11, 29))
    assert {"rq", "deprecated", "python-dateutil"} <= held and problems == []
    _, overdue = checks.held_back_packages(dt.date(2027, 3, 2))
    assert any("rq: review was due on 2027-03-01" in p for p in overdue)


def test_an_ignore_needs_a_row_with_a_reason_and_a_date(checks, tmp_path, monkeypatch):
    doc = tmp_path / "security-checks.md"
    doc.write_text(
        "| vulnerability | package | why it does not apply | review by |\n|---|---|---|---|\n"
        "| GHSA-aaaa-bbbb-cccc | Flask | not reachable | 2027-01-01 |\n"
        "| PYSEC-2026-1 | rq | old | someday |\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(checks, "ACCEPTED", doc)
    ignored, problems = checks.accepted_vulnerabilities(dt.date(2026, 12, 1))
    assert ignored == {"GHSA-aaaa-bbbb-cccc": "flask", "PYSEC-2026-1": "rq"}
    assert problems == ["PYSEC-2026-1: review date 'someday' is not YYYY-MM-DD"]


def test_the_tree_passes_bandit_and_every_marker_names_its_test_and_a_reason(checks, capsys):
    markers, problems = checks.nosec_markers()
    assert problems == [] and markers
    assert checks.run_bandit() == 0, capsys.readouterr().out


def test_a_finding_is_accepted_only_by_a_marker_naming_it_on_its_line(checks, tmp_path, monkeypatch, capsys):
    package = tmp_path / "webapp"
    package.mkdir()
    (package / "bad.py").write_text(
        'import subprocess\n'
        'password = "abc"  # nosec B105  # a fixture of the example\n'
        'secret = "abc"  # nosec\n'
        'subprocess.call("ls", shell=True)  # nosec B105  # names another test\n'
        'y = 1  # nosec B105  # the finding has gone away\n'
    )
    monkeypatch.setattr(checks, "ROOT", tmp_path)
    monkeypatch.setattr(checks, "BANDIT_TARGETS", ("webapp",))
    assert checks.run_bandit() == 1
    said = capsys.readouterr().out
    assert "webapp/bad.py:2" not in said  # accepted
    assert "webapp/bad.py:3: write `# nosec BXXX  # why`" in said
    assert "webapp/bad.py:3 B105" in said  # a bare marker accepts nothing
    assert "webapp/bad.py:4 B602" in said
    assert "webapp/bad.py:5: `# nosec` without the finding it names" in said
    assert "1 accepted" in said


def test_project_pages_audit_only_packages_at_their_latest_release(checks, monkeypatch):
    pages = {
        "flask": {"info": {"version": "3.1.3"}, "vulnerabilities": [
            {"id": "GHSA-x", "aliases": ["CVE-1"], "fixed_in": ["3.1.4"]},
            {"id": "GHSA-old", "withdrawn": "2026-01-01"},
        ]},
        "rq": {"info": {"version": "3.0.0"}, "vulnerabilities": []},
        "gone": None,
    }
    monkeypatch.setattr(checks, "_project_page", pages.get)
    audited, not_audited = checks.audit_on_project_pages({"flask": "3.1.3", "rq": "2.12.0", "gone": "1.0"})
    assert audited == {"flask": [pages["flask"]["vulnerabilities"][0]]}
    assert not_audited == {"rq": "2.12.0 installed, 3.0.0 is the latest", "gone": "PyPI did not answer"}


@pytest.mark.parametrize("ci, expected", [(True, 1), (False, 0)])
def test_an_unreachable_service_fails_under_ci_only(checks, monkeypatch, capsys, ci, expected):
    monkeypatch.setattr(checks, "IN_CI", ci)
    assert checks._unreachable("PyPI answered for none of 3 packages") == expected
    said = capsys.readouterr().out
    assert ("CI requires the dependency audit" in said) is ci
