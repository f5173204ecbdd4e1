"""A request as the server sends it: in a thread with no app context of its own yet.

A test holding an app context (the app_ctx fixture) makes the test client's requests share
it, its g and its session, and skip the app context's teardown (where the session ends);
a request sent from a new thread runs the whole request as production does."""
from __future__ import annotations

import threading


def in_own_thread(call, limit: float = 60):
    """call() in a new thread; its result (its exception, raised here). A call still running
    after `limit` seconds fails the test."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=limit)
    assert not thread.is_alive(), f"the call did not end within {limit} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
