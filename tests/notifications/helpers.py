"""What the notification tests share: WeChat's URLs as the gateway calls them, the sends seen."""
from __future__ import annotations

import json

from webapp.wechat import SUBSCRIBE_SEND_URL

TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/token"
STABLE_TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/stable_token"


def sends(mock) -> list[dict]:
    """The bodies of the subscribeMessage.send requests `responses` saw, in order."""
    return [
        json.loads(call.request.body)
        for call in mock.calls
        if call.request.url.startswith(SUBSCRIBE_SEND_URL)
    ]
