"""A full poll cycle through a real connector (Mastodon) whose network is played by `responses`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import frappe
import responses
from frappe.tests.utils import FrappeTestCase

from social_itsm_app.ingest import jobs
from social_itsm_app.tests.utils import FIXTURES, remove_channel

BASE = "https://mastodon.example"
NOTIFICATIONS = f"{BASE}/api/v1/notifications"
CHANNEL = "Poll Cycle Mastodon"


def fixture(name: str):
	return json.loads((FIXTURES / "mastodon" / f"{name}.json").read_text())


def link(min_id: str) -> dict[str, str]:
	return {"Link": f'<{NOTIFICATIONS}?min_id={min_id}&types[]=mention>; rel="prev"'}


class TestPollCycle(FrappeTestCase):
	def setUp(self):
		remove_channel(CHANNEL)
		frappe.get_doc({
			"doctype": "Social Channel", "channel_name": CHANNEL, "network": "Mastodon", "base_url": BASE,
			"access_token": "tok-poll-secret", "poll_interval": 5,
		}).insert(ignore_permissions=True)
		frappe.db.commit()

	def tearDown(self):
		remove_channel(CHANNEL)

	def test_two_polls_store_each_post_once_and_advance_the_cursor(self):
		page = fixture("notifications_page1")
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			rsps.add(responses.GET, NOTIFICATIONS, json=page, headers=link(page[0]["id"]))
			rsps.add(responses.GET, NOTIFICATIONS, json=[])
			first = jobs.fetch_channel(CHANNEL)
			self.assertEqual((first["status"], first["stored"]), ("ok", len(page)))
			cursor = frappe.db.get_value("Social Channel", CHANNEL, "cursor")
			self.assertIn(page[0]["id"], cursor)

			rsps.replace(responses.GET, NOTIFICATIONS, json=[])
			second = jobs.fetch_channel(CHANNEL)
			self.assertEqual((second["status"], second["stored"]), ("ok", 0))
			sent = parse_qs(urlparse(rsps.calls[-1].request.url).query)
			self.assertEqual(sent.get("min_id"), [page[0]["id"]])
			for call in rsps.calls:
				self.assertEqual(call.request.headers["Authorization"], "Bearer tok-poll-secret")

		rows = frappe.get_all("Social Post", filters={"channel": CHANNEL}, fields=["external_id", "text", "network", "kind", "url"])
		self.assertEqual(len(rows), len(page))
		self.assertEqual({r.external_id for r in rows}, {n["status"]["id"] for n in page})
		for row in rows:
			self.assertEqual(row.network, "Mastodon")
			self.assertIn(row.kind, ("mention", "direct"))  # a mention with direct visibility is a DM
			self.assertNotIn("<script", row.text.lower())
		self.assertEqual(frappe.db.get_value("Social Channel", CHANNEL, "status"), "Active")

	def test_a_429_pauses_the_channel_until_the_network_says(self):
		reset = (datetime.now(timezone.utc) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, NOTIFICATIONS, status=429, json={"error": "Too many requests"},
				headers={"X-RateLimit-Reset": reset})
			summary = jobs.fetch_channel(CHANNEL)
		self.assertEqual(summary["status"], "Rate Limited")
		channel = frappe.get_doc("Social Channel", CHANNEL)
		self.assertEqual(channel.status, "Rate Limited")
		self.assertIsNotNone(channel.paused_until)
		self.assertNotIn("tok-poll-secret", channel.last_error or "")
