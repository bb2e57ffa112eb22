"""Guards every test: nothing may reach the real Slack.

A developer's shell may hold SLACK_BOT_TOKEN for their own workspace; with it, the demo and the
service would post to Slack's real API. Each test starts without the Slack variables; tests that
want Slack set them, pointing at ``tests.slack_server.FakeSlack`` on loopback.
"""

from __future__ import annotations

import pytest

SLACK_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SYNCWATCH_SLACK_API_URL")


@pytest.fixture(autouse=True)
def _no_real_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SLACK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
