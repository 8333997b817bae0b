"""Connector tests never use real DNS: feed hosts resolve to one fixed public address unless a test says otherwise.

The feed connector refuses hosts that resolve to private addresses (see feed.check_feed_url), and this
machine may have no resolver at all; tests that exercise the rule replace ``resolve_addresses`` themselves.
"""

from __future__ import annotations

import pytest

from social_itsm_app.connectors import feed

PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture(autouse=True)
def public_feed_hosts(monkeypatch):
	monkeypatch.setattr(feed, "resolve_addresses", lambda host, port: [PUBLIC_ADDRESS])
