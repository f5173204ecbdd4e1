"""flask registry import: a Chinese summary, every bad row listed, nothing written on errors."""
from __future__ import annotations

from openpyxl import load_workbook
from sqlalchemy import func, select

from webapp.demo import SAMPLE_CSV_DIR, SAMPLE_XLSX
from webapp.extensions import db
from webapp.people.models import Person
from webapp.registry.models import Building


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_registry_import_prints_counts_and_commits(app, runner):
    result = runner.invoke(args=["registry", "import", str(SAMPLE_XLSX)])

    assert result.exit_code == 0, result.output
    assert "楼栋：新增 30，更新 0，未变 0" in result.output
    assert "导入完成" in result.output
    assert count(app, Building) == 30


def test_registry_import_dry_run_writes_nothing(app, runner):
    result = runner.invoke(args=["registry", "import", str(SAMPLE_CSV_DIR), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "人员：新增 16" in result.output
    assert "未写入数据库" in result.output
    assert count(app, Person) == 0


def test_registry_import_lists_bad_rows_and_exits_non_zero(app, runner, tmp_path):
    workbook = load_workbook(SAMPLE_XLSX)
    workbook["楼栋"]["D12"] = "G-99"
    workbook["人员"]["D3"] = "楼长"
    path = tmp_path / "bad.xlsx"
    workbook.save(path)

    result = runner.invoke(args=["registry", "import", str(path)])

    assert result.exit_code == 1
    assert "[楼栋] 第12行：网格编码 G-99 不存在" in result.output
    assert "[人员] 第3行：角色“楼长”无效" in result.output
    assert "共 2 处错误，本次导入未写入任何数据" in result.output
    assert count(app, Building) == 0


def test_registry_import_refuses_an_unknown_kind_of_file(runner, tmp_path):
    path = tmp_path / "registry.txt"
    path.write_text("编码,名称", encoding="utf-8")

    result = runner.invoke(args=["registry", "import", str(path)])

    assert result.exit_code != 0
    assert "请提供 .xlsx 文件或存放 CSV 文件的文件夹" in result.output
