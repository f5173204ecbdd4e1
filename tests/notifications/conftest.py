"""Fixtures of the notification tests: a configured WeChat gateway whose HTTP API is mocked
with `responses`, so the real gateway and wechatpy code run."""
from __future__ import annotations

import json

import pytest
import responses
from wechatpy.session.memorystorage import MemoryStorage

from tests.notifications.helpers import STABLE_TOKEN_URL, TOKEN_URL
from webapp.wechat import EXTENSION_KEY, WeChatGateway


@pytest.fixture
def wechat(app):
    """A configured WeChat gateway on the app, WeChat's HTTP API mocked; counts tokens issued
    (`mock.tokens`). Tests add the answers of subscribeMessage.send."""
    previous = app.extensions.get(EXTENSION_KEY)
    app.extensions[EXTENSION_KEY] = WeChatGateway("wx-test-app", "s3cret", storage=MemoryStorage())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        issued = []

        def token(request):
            issued.append(1)
            return 200, {}, json.dumps({"access_token": f"tok-{len(issued)}", "expires_in": 7200})

        # The gateway's token comes from the stable-token endpoint (POST); the classic one
        # (GET) is answered the same way.
        mock.add_callback(responses.POST, STABLE_TOKEN_URL, callback=token)
        mock.add_callback(responses.GET, TOKEN_URL, callback=token)
        mock.tokens = issued
        yield mock
    if previous is None:
        app.extensions.pop(EXTENSION_KEY, None)
    else:
        app.extensions[EXTENSION_KEY] = previous
