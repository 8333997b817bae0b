"""Feed connector: RSS/Atom via feedparser on fetched bytes, conditional GET, dedupe, HTML fallback, no replies."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import feedparser
import pytest
import responses

from social_itsm_app.connectors import ConnectorError, get_connector
from social_itsm_app.connectors.base import decode_cursor
from social_itsm_app.connectors.feed import parse_payload
from tests.connectors.contract import FIXTURES, ContractCase, ContractSuite

URL = "https://status.example.com/history.rss"
ETAG = 'W/"5f1c-8a7b"'
MODIFIED = "Sun, 22 Nov 2026 10:00:05 GMT"
RSS = "application/rss+xml; charset=utf-8"


def doc(name: str) -> bytes:
	return (FIXTURES / "feed" / name).read_bytes()


def connector(**overrides):
	return get_connector("feed", {"url": URL, "http_backoff": 0, **overrides})


def register_success(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.GET, URL, body=doc("rss2.xml"), content_type=RSS, headers={"ETag": ETAG, "Last-Modified": MODIFIED})


class TestFeedContract(ContractSuite):
	case = ContractCase(
		network="feed",
		config={"url": URL},
		fetch_url=URL,
		register_success=register_success,
		rate_limit_headers={"Retry-After": "Sun, 22 Nov 2026 11:00:00 GMT"},
		expected_reset=datetime(2026, 11, 22, 11, 0, tzinfo=timezone.utc),
	)


def test_rss2_first_fetch_parses_every_field():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		result = connector().fetch()
		sent = rsps.calls[0].request.headers
	assert "If-None-Match" not in sent and "application/rss+xml" in sent["Accept"]
	newer, older = result.posts[1], result.posts[0]
	assert newer.external_id == "tag:status.example.com,2026:Incident/42"
	assert newer.network == "feed" and newer.kind == "feed"
	assert newer.text == (
		"Degraded performance: E-mail delivery 📧\n\n"
		"Investigating - Outbound mail is delayed by up to 30 minutes. Details: incident 42 (https://status.example.com/incidents/42)"
	)
	assert newer.url == "https://status.example.com/incidents/42"
	assert newer.created_at == datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
	assert newer.author_name == "Acme Ops Team" and newer.language == "en"
	assert older.author_name == "Acme Cloud Status & Incidents"  # no author: the feed's title
	assert older.text.endswith("R&D tested the failover.")  # double-escaped markup decodes to text, never tags
	assert json.dumps(newer.raw)  # raw stays storable
	state = decode_cursor(result.cursor)
	assert (state["etag"], state["modified"]) == (ETAG, MODIFIED)
	assert set(state["window"]["seen"]) == {p.external_id for p in result.posts}


def test_conditional_get_304_returns_nothing_and_the_same_cursor():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		first = connector().fetch()
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, status=304)
		second = connector().fetch(first.cursor)
		sent = rsps.calls[0].request.headers
	assert (sent["If-None-Match"], sent["If-Modified-Since"]) == (ETAG, MODIFIED)
	assert second.posts == [] and second.cursor == first.cursor


def test_reordered_and_republished_entries_never_come_back():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		first = connector().fetch()
	text = doc("rss2.xml").decode()
	items = text.split("<item>")
	# Same entries in reverse order, one re-published with a new date, plus one genuinely new entry.
	reordered = items[0] + "<item>" + items[2].replace("</channel>", "").replace("</rss>", "") + "<item>" + items[1]
	reordered = reordered.replace("Sun, 22 Nov 2026 10:00:00", "Sun, 22 Nov 2026 12:00:00")
	new_item = (
		"<item><title>Investigating: SSO login loops</title><link>https://status.example.com/incidents/43</link>"
		"<guid isPermaLink=\"false\">tag:status.example.com,2026:Incident/43</guid>"
		"<pubDate>Sun, 22 Nov 2026 11:00:00 +0000</pubDate></item>"
	)
	reordered = reordered.replace("<item>", new_item + "<item>", 1) + "</channel></rss>"
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, body=reordered.encode(), content_type=RSS)  # server ignored If-None-Match
		second = connector().fetch(first.cursor)
	assert [p.external_id for p in second.posts] == ["tag:status.example.com,2026:Incident/43"]
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, body=reordered.encode(), content_type=RSS)
		assert connector().fetch(second.cursor).posts == []


def test_an_entry_that_left_the_feed_and_returns_with_its_old_date_is_not_new():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		first = connector(dedupe_window_hours=1).fetch()
	# With a one-hour window, incident 41 (a day older than the newest) is below the floor and not kept.
	assert set(decode_cursor(first.cursor)["window"]["seen"]) == {"tag:status.example.com,2026:Incident/42"}
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		assert connector(dedupe_window_hours=1).fetch(first.cursor).posts == []


def test_atom_plain_text_content_is_cleaned_and_relative_links_resolved():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, "https://blog.example.org/feed.atom", body=doc("atom.xml"), content_type="application/atom+xml")
		posts = connector(url="https://blog.example.org/feed.atom").fetch().posts
	printers, maintenance = posts
	assert maintenance.external_id == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
	assert maintenance.url == "https://blog.example.org/2026/11/wartung"
	assert maintenance.created_at == datetime(2026, 11, 22, 8, 30, tzinfo=timezone.utc)
	assert (maintenance.author_name, maintenance.author_id) == ("Anna Schmidt", "anna@example.org")
	# type="text" content is not sanitised by feedparser: the <script> must still not survive.
	assert "<script" not in maintenance.text.lower() and "alert" not in maintenance.text
	assert maintenance.text.startswith("Wartung heute Nacht\n\nAb 22 Uhr ist das Ticketsystem offline.")
	assert "Danke für eure Geduld 🙏" in maintenance.text
	assert printers.text == "Neue Drucker\n\nIm 3. Stock stehen neue Drucker. 打印机已更换。"
	assert printers.language == "de"


def test_rss1_is_supported():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, body=doc("rss1.xml"), content_type="application/rdf+xml")
		(post,) = connector().fetch().posts
	assert post.external_id == "https://news.example.net/wifi"  # no guid: the link
	assert post.text == "Eduroam certificate renewed\n\nReconnect once to accept the new certificate."
	assert post.created_at == datetime(2026, 11, 19, 7, 0, tzinfo=timezone.utc)


def test_entry_without_id_or_link_gets_a_stable_hash_id():
	body = (
		b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://e.x/</link>'
		b"<item><title>Disk full on fs01</title><pubDate>Sun, 22 Nov 2026 10:00:00 +0000</pubDate></item>"
		b"</channel></rss>"
	)
	first, again = parse_payload(body), parse_payload({"body": body, "url": URL})
	assert first[0].external_id.startswith("sha256:") and first[0].external_id == again[0].external_id


def test_html_page_fallback_with_css_selector():
	page_url = "https://uni.example.edu/status"
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, page_url, body=doc("status.html"), content_type="text/html; charset=utf-8")
		result = connector(url=page_url, css_selector="li.incident").fetch()
	by_link = {p.url: p for p in result.posts}
	moodle = by_link["https://uni.example.edu/incidents/7"]
	assert moodle.external_id == "inc-7"
	assert moodle.created_at == datetime(2026, 11, 22, 8, 15, tzinfo=timezone.utc)
	assert "Login takes > 60 s." in moodle.text and "steal" not in moodle.text
	assert moodle.author_name == "Uni Status Board"
	printing = by_link[page_url]  # javascript: link dropped, the page itself is the link
	assert printing.external_id.startswith("sha256:") and "Floor 3 printers offline." in printing.text
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, page_url, body=doc("status.html"), content_type="text/html; charset=utf-8")
		assert connector(url=page_url, css_selector="li.incident").fetch(result.cursor).posts == []


def test_malformed_feed_and_html_without_selector_are_connector_errors():
	broken = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Status</title><item></chan'
	for body, content_type in ((broken, RSS), (b"<html><body>Login</body></html>", "text/html")):
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, URL, body=body, content_type=content_type)
			with pytest.raises(ConnectorError, match="not a valid RSS/Atom feed"):
				connector().fetch()


def test_feedparser_never_opens_urls(monkeypatch):
	def forbidden(*args, **kwargs):
		raise AssertionError("feedparser tried to open a URL")

	monkeypatch.setattr(feedparser.http, "get", forbidden)
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, body=b"https://evil.example/feed.xml", content_type="text/plain")
		with pytest.raises(ConnectorError):
			connector().fetch()


def test_replies_are_refused_publicly_and_privately():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		post = connector().fetch().posts[0]
	with responses.RequestsMock() as rsps:
		for private in (False, True):
			with pytest.raises(ConnectorError, match="cannot be answered"):
				connector().send_reply("Thanks for the update", post, private=private)
		assert len(rsps.calls) == 0


def test_verify_credentials_returns_the_feed_title():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		info = connector().verify_credentials()
	assert (info.id, info.handle, info.url) == (URL, "Acme Cloud Status & Incidents", "https://status.example.com/")


HOSTILE_TAILS = {"open tags": "<a " * 5000, "open quotes": "<a href='" * 5000, "open double quotes": '<a href="' * 5000}


@pytest.mark.parametrize("tail", HOSTILE_TAILS.values(), ids=HOSTILE_TAILS.keys())
def test_a_page_ending_in_open_tags_is_parsed_without_its_tail(tail):
	"""html.parser rescans to the end for every tag left open there: 4.6 s for 15 KB of "<a " after </html>."""
	from social_itsm_app.connectors.feed import parse_html_page, parseable_page

	body = ("<html><body><div class='incident' id='i1'>VPN down</div></body></html>" + tail).encode()
	assert parseable_page(body).endswith("</html>")
	start = time.perf_counter()
	_meta, posts = parse_html_page(body, "div.incident", "https://status.example.com/")
	assert time.perf_counter() - start < 2  # a guard against seconds per page, not a benchmark
	assert [post.text for post in posts] == ["VPN down"]


def test_a_page_in_its_own_charset_is_read_as_such():
	from social_itsm_app.connectors.feed import parseable_page

	body = '<html><head><meta charset="iso-8859-1"></head><body><p>Störung</p></body></html>'.encode("latin-1")
	assert "Störung" in parseable_page(body)
