"""Tests of qr.urls: building URLs and reading the code back, also from WeChat's `q`."""

from urllib.parse import quote

from qr.codes import new_code
from qr.urls import building_url, code_from_url

BASE = "https://grid.example.gov.cn"


def test_building_url_appends_b_and_code():
    assert building_url(BASE, "Ab12") == "https://grid.example.gov.cn/b/Ab12"
    assert building_url(BASE + "/", "Ab12") == "https://grid.example.gov.cn/b/Ab12"
    assert building_url(BASE + "/grid/", "Ab12") == "https://grid.example.gov.cn/grid/b/Ab12"


def test_building_url_percent_encodes_reserved_characters():
    url = building_url(BASE, "a/b?c#d&e=f")
    assert url == "https://grid.example.gov.cn/b/a%2Fb%3Fc%23d%26e%3Df"
    assert building_url(BASE, "a-b._~") == "https://grid.example.gov.cn/b/a-b._~"


def test_code_from_url_round_trips():
    for code in [new_code() for _ in range(50)] + ["a/b?c#d", "!#$&'()*+,/:;=?@-._~", "x" * 32]:
        for base in (BASE, BASE + "/", "http://127.0.0.1:5000/prefix"):
            assert code_from_url(building_url(base, code)) == code


def test_code_from_url_tolerates_trailing_slash_and_query():
    assert code_from_url(BASE + "/b/Ab12/") == "Ab12"
    assert code_from_url(BASE + "/b/Ab12?from=poster#top") == "Ab12"


def test_code_from_url_reads_wechat_q_value():
    code = new_code()
    url = building_url(BASE, code)
    # The mini-program page gets the scanned URL URL-encoded in its `q` option.
    assert code_from_url(quote(url, safe="")) == code
    assert code_from_url(f"pages/scan/index?q={quote(url, safe='')}") == code
    assert code_from_url(f"https://example.com/launch?q={quote(url, safe='')}&scancode_time=1700000000") == code
    assert code_from_url(quote(quote(url, safe=""), safe="")) == code


def test_code_from_url_returns_none_without_a_valid_code():
    for url in [
        "",
        BASE,
        BASE + "/b/",
        BASE + "/x/Ab12",
        BASE + "/b/Ab12/extra",
        BASE + "/b/" + "x" * 33,
        BASE + "/b/%E4%B8%AD",
        BASE + "/b/a%20b",
        "not a url",
        "https%3A%2F%2Fgrid.example.gov.cn%2Fhome",
    ]:
        assert code_from_url(url) is None, url
