"""Ingest inside a real site: storing batches, dedupe, identities, threads, channel health."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, now_datetime

from social_itsm_app.channels.runtime import persist_state
from social_itsm_app.connectors import AuthError, ConnectorError, FetchResult, RateLimited
from social_itsm_app.ingest import jobs
from social_itsm_app.ingest.store import store_posts
from social_itsm_app.tests.utils import (
	HOST,
	NO_HOST,
	TICKET,
	FakeConnector,
	forget_rules,
	make_channel,
	remove_channel,
	social_post,
)
from social_itsm_app.tickets.convert import attach_linked, convert_post


class TestStorePosts(FrappeTestCase):
	def setUp(self):
		self.channel = make_channel().name

	def test_batch_is_stored_once_with_identities_and_scores(self):
		posts = [social_post("s-1"), social_post("s-2", "Thanks, all good now!", author="bob")]
		first = store_posts(self.channel, "Mastodon", posts)
		self.assertEqual(len(first.new), 2)
		again = store_posts(self.channel, "Mastodon", posts + [social_post("s-3", author="alice")])
		self.assertEqual((len(again.new), again.duplicates), (1, 2))
		rows = frappe.get_all("Social Post", filters={"channel": self.channel}, fields=["external_id", "social_identity",
			"urgency", "sentiment", "status", "posted_at", "raw"], order_by="posted_at")
		self.assertEqual([r.external_id for r in rows], ["s-1", "s-2", "s-3"])
		self.assertEqual(rows[0].social_identity, rows[2].social_identity)  # same person, same identity
		self.assertNotEqual(rows[0].social_identity, rows[1].social_identity)
		self.assertGreater(rows[0].urgency, 0.3)
		self.assertGreater(rows[1].sentiment, 0)
		self.assertEqual(json.loads(rows[0].raw), {"id": "s-1"})
		self.assertEqual(frappe.db.count("Social Identity", {"network": "Mastodon", "author_id": "id-alice"}), 1)

	def test_rules_decide_status(self):
		frappe.get_doc({"doctype": "Social Listening Rule", "rule_name": "Ignore lunch", "priority": 1,
			"action": "Ignore", "keywords": "lunch"}).insert(ignore_permissions=True)
		forget_rules(type(self))
		store_posts(self.channel, "Mastodon", [social_post("r-1", "What's for lunch?")])
		row = frappe.db.get_value("Social Post", {"external_id": "r-1"}, ["status", "matched_rule"], as_dict=True)
		self.assertEqual((row.status, row.matched_rule), ("Ignored", "Ignore lunch"))


class TestThreads(FrappeTestCase):
	"""attach_linked commits per post (as the job does), so this class cleans up after itself."""

	def setUp(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		self.channel = make_channel("Thread Mastodon").name

	def tearDown(self):
		remove_channel(self.channel)

	def test_a_reply_in_a_converted_thread_lands_on_the_ticket(self):
		store_posts(self.channel, "Mastodon", [social_post("t-1", "Printer on floor 3 is broken", thread_id="t-1")])
		root = frappe.db.get_value("Social Post", {"channel": self.channel, "external_id": "t-1"})
		ticket = convert_post(root)["ticket"]
		batch = store_posts(self.channel, "Mastodon", [
			social_post("t-2", "Still broken after restart", thread_id="t-1", in_reply_to_id="t-1"),
		])
		self.assertEqual(len(batch.linked), 1)
		attach_linked(batch.linked)
		reply = frappe.get_doc("Social Post", batch.linked[0])
		self.assertEqual((reply.status, reply.ticket), ("Linked", ticket))
		messages = frappe.get_all("Communication", filters={"reference_doctype": TICKET, "reference_name": ticket,
			"sent_or_received": "Received"}, pluck="content")
		self.assertEqual(len(messages), 2)
		self.assertTrue(any("Still broken after restart" in m for m in messages))


class TestFetchJob(FrappeTestCase):
	"""The job commits (posts and cursor together), so these tests commit their setup and clean up after."""

	def setUp(self):
		self.channel = make_channel("Job Mastodon")
		frappe.db.set_value("Social Channel", self.channel.name, {"cursor": '{"min_id":"100"}', "status": "Active",
			"consecutive_failures": 0, "next_fetch_at": None})
		frappe.db.commit()

	def tearDown(self):
		remove_channel(self.channel.name)

	def fetch(self, connector):
		def build(doc, session=None):
			connector.on_state_saved = lambda state: persist_state(doc.name, state)  # as runtime.build_connector
			return connector

		with patch.object(jobs, "build_connector", side_effect=build):
			return jobs.fetch_channel(self.channel.name)

	def test_success_stores_posts_and_advances_cursor_together(self):
		connector = FakeConnector(FetchResult([social_post("j-1"), social_post("j-2")], '{"min_id":"102"}'))
		summary = self.fetch(connector)
		self.assertEqual((summary["stored"], summary["duplicates"]), (2, 0))
		self.assertEqual(connector.cursors, ['{"min_id":"100"}'])
		channel = frappe.get_doc("Social Channel", self.channel.name)
		self.assertEqual(channel.cursor, '{"min_id":"102"}')
		self.assertEqual(channel.status, "Active")
		self.assertGreater(channel.next_fetch_at, now_datetime())
		again = self.fetch(FakeConnector(FetchResult([social_post("j-2")], '{"min_id":"102"}')))
		self.assertEqual((again["stored"], again["duplicates"]), (0, 1))

	def test_a_job_that_dies_after_storing_loses_and_doubles_nothing(self):
		connector = FakeConnector(FetchResult([social_post("k-1"), social_post("k-2")], '{"min_id":"200"}'))
		with patch.object(jobs, "record_success", side_effect=RuntimeError("worker killed")):
			with self.assertRaises(RuntimeError):
				self.fetch(connector)
		frappe.db.rollback()  # what the worker's job wrapper does
		self.assertEqual(frappe.db.count("Social Post", {"external_id": ("in", ["k-1", "k-2"])}), 0)
		self.assertEqual(frappe.db.get_value("Social Channel", self.channel.name, "cursor"), '{"min_id":"100"}')
		# The failure is visible on the channel and backs off rather than retrying every minute.
		self.assertEqual(frappe.db.get_value("Social Channel", self.channel.name, "status"), "Failing")
		summary = self.fetch(FakeConnector(FetchResult([social_post("k-1"), social_post("k-2")], '{"min_id":"200"}')))
		self.assertEqual(summary["stored"], 2)
		self.assertEqual(frappe.db.count("Social Post", {"external_id": ("in", ["k-1", "k-2"])}), 2)

	def test_a_copy_paste_flood_spread_over_polls_is_caught(self):
		frappe.cache().delete_value(jobs.spam_guard_key(self.channel.name))
		flood = "Win a brand new laptop today, reply to claim it"
		statuses = []
		for poll in range(3):  # one copy per poll, each from another account
			post = social_post(f"f-{poll}", flood, author=f"bot{poll}")
			self.fetch(FakeConnector(FetchResult([post], f'{{"min_id":"{300 + poll}"}}')))
			statuses.append(frappe.db.get_value("Social Post", {"channel": self.channel.name, "external_id": post.external_id}, "status"))
		self.assertEqual(statuses, ["New", "New", "Spam"])

	def test_rate_limit_pauses_until_reset(self):
		reset = datetime.now(timezone.utc) + timedelta(minutes=15)
		self.fetch(FakeConnector(error=RateLimited("slow down", reset_at=reset)))
		channel = frappe.get_doc("Social Channel", self.channel.name)
		self.assertEqual(channel.status, "Rate Limited")
		self.assertGreaterEqual(channel.paused_until, add_to_date(now_datetime(), minutes=14))
		self.assertGreaterEqual(channel.next_fetch_at, channel.paused_until)
		self.assertEqual(channel.cursor, '{"min_id":"100"}')
		self.assertNotIn(self.channel.name, jobs.due_channels())

	def test_refused_credentials_pause_and_notify_once(self):
		before = frappe.db.count("Notification Log", {"document_name": self.channel.name})
		for _ in range(3):
			self.fetch(FakeConnector(error=AuthError("401 token revoked")))
		channel = frappe.get_doc("Social Channel", self.channel.name)
		self.assertEqual(channel.status, "Needs Re-authentication")
		self.assertNotIn(self.channel.name, jobs.due_channels(add_to_date(now_datetime(), days=1)))
		after = frappe.db.count("Notification Log", {"document_name": self.channel.name})
		self.assertEqual(after - before, len(jobs.system_managers()))

	def test_failures_back_off_and_are_logged_without_secrets(self):
		for _ in range(2):
			self.fetch(FakeConnector(error=ConnectorError("HTTP 503 upstream")))
		channel = frappe.get_doc("Social Channel", self.channel.name)
		self.assertEqual((channel.status, channel.consecutive_failures), ("Failing", 2))
		self.assertGreaterEqual(channel.next_fetch_at, add_to_date(now_datetime(), minutes=19))
		log = frappe.get_last_doc("Error Log", filters={"reference_name": self.channel.name})
		self.assertIn("503", log.error)

	def test_rotated_tokens_are_kept_even_when_the_fetch_fails(self):
		from social_itsm_app.channels.runtime import load_state

		self.fetch(FakeConnector(error=ConnectorError("boom"), saved_state={"access_jwt": "new-token"}))
		self.assertEqual(load_state(self.channel.name)["access_jwt"], "new-token")


class TestScheduler(FrappeTestCase):
	def test_due_channels_one_query(self):
		channel = make_channel("Due Mastodon").name
		frappe.db.set_value("Social Channel", channel, {"next_fetch_at": add_to_date(now_datetime(), minutes=-1), "status": "Active", "enabled": 1})
		self.assertIn(channel, jobs.due_channels())
		frappe.db.set_value("Social Channel", channel, "next_fetch_at", add_to_date(now_datetime(), minutes=5))
		self.assertNotIn(channel, jobs.due_channels())
		frappe.db.set_value("Social Channel", channel, {"next_fetch_at": None, "enabled": 0})
		self.assertNotIn(channel, jobs.due_channels())


class TestRetention(FrappeTestCase):
	def test_old_unticketed_posts_are_purged_and_ticketed_ones_kept(self):
		from social_itsm_app.ingest.retention import purge_old_posts

		channel = make_channel("Retention Mastodon").name
		store_posts(channel, "Mastodon", [social_post("old-1"), social_post("old-2"), social_post("new-1")])
		old = frappe.get_all("Social Post", filters={"channel": channel, "external_id": ("in", ["old-1", "old-2"])}, pluck="name")
		frappe.db.set_value("Social Post", {"name": ("in", old)}, "creation", add_to_date(now_datetime(), days=-400))
		frappe.db.set_value("Social Post", old[1], {"status": "Converted", "ticket_doctype": TICKET or "HD Ticket", "ticket": "1"})
		settings = frappe.get_single("Social ITSM Settings")
		settings.retention_days = 90
		settings.save()
		with patch.object(frappe.db, "commit"):
			self.assertEqual(purge_old_posts(), 1)
		remaining = frappe.get_all("Social Post", filters={"channel": channel}, pluck="external_id")
		self.assertEqual(sorted(remaining), sorted([frappe.db.get_value("Social Post", old[1], "external_id"), "new-1"]))
