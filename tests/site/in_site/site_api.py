"""Whitelisted methods and people: permission checks, Test connection, Fetch now, Contacts for authors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest.mock import patch

import frappe
import responses
from frappe.tests.utils import FrappeTestCase
from site_foundation import AGENT_ROLE, make_user

from social_itsm_app import api
from social_itsm_app.ingest.identities import SYNTHETIC_DOMAIN, ensure_contact, link_contacts

BASE = "https://mastodon.example"
FIXTURES = Path(os.environ["SOCIAL_ITSM_REPO"]) / "tests" / "fixtures" / "mastodon"


def make_channel() -> str:
	name = "API Mastodon"
	if not frappe.db.exists("Social Channel", name):
		frappe.get_doc({"doctype": "Social Channel", "channel_name": name, "network": "Mastodon", "base_url": BASE,
			"access_token": "tok-api-secret"}).insert(ignore_permissions=True)
	return name


class TestChannelActions(FrappeTestCase):
	def test_test_connection_names_the_account(self):
		channel = make_channel()
		account = json.loads((FIXTURES / "verify_credentials.json").read_text())
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, f"{BASE}/api/v1/accounts/verify_credentials", json=account)
			result = api.test_connection(channel)
		self.assertTrue(result["ok"])
		self.assertEqual(result["account"]["handle"], account["acct"])

	def test_test_connection_explains_a_refusal_without_the_token(self):
		channel = make_channel()
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, f"{BASE}/api/v1/accounts/verify_credentials", status=401,
				json={"error": "The access token is invalid tok-api-secret"})
			result = api.test_connection(channel)
		self.assertFalse(result["ok"])
		self.assertIn("401", result["error"])
		self.assertNotIn("tok-api-secret", result["error"])

	def test_fetch_now_queues_one_job_per_channel(self):
		channel = make_channel()
		with patch("social_itsm_app.ingest.jobs.frappe.enqueue") as enqueue:
			result = api.fetch_now(channel)
		self.assertTrue(result["queued"])
		kwargs = enqueue.call_args.kwargs
		self.assertEqual((kwargs["job_id"], kwargs["deduplicate"], kwargs["channel"]),
			(f"social_itsm_fetch::{channel}", True, channel))

	def test_agents_and_strangers_cannot_use_channel_actions(self):
		channel = make_channel()
		for user in (make_user("api-agent@example.com", (AGENT_ROLE,)), make_user("api-nobody@example.com")):
			frappe.set_user(user)
			try:
				for method in (api.test_connection, api.fetch_now):
					with self.assertRaises(frappe.PermissionError):
						method(channel)
			finally:
				frappe.set_user("Administrator")

	def test_guests_reach_no_method(self):
		frappe.set_user("Guest")
		try:
			for method in ("social_itsm_app.api.test_connection", "social_itsm_app.api.fetch_now"):
				function = frappe.get_attr(method)
				self.assertNotIn(function, frappe.guest_methods)
				with self.assertRaises(frappe.PermissionError):
					function(make_channel())
		finally:
			frappe.set_user("Administrator")


class TestContacts(FrappeTestCase):
	def test_each_author_gets_a_never_mailed_contact(self):
		identity = frappe.get_doc({"doctype": "Social Identity", "network": "Bluesky", "author_id": "did:plc:abc123",
			"handle": "alice.bsky.social", "display_name": "Alice Example"}).insert(ignore_permissions=True)
		contact = ensure_contact(identity.name)
		self.assertEqual(ensure_contact(identity.name), contact)  # the same person, the same contact
		email = frappe.db.get_value("Social Identity", identity.name, "email")
		self.assertTrue(email.endswith("@" + SYNTHETIC_DOMAIN))
		self.assertEqual(frappe.db.get_value("Contact Email", {"parent": contact}, "email_id"), email)
		self.assertTrue(frappe.db.exists("Email Unsubscribe", {"email": email, "global_unsubscribe": 1}))
		self.assertIn("Alice Example", frappe.db.get_value("Contact", contact, "full_name"))
		# frappe's mail queue drops globally unsubscribed addresses: nothing is ever queued to this person.
		outgoing = frappe.get_doc({"doctype": "Email Account", "email_account_name": "Social ITSM test outbox",
			"email_id": "outbox@example.com", "enable_outgoing": 1, "default_outgoing": 1, "smtp_server": "127.0.0.1",
			"no_smtp_authentication": 1, "enable_incoming": 0})
		outgoing.flags.ignore_validate = True
		outgoing.insert(ignore_permissions=True)
		before = frappe.db.count("Email Queue Recipient", {"recipient": email})
		control = frappe.db.count("Email Queue Recipient", {"recipient": "real-person@example.com"})
		frappe.sendmail(recipients=[email, "real-person@example.com"], subject="Ticket update", message="hi", delayed=True)
		self.assertEqual(frappe.db.count("Email Queue Recipient", {"recipient": email}), before)
		self.assertEqual(frappe.db.count("Email Queue Recipient", {"recipient": "real-person@example.com"}), control + 1)

	def test_link_contacts_fills_identities_in_batches(self):
		names = [frappe.get_doc({"doctype": "Social Identity", "network": "Reddit", "author_id": f"t2_batch{i}",
			"handle": f"batch{i}"}).insert(ignore_permissions=True).name for i in range(3)]
		with patch.object(frappe.db, "commit"):  # keep the test's transaction; the job commits per identity
			link_contacts()
		for name in names:
			self.assertTrue(frappe.db.get_value("Social Identity", name, "contact"))


class TestResume(FrappeTestCase):
	def test_new_credentials_or_a_good_test_end_the_reauthentication_pause(self):
		channel = frappe.get_doc("Social Channel", make_channel())
		channel.db_set({"status": "Needs Re-authentication", "consecutive_failures": 3})
		channel.reload()
		channel.base_url = BASE  # saving without new credentials keeps the pause
		channel.save()
		self.assertEqual(channel.status, "Needs Re-authentication")
		from social_itsm_app.ingest.runtime import load_state, save_state

		save_state(channel.name, {"access_token": "tok-rotated-from-the-old-one"})
		channel.reload()
		channel.access_token = "tok-brand-new"
		channel.save()
		self.assertEqual((channel.status, channel.consecutive_failures), ("Active", 0))
		self.assertEqual(load_state(channel.name), {})  # stale rotated tokens never override new credentials

		channel.db_set("status", "Needs Re-authentication")
		account = json.loads((FIXTURES / "verify_credentials.json").read_text())
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, f"{BASE}/api/v1/accounts/verify_credentials", json=account)
			self.assertTrue(api.test_connection(channel.name)["ok"])
		self.assertEqual(frappe.db.get_value("Social Channel", channel.name, "status"), "Active")


class TestChannelActivity(FrappeTestCase):
	def test_posts_per_day_for_the_chart(self):
		from site_ingest import social_post

		from social_itsm_app.ingest.store import store_posts

		channel = make_channel()
		store_posts(channel, "Mastodon", [social_post("act-1"), social_post("act-2")])
		frappe.db.set_value("Social Post", {"channel": channel, "external_id": "act-2"}, "status", "Converted")
		activity = api.channel_activity(channel)
		self.assertEqual(len(activity["labels"]), 14)
		self.assertEqual(activity["received"][-1], 2)
		self.assertEqual(activity["ticketed"][-1], 1)
		self.assertEqual(sum(activity["received"][:-1]), 0)
