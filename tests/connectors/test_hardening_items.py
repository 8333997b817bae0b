"""Items per fetch are bounded without losing posts (issue 13, item 9).

The bound is on pages (``max_items_per_fetch`` lowers ``max_pages``), because every connector's cursor
already stops cleanly after its page bound and continues next time; see ``Connector._bound_pages``.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs, urlsplit

import responses

from social_itsm_app.connectors.base import decode_cursor, encode_cursor
from tests.connectors import test_discourse as discourse_case
from tests.connectors import test_mastodon as mastodon_case

PAGE = 40  # Mastodon page_size in these tests


def endless_mentions(request):
	"""Every page holds the next PAGE notifications after ``min_id`` and links to newer ones: a busy account."""
	after = int(parse_qs(urlsplit(request.url).query)["min_id"][0])
	template = mastodon_case.fx("notifications_page1")[0]
	page = []
	for number in range(after + PAGE, after, -1):  # newest first, as Mastodon answers
		item = copy.deepcopy(template)
		item["id"] = str(number)
		item["status"]["id"] = f"77{number}"
		item["status"]["created_at"] = f"2026-11-23T07:{number // 60 % 60:02d}:{number % 60:02d}.000Z"
		page.append(item)
	link = f'<{mastodon_case.NOTIFICATIONS}?min_id={after + PAGE}>; rel="prev"'
	return 200, {"Link": link}, json.dumps(page)


def test_mastodon_reads_only_the_pages_the_item_cap_allows_and_continues_without_a_gap():
	cursor = encode_cursor({"notifications": "1000"})
	seen: list[str] = []
	for _ in range(3):
		with responses.RequestsMock() as rsps:
			rsps.add_callback(responses.GET, mastodon_case.NOTIFICATIONS, callback=endless_mentions)
			result = mastodon_case.connector(page_size=PAGE, max_items_per_fetch=80).fetch(cursor)
			assert len(rsps.calls) == 2  # 80 items = 2 pages of 40, not the 5 pages max_pages allows
		assert len(result.posts) == 80 and result.has_more
		seen += [post.external_id for post in result.posts]
		cursor = result.cursor
	assert seen == [f"77{number}" for number in range(1001, 1241)]  # every post once, in order
	assert decode_cursor(cursor) == {"notifications": "1240"}


def test_a_small_cap_still_reads_one_page_and_connectors_without_page_size_use_their_page_items():
	with responses.RequestsMock() as rsps:
		rsps.add_callback(responses.GET, mastodon_case.NOTIFICATIONS, callback=endless_mentions)
		result = mastodon_case.connector(page_size=PAGE, max_items_per_fetch=5).fetch(
			encode_cursor({"notifications": "1"})
		)
		assert len(rsps.calls) == 1
	assert len(result.posts) == PAGE and result.has_more
	# Discourse pages are a fixed 50 posts: a cap of 120 allows 2 of its 10 pages.
	assert discourse_case.connector(max_items_per_fetch=120)._bound_pages() == 2
	assert discourse_case.connector()._bound_pages() == 10
