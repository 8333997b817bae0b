"""Whitelisted methods and people: permission checks, Test connection, Fetch now, Contacts for authors."""

from __future__ import annotations

import json
from unittest.mock import patch

import frappe
import responses
from frappe.tests.utils import FrappeTestCase

from social_itsm_app import api
from social_itsm_app.people.identities import SYNTHETIC_DOMAIN, ensure_contact, link_contacts
from social_itsm_app.tests.utils import AGENT_ROLE, FIXTURES, make_user

BASE = "https://mastodon.example"


def make_channel() -> str:
	name = "API Mastodon"
	if not frappe.db.exists("Social Channel", name):
		frappe.get_doc({"doctype": "Social Channel", "channel_name": name, "network": "Mastodon", "base_url": BASE,
			"access_token": "tok-api-secret"}).insert(ignore_permissions=True)
	return name


class TestChannelActions(FrappeTestCase):
	def test_test_connection_names_the_account(self):
		channel = make_channel()
		account = json.loads((FIXTURES / "mastodon" / "verify_credentials.json").read_text())
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
		from social_itsm_app.channels.runtime import load_state, save_state

		save_state(channel.name, {"access_token": "tok-rotated-from-the-old-one"})
		channel.reload()
		channel.access_token = "tok-brand-new"
		channel.save()
		self.assertEqual((channel.status, channel.consecutive_failures), ("Active", 0))
		self.assertEqual(load_state(channel.name), {})  # stale rotated tokens never override new credentials

		channel.db_set("status", "Needs Re-authentication")
		account = json.loads((FIXTURES / "mastodon" / "verify_credentials.json").read_text())
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, f"{BASE}/api/v1/accounts/verify_credentials", json=account)
			self.assertTrue(api.test_connection(channel.name)["ok"])
		self.assertEqual(frappe.db.get_value("Social Channel", channel.name, "status"), "Active")


class TestChannelActivity(FrappeTestCase):
	def test_posts_per_day_for_the_chart(self):
		from social_itsm_app.ingest.store import store_posts
		from social_itsm_app.tests.utils import social_post

		channel = make_channel()
		store_posts(channel, "Mastodon", [social_post("act-1"), social_post("act-2")])
		frappe.db.set_value("Social Post", {"channel": channel, "external_id": "act-2"}, "status", "Converted")
		activity = api.channel_activity(channel)
		self.assertEqual(len(activity["labels"]), 14)
		self.assertEqual(activity["received"][-1], 2)
		self.assertEqual(activity["ticketed"][-1], 1)
		self.assertEqual(sum(activity["received"][:-1]), 0)


class TestManagedRecords(FrappeTestCase):
	"""REST (/api/resource, frappe.client) saves through the controllers: agents cannot forge or rewrite what
	the app keeps (a reply to an arbitrary post, a post's reply_ref, a Converted status without a ticket)."""

	def setUp(self):
		from social_itsm_app.tests.utils import make_feed_channel, make_feed_post

		self.post = make_feed_post(make_feed_channel(), f"managed-{frappe.generate_hash(length=8)}")
		self.agent = make_user("managed-agent@example.com", (AGENT_ROLE,))

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_agents_cannot_queue_a_reply_through_rest(self):
		frappe.set_user(self.agent)
		with self.assertRaises(frappe.PermissionError):
			frappe.client.insert({"doctype": "Social Reply", "social_post": self.post.name, "text": "spam",
				"reply_mode": "Public", "status": "Queued"})
		frappe.set_user("Administrator")
		with self.assertRaises(frappe.PermissionError):  # not even a manager: replies come from tickets
			frappe.client.insert({"doctype": "Social Reply", "social_post": self.post.name, "text": "x"})

	def test_agents_cannot_rewrite_what_the_network_said(self):
		frappe.set_user(self.agent)
		for field, value in (("reply_ref", '{"chat_id": 1}'), ("text", "forged"), ("author_id", "someone-else")):
			with self.assertRaises(frappe.PermissionError, msg=field):
				frappe.client.set_value("Social Post", self.post.name, field, value)
		frappe.client.set_value("Social Post", self.post.name, "status", "Ignored")  # what agents may do
		self.assertEqual(frappe.db.get_value("Social Post", self.post.name, "status"), "Ignored")

	def test_converted_without_a_ticket_is_refused(self):
		frappe.set_user(self.agent)
		with self.assertRaises(frappe.ValidationError):
			frappe.client.set_value("Social Post", self.post.name, "status", "Converted")

	def test_agents_only_read_identities_and_replies(self):
		frappe.set_user(self.agent)
		for doctype in ("Social Identity", "Social Reply"):
			self.assertTrue(frappe.has_permission(doctype, "read"), doctype)
			self.assertFalse(frappe.has_permission(doctype, "write"), doctype)
			self.assertFalse(frappe.has_permission(doctype, "create"), doctype)


class TestContactRace(FrappeTestCase):
	def test_a_contact_made_by_another_worker_meanwhile_is_taken_not_duplicated(self):
		"""The ERPNext site failed with DuplicateEntryError on Contact: the contact job committed the Contact
		while a conversion's transaction still saw its older snapshot."""
		import subprocess
		import sys

		identity = frappe.get_doc({"doctype": "Social Identity", "network": "Mastodon", "author_id": "race-1",
			"handle": "racer", "display_name": "Race Condition"}).insert(ignore_permissions=True)
		frappe.db.commit()
		self.addCleanup(self._remove, identity.name)
		frappe.db.get_value("Social Identity", identity.name, "contact")  # this transaction's snapshot starts here
		other_worker = (
			"import frappe, sys\n"
			"frappe.init(site=sys.argv[1], sites_path=sys.argv[2]); frappe.connect()\n"
			"from social_itsm_app.people.identities import ensure_contact\n"
			"ensure_contact(sys.argv[3]); frappe.db.commit(); frappe.destroy()\n"
		)
		subprocess.run([sys.executable, "-c", other_worker, frappe.local.site, frappe.local.sites_path, identity.name],
			check=True, cwd=frappe.local.sites_path, timeout=120)
		contact = ensure_contact(identity.name)  # before the fix: DuplicateEntryError on Contact
		frappe.db.commit()
		email = frappe.db.get_value("Social Identity", identity.name, "email")
		self.assertEqual(frappe.get_all("Contact Email", filters={"email_id": email}, pluck="parent"), [contact])
		self.assertEqual(frappe.db.count("Email Unsubscribe", {"email": email}), 1)

	def _remove(self, identity: str) -> None:
		email = frappe.db.get_value("Social Identity", identity, "email")
		for contact in frappe.get_all("Contact Email", filters={"email_id": email}, pluck="parent"):
			frappe.delete_doc("Contact", contact, force=True, ignore_permissions=True)
		frappe.db.delete("Email Unsubscribe", {"email": email})
		frappe.db.delete("Social Identity", identity)
		frappe.db.commit()
