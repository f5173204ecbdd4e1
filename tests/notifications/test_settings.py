"""The notification settings read at config load: WECHAT_MINIPROGRAM_STATE, WECHAT_MESSAGE_LANG
and WECHAT_LONG_TERM_TEMPLATES. A bad value stops the app at start-up with a clear message."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp import config

REPO = Path(__file__).resolve().parents[2]


def _start(**env) -> subprocess.CompletedProcess:
    """Load the config in a fresh interpreter, as the app does at start-up."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    return subprocess.run(
        [sys.executable, "-c", "import webapp.config as c; print(c.Config.WECHAT_MINIPROGRAM_STATE, "
         "c.Config.WECHAT_MESSAGE_LANG, sorted(c.Config.WECHAT_LONG_TERM_TEMPLATES))"],
        cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


def test_defaults_are_formal_and_zh_cn_and_no_long_term_template():
    started = _start()
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["formal", "zh_CN", "[]"]


def test_good_values_are_taken():
    started = _start(
        WECHAT_MINIPROGRAM_STATE="trial", WECHAT_MESSAGE_LANG="en_US",
        WECHAT_TEMPLATES='{"ticket_dispatched": {"id": "T-LONG"}, "ticket_resolved": "T-ONCE"}',
        WECHAT_TEMPLATE_TICKET_OVERDUE="T-LONG-2",
        WECHAT_LONG_TERM_TEMPLATES="T-LONG, T-LONG-2",
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "trial en_US ['T-LONG', 'T-LONG-2']"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WECHAT_MINIPROGRAM_STATE": "beta"},
         "WECHAT_MINIPROGRAM_STATE must be one of developer, trial, formal, not 'beta'"),
        ({"WECHAT_MINIPROGRAM_STATE": "Formal"},
         "WECHAT_MINIPROGRAM_STATE must be one of developer, trial, formal, not 'Formal'"),
        ({"WECHAT_MESSAGE_LANG": "zh-CN"},
         "WECHAT_MESSAGE_LANG must be one of zh_CN, en_US, zh_HK, zh_TW, not 'zh-CN'"),
        ({"WECHAT_TEMPLATES": '{"ticket_dispatched": "T-1"}', "WECHAT_LONG_TERM_TEMPLATES": "T-1,T-TYPO"},
         "WECHAT_LONG_TERM_TEMPLATES names template ids no kind of notice uses"),
    ],
)
def test_a_bad_value_stops_the_start_with_a_clear_message(env, message):
    started = _start(**env)
    assert started.returncode != 0
    assert "RuntimeError" in started.stderr and message in started.stderr


def test_choice_helper(monkeypatch):
    monkeypatch.setenv("WECHAT_MINIPROGRAM_STATE", " developer ")
    assert config._choice("WECHAT_MINIPROGRAM_STATE", "formal", config.MINIPROGRAM_STATES) == "developer"
    monkeypatch.setenv("WECHAT_MINIPROGRAM_STATE", "")
    assert config._choice("WECHAT_MINIPROGRAM_STATE", "formal", config.MINIPROGRAM_STATES) == "formal"
    monkeypatch.setenv("WECHAT_MINIPROGRAM_STATE", "release")
    with pytest.raises(RuntimeError, match="must be one of developer, trial, formal"):
        config._choice("WECHAT_MINIPROGRAM_STATE", "formal", config.MINIPROGRAM_STATES)


def test_long_term_templates_helper(monkeypatch):
    templates = {"ticket_dispatched": "T-1", "ticket_resolved": {"id": "T-2", "fields": {}}}
    monkeypatch.setenv("WECHAT_LONG_TERM_TEMPLATES", "T-1 T-2")
    assert config._long_term_templates(templates) == frozenset({"T-1", "T-2"})
    monkeypatch.setenv("WECHAT_LONG_TERM_TEMPLATES", "")
    assert config._long_term_templates(templates) == frozenset()
    monkeypatch.setenv("WECHAT_LONG_TERM_TEMPLATES", "T-3")
    with pytest.raises(RuntimeError, match="T-3"):
        config._long_term_templates(templates)
