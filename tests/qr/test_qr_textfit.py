"""Tests of qr.textfit and qr.cidfont: text is measured like reportlab and never overflows."""

from reportlab.pdfbase import pdfmetrics

from qr.cidfont import FONT_NAME, clean_text, text_width
from qr.textfit import ELLIPSIS, fit_text, truncate_text, wrap_text

ADDRESS = "山东省菏泽市牡丹区西城街道和平路与中华路交叉口向北二百米路东锦绣花园二期东区第十七号楼"


def test_text_width_matches_reportlab_metrics():
    for text in ["和平小区3号楼", "138****5678", "Building 17, Jinxiu Garden", "、（）·"]:
        assert abs(text_width(text, 13) - pdfmetrics.stringWidth(text, FONT_NAME, 13)) < 1e-9


def test_clean_text_collapses_whitespace_and_replaces_unencodable_characters():
    assert clean_text("  和平\t小区\n 3号楼 ") == "和平 小区 3号楼"
    assert clean_text("张三😀") == "张三?"
    assert clean_text("abc") == "abc"


def test_wrap_text_keeps_every_line_within_the_width():
    for width in (60, 100, 250):
        lines = wrap_text(ADDRESS, 12, width)
        assert len(lines) > 1
        assert all(text_width(line, 12) <= width for line in lines)
        assert "".join(lines) == ADDRESS


def test_wrap_text_keeps_latin_words_whole_and_punctuation_off_line_starts():
    lines = wrap_text("负责房屋安全、物业管理、电梯故障、Building safety and elevators", 12, 90)
    assert all(text_width(line, 12) <= 90 for line in lines)
    assert not any(line[0] in "、，。" for line in lines)
    assert "elevators" in lines[-1] and all("elevat" not in line or "elevators" in line for line in lines)


def test_wrap_text_breaks_a_word_longer_than_the_line():
    lines = wrap_text("x" * 200, 10, 100)
    assert len(lines) > 1 and all(text_width(line, 10) <= 100 for line in lines)


def test_fit_text_shrinks_before_wrapping_beyond_max_lines():
    size, lines = fit_text("和平小区3号楼", 500, max_size=46, min_size=18, max_lines=2)
    assert (size, lines) == (46, ["和平小区3号楼"])
    size, lines = fit_text(ADDRESS, 300, max_size=15, min_size=8, max_lines=2)
    assert 8 <= size < 15 and len(lines) == 2
    assert all(text_width(line, size) <= 300 for line in lines)


def test_fit_text_truncates_with_ellipsis_at_the_minimum_size():
    size, lines = fit_text(ADDRESS * 5, 200, max_size=15, min_size=8, max_lines=2)
    assert size == 8 and len(lines) == 2
    assert lines[-1].endswith(ELLIPSIS)
    assert all(text_width(line, size) <= 200 for line in lines)


def test_truncate_text_only_cuts_what_does_not_fit():
    assert truncate_text("短", 10, 100) == "短"
    cut = truncate_text(ADDRESS, 10, 100)
    assert cut.endswith(ELLIPSIS) and text_width(cut, 10) <= 100
