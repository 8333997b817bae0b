"""Fetched feeds and pages (issue 13, items 8 and 9): https only, public addresses only (checked on every
redirect hop), redirects to another host without credentials, and a long feed delivered in several fetches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import responses

from social_itsm_app.connectors import ConnectorError
from social_itsm_app.connectors import feed as feed_module
from social_itsm_app.connectors.base import decode_cursor
from tests.connectors.conftest import PUBLIC_ADDRESS
from tests.connectors.test_feed import ETAG, MODIFIED, RSS, URL, connector, doc, register_success

CDN = "https://cdn.example.net/history.rss"


def resolving_to(*addresses: str, monkeypatch, hosts: dict[str, list[str]] | None = None) -> list[str]:
	"""Make every host resolve to ``addresses`` (or per host, from ``hosts``); returns the hosts asked for."""
	asked: list[str] = []

	def resolve(host: str, port: int) -> list[str]:
		asked.append(host)
		return (hosts or {}).get(host, list(addresses))

	monkeypatch.setattr(feed_module, "resolve_addresses", resolve)
	return asked


@pytest.mark.parametrize(
	"address",
	[
		"127.0.0.1",
		"10.0.0.5",
		"169.254.169.254",
		"::1",
		"::ffff:127.0.0.1",
		"fd00::1",
		"224.0.0.1",
		"0.0.0.0",
		"100.64.0.1",
		"fe80::1%eth0",
	],
)
def test_a_feed_on_a_private_or_local_address_is_refused_before_any_request(address, monkeypatch):
	resolving_to(address, monkeypatch=monkeypatch)
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		register_success(rsps)
		with pytest.raises(ConnectorError, match="private or local address"):
			connector().fetch()
		with pytest.raises(ConnectorError, match="private or local address"):
			connector().verify_credentials()
		assert len(rsps.calls) == 0
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		assert connector(allow_private_addresses=1).fetch().posts  # an intranet feed, when the admin says so


def test_a_public_address_is_allowed_and_every_resolved_address_is_checked(monkeypatch):
	asked = resolving_to(PUBLIC_ADDRESS, monkeypatch=monkeypatch)
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		assert connector().fetch().posts
	assert asked == ["status.example.com"]
	resolving_to(PUBLIC_ADDRESS, "2606:2800:220:1::1", "10.1.2.3", monkeypatch=monkeypatch)
	with pytest.raises(ConnectorError, match="10.1.2.3"):
		connector().fetch()


def test_a_name_that_does_not_resolve_is_a_connector_error(monkeypatch):
	def fail(host, port):
		raise OSError(-2, "Name or service not known")

	monkeypatch.setattr(feed_module, "resolve_addresses", fail)
	with pytest.raises(ConnectorError, match="does not resolve"):
		connector().fetch()


def test_plain_http_is_refused_unless_allowed():
	insecure = URL.replace("https://", "http://")
	with pytest.raises(ConnectorError, match="not an https:// address.*allow_insecure_http"):
		connector(url=insecure).fetch()
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, insecure, body=doc("rss2.xml"), content_type=RSS)
		assert connector(url=insecure, allow_insecure_http="1").fetch().posts


def test_a_redirect_to_another_host_goes_on_without_the_password_and_is_checked_again(monkeypatch):
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, status=301, headers={"Location": CDN})
		rsps.add(responses.GET, CDN, body=doc("rss2.xml"), content_type=RSS)
		result = connector(username="reader", password="feed-pass-SECRET").fetch()
		assert "Authorization" in rsps.calls[0].request.headers
		assert "Authorization" not in rsps.calls[1].request.headers
	assert result.posts
	resolving_to(
		monkeypatch=monkeypatch, hosts={"status.example.com": [PUBLIC_ADDRESS], "cdn.example.net": ["169.254.169.254"]}
	)
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		rsps.add(responses.GET, URL, status=302, headers={"Location": CDN})
		rsps.add(responses.GET, CDN, body=doc("rss2.xml"), content_type=RSS)
		with pytest.raises(ConnectorError, match="cdn.example.net.*private or local"):
			connector().fetch()
		assert [call.request.url for call in rsps.calls] == [URL]


def test_a_redirect_from_https_to_http_is_refused_even_when_http_is_allowed():
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		rsps.add(responses.GET, URL, status=302, headers={"Location": CDN.replace("https:", "http:")})
		with pytest.raises(ConnectorError, match="refusing to leave https"):
			connector(allow_insecure_http=True).fetch()


# --- items per fetch ---------------------------------------------------------------------------------------

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def long_feed(count: int) -> bytes:
	items = "".join(
		f'<item><title>Incident {n}</title><guid isPermaLink="false">tag:status.example.com,2026:{n}</guid>'
		f"<pubDate>{(START + timedelta(hours=n)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
		for n in reversed(range(count))  # newest first, as feeds list them
	)
	return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Status</title>{items}</channel></rss>'.encode()


def test_a_long_feed_comes_in_several_fetches_oldest_first_without_losing_an_entry():
	body, cursor, delivered, rounds = long_feed(25), None, [], []
	for _ in range(4):
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, URL, body=body, content_type=RSS, headers={"ETag": ETAG, "Last-Modified": MODIFIED})
			result = connector(max_items_per_fetch=10).fetch(cursor)
			# While entries wait, the next GET is unconditional: a 304 must not hide them.
			conditional = "If-None-Match" in rsps.calls[0].request.headers
		rounds.append((len(result.posts), result.has_more, conditional))
		delivered += [post.external_id for post in result.posts]
		cursor = result.cursor
	assert rounds == [(10, True, False), (10, True, False), (5, False, False), (0, False, True)]
	assert delivered == [f"tag:status.example.com,2026:{n}" for n in range(25)]
	assert decode_cursor(cursor)["etag"] == ETAG
