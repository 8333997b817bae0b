"""Hostile networks and faults inside a real site: rotated tokens, rate limits, the backlog, bad posts."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from unittest.mock import patch

import frappe
import responses
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, now_datetime

from social_itsm_app.channels import runtime
from social_itsm_app.channels.runtime import load_state, save_state
from social_itsm_app.ingest import jobs
from social_itsm_app.ingest.store import store_posts
from social_itsm_app.tests.utils import FIXTURES, forget_rules, remove_channel, social_post

X_API = "https://api.x.com"
MASTODON = "https://mastodon.example"
NOTIFICATIONS = f"{MASTODON}/api/v1/notifications"


def fixture(network: str, name: str):
	return json.loads((FIXTURES / network / f"{name}.json").read_text())


class ChannelCase(FrappeTestCase):
	CHANNEL = ""

	def tearDown(self):
		remove_channel(self.CHANNEL)
		frappe.db.delete("Social Listening Rule", {"rule_name": ("like", "Hardening %")})
		frappe.db.commit()
		forget_rules()

	def make(self, **values) -> str:
		remove_channel(self.CHANNEL)
		frappe.get_doc({"doctype": "Social Channel", "channel_name": self.CHANNEL, "poll_interval": 5, **values}).insert(
			ignore_permissions=True
		)
		frappe.db.commit()
		return self.CHANNEL


class TestRotatedTokens(ChannelCase):
	CHANNEL = "Hardening X"

	def setUp(self):
		self.make(network="X", access_token="old-bearer-token", account_id="2244994945", refresh_token="refresh-one",
			client_id="client-id")
		save_state(self.CHANNEL, {"token_expires_at": "2001-01-01T00:00:00+00:00"})  # expired: refresh first
		frappe.db.commit()

	def test_a_rotated_refresh_token_is_kept_even_when_the_fetch_then_fails(self):
		refreshed = fixture("x", "token_refreshed")
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			rsps.add(responses.POST, f"{X_API}/2/oauth2/token", json=refreshed)
			rsps.add(responses.GET, f"{X_API}/2/users/2244994945/mentions", status=400,
				json={"title": "Invalid Request", "detail": "boom"})
			summary = jobs.fetch_channel(self.CHANNEL)
		self.assertEqual(summary["status"], "Failing")
		# The old refresh token is spent: losing the new one would log the channel out for good.
		self.assertEqual(load_state(self.CHANNEL).get("refresh_token"), refreshed["refresh_token"])
		self.assertNotIn(refreshed["refresh_token"], frappe.db.get_value("Social Channel", self.CHANNEL, "last_error") or "")

	def test_one_job_at_a_time_uses_credentials_the_network_rotates(self):
		lock = frappe.cache().lock(f"{frappe.local.site}:social_itsm_credentials:{self.CHANNEL}", timeout=30)
		self.assertTrue(lock.acquire(blocking=False))
		try:
			with patch.object(runtime, "CREDENTIALS_WAIT_SECONDS", 1), responses.RequestsMock() as rsps:
				summary = jobs.fetch_channel(self.CHANNEL)
				self.assertEqual(len(rsps.calls), 0)  # the holder may be refreshing: no second refresh
		finally:
			lock.release()
		self.assertEqual(summary["status"], "Failing")
		self.assertIn("another job is using the credentials", summary["error"])
		self.assertEqual(load_state(self.CHANNEL).get("refresh_token"), None)


class TestRateLimitCap(ChannelCase):
	CHANNEL = "Hardening Mastodon 429"

	def test_a_retry_after_of_a_century_pauses_for_a_day_at_most(self):
		self.make(network="Mastodon", base_url=MASTODON, access_token="tok-429")
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, NOTIFICATIONS, status=429, json={"error": "slow down"},
				headers={"Retry-After": str(100 * 365 * 24 * 3600)})
			summary = jobs.fetch_channel(self.CHANNEL)
		self.assertEqual(summary["status"], "Rate Limited")
		paused = frappe.db.get_value("Social Channel", self.CHANNEL, "paused_until")
		self.assertLessEqual(paused, add_to_date(now_datetime(), hours=24, minutes=1))


class TestBacklog(ChannelCase):
	CHANNEL = "Hardening Backlog"

	def test_the_first_fetch_lands_history_for_agents_and_rules_act_only_on_new_posts(self):
		self.make(network="Mastodon", base_url=MASTODON, access_token="tok-backlog")
		frappe.get_doc({"doctype": "Social Listening Rule", "rule_name": "Hardening convert all", "priority": 0,
			"action": "Auto-convert to Ticket", "auto_reply_template": "Thanks {author_name}, ticket #{ticket}",
			"enabled": 1}).insert(ignore_permissions=True)
		frappe.db.commit()
		forget_rules()  # rules cached by an earlier test of this process
		page = fixture("mastodon", "notifications_page1")  # weeks old: the account's history
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			rsps.add(responses.GET, NOTIFICATIONS, json=page)
			summary = jobs.fetch_channel(self.CHANNEL)
		self.assertEqual((summary["status"], summary["backlog"]), ("ok", len(page)))
		posts = frappe.get_all("Social Post", filters={"channel": self.CHANNEL}, fields=["status", "is_backlog", "ticket"])
		self.assertEqual(len(posts), len(page))
		self.assertTrue(all(p.is_backlog and not p.ticket for p in posts), posts)
		self.assertEqual(frappe.db.count("Social Reply", {"channel": self.CHANNEL}), 0)  # nobody got an auto-reply
		channel = frappe.get_doc("Social Channel", self.CHANNEL)
		self.assertEqual(channel.backlog_posts, len(page))
		self.assertIsNotNone(channel.listening_since)

		fresh = json.loads(json.dumps(page[0]))
		fresh["id"] = "99999999"
		fresh["status"]["id"] = "99999998"
		fresh["status"]["created_at"] = datetime.now(timezone.utc).isoformat()
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			rsps.add(responses.GET, NOTIFICATIONS, json=[fresh])
			second = jobs.fetch_channel(self.CHANNEL)
		self.assertEqual((second["stored"], second["backlog"]), (1, 0))
		new_post = frappe.db.get_value("Social Post", {"channel": self.CHANNEL, "external_id": "99999998"},
			["status", "ticket", "is_backlog"], as_dict=True)
		self.assertEqual((new_post.status, new_post.is_backlog), ("Converted", 0))
		self.assertEqual(frappe.db.count("Social Reply", {"channel": self.CHANNEL}), 1)


class TestBadPosts(ChannelCase):
	CHANNEL = "Hardening Bad Posts"

	def test_one_post_the_database_refuses_is_logged_and_skipped_not_the_batch(self):
		self.make(network="Mastodon", base_url=MASTODON, access_token="tok-bad")
		posts = [social_post(f"bad-{i}", f"post {i}", author=f"author{i}") for i in (1, 2, 3)]
		real_insert = frappe.db.bulk_insert

		def refuse_bad_2(doctype, fields, rows, **kw):
			if doctype == "Social Post" and any("bad-2" in row for row in rows):
				raise frappe.DataError("Incorrect string value for column text")
			return real_insert(doctype, fields, rows, **kw)

		with patch.object(frappe.db, "bulk_insert", side_effect=refuse_bad_2):
			batch = store_posts(self.CHANNEL, "Mastodon", posts)
		self.assertEqual(batch.failed, ["bad-2"])
		self.assertEqual(len(batch.new), 2)
		stored = frappe.get_all("Social Post", filters={"channel": self.CHANNEL}, pluck="external_id")
		self.assertEqual(sorted(stored), ["bad-1", "bad-3"])
		self.assertTrue(frappe.db.exists("Error Log", {"method": ("like", "%post bad-2 of channel%")}))

	def test_every_stored_value_fits_its_column_and_hostile_strings_are_made_safe(self):
		self.make(network="Mastodon", base_url=MASTODON, access_token="tok-safe")
		post = social_post("safe-1", "lone \ud83d surrogate", author="x" * 500, language="e" * 500,
			thread_id="t" * 400)
		post.url = "javascript:alert(document.cookie)"
		post.raw = {"paging": {"next": "https://graph.facebook.com/v19.0/1/feed?access_token=EAABsecret&after=abc"},
			"access_token": "EAABsecret"}
		store_posts(self.CHANNEL, "Mastodon", [post])
		row = frappe.db.get_value("Social Post", {"channel": self.CHANNEL, "external_id": "safe-1"},
			["url", "text", "author_handle", "language", "thread_id", "raw"], as_dict=True)
		self.assertEqual(row.url, "")
		self.assertNotIn("\ud83d", row.text)
		self.assertLessEqual(len(row.language), 140)
		self.assertLessEqual(len(row.thread_id), 255)
		self.assertNotIn("EAABsecret", row.raw)
		self.assertIn("after=abc", row.raw)


class TestSecretsInErrorLog(ChannelCase):
	CHANNEL = "Hardening Secrets"

	def test_a_job_that_fails_inside_a_connector_logs_no_token(self):
		"""Frappe's job runner logs a failed job with every frame's local variables (the request headers, the
		connector's config); a surprise inside a connector must reach it as a redacted ConnectorError only."""
		from frappe.utils.background_jobs import execute_job

		self.make(network="Mastodon", base_url=MASTODON, access_token="tok-must-not-leak-9f3b")

		def explode(request):
			raise ZeroDivisionError("a bug deep in the network stack")

		before = frappe.db.count("Error Log")
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			rsps.add_callback(responses.GET, NOTIFICATIONS, callback=explode)
			try:
				execute_job(frappe.local.site, jobs.FETCH_JOB, None, "test", {"channel": self.CHANNEL}, is_async=False)
			except Exception:
				frappe.db.rollback()
		logs = frappe.get_all("Error Log", fields=["error"], order_by="creation desc", limit=frappe.db.count("Error Log") - before)
		self.assertTrue(logs, "the failure was logged")
		for log in logs:
			self.assertNotIn("tok-must-not-leak-9f3b", log.error)
		self.assertEqual(frappe.db.get_value("Social Channel", self.CHANNEL, "status"), "Failing")


class TestErrorMarkup(ChannelCase):
	CHANNEL = "Hardening Error Markup"

	def test_a_networks_error_page_is_stored_as_plain_text(self):
		"""last_error is a read-only text field, which the desk renders as HTML."""
		self.make(network="Mastodon", base_url=MASTODON, access_token="tok-markup")
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, NOTIFICATIONS, status=400, body='{"error": "<img src=x onerror=alert(1)>bad"}')
			jobs.fetch_channel(self.CHANNEL)
		error = frappe.db.get_value("Social Channel", self.CHANNEL, "last_error")
		self.assertIn("bad", error)
		self.assertNotIn("<img", error)
