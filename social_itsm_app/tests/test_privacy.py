"""Personal data inside a real site: erasing one person, emptying old raw payloads, what uninstall removes, and the
app's entries in frappe's personal-data hooks."""

from __future__ import annotations

import json
from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, now_datetime

from social_itsm_app import api, install, privacy
from social_itsm_app.ingest import retention
from social_itsm_app.people.identities import SYNTHETIC_DOMAIN, ensure_contact
from social_itsm_app.tests.utils import (
	AGENT_ROLE,
	HOST,
	NO_HOST,
	TICKET,
	make_channel,
	make_user,
	social_post,
	stored,
)
from social_itsm_app.tickets.adapters import adapter_for

SETTINGS = "Social ITSM Settings"


def identity_of(post: str):
	name = frappe.db.get_value("Social Post", post, "social_identity")
	return frappe.db.get_value("Social Identity", name, ["name", "email", "contact"], as_dict=True)


def erase_now(identity: str) -> dict:
	with patch.object(frappe.db, "commit"):  # the erase commits once; this test's data must roll back
		return privacy.erase_identity(identity)


class TestErase(FrappeTestCase):
	def setUp(self):
		self.channel = make_channel("Privacy Mastodon").name

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_one_person_is_erased_and_tickets_stay_as_anonymised_traces(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		first, follow_up, loose, other = stored(
			self.channel,
			social_post("pv-1", "My invoice shows the wrong home address", author="erin", thread_id="pv-1"),
			social_post("pv-2", "Still wrong on the second invoice", author="erin", thread_id="pv-1", in_reply_to_id="pv-1"),
			social_post("pv-3", "Unrelated musing about lunch", author="erin"),
			social_post("pv-4", "Login fails for me since noon", author="otto", thread_id="pv-4"),
		)
		ticket = api.convert_to_ticket(first)["ticket"]  # the follow-up of the same thread joins it
		other_ticket = api.convert_to_ticket(other)["ticket"]
		adapter_for(TICKET).add_answer(ticket, "Thanks Erin (@erin), we are on it. Erinnerung: no change needed.", "Administrator")
		self.assertEqual(frappe.db.get_value("Social Post", follow_up, "ticket"), ticket)
		erin, otto = identity_of(first), identity_of(other)
		otto_before = frappe.db.get_value("Social Post", other, ["text", "author_handle", "raw"], as_dict=True)

		result = erase_now(erin.name)

		self.assertFalse(result["queued"])
		self.assertEqual((result["posts_deleted"], result["posts_anonymised"], result["messages_anonymised"]), (1, 2, 2))
		self.assertFalse(frappe.db.exists("Social Post", loose))
		for post in (first, follow_up):  # kept on the ticket, nothing in them says who wrote what
			row = frappe.db.get_value("Social Post", post, ["text", "title", "author_name", "author_handle", "author_id",
				"social_identity", "url", "raw", "reply_ref", "ticket"], as_dict=True)
			self.assertEqual((row.text, row.title, row.ticket), ("[erased]", "[erased]", ticket))
			self.assertFalse(any((row.author_name, row.author_handle, row.author_id, row.social_identity, row.url,
				row.raw, row.reply_ref)), row)

		self.assertTrue(frappe.db.exists(TICKET, ticket))
		kept = frappe.db.get_value(TICKET, ticket, ["subject", "description", "raised_by", "contact"], as_dict=True)
		self.assertEqual(kept.subject, "[erased]")
		self.assertNotIn("invoice", kept.description or "")
		self.assertNotEqual(kept.raised_by, erin.email)
		self.assertTrue(kept.raised_by.endswith("@" + SYNTHETIC_DOMAIN))
		received = frappe.get_all("Communication", filters={"reference_doctype": TICKET, "reference_name": ticket,
			"sent_or_received": "Received"}, fields=["content", "sender", "sender_full_name", "subject"])
		self.assertEqual(len(received), 2)
		for message in received:
			self.assertEqual(message.content, "[erased at the person's request]")
			self.assertFalse(message.sender_full_name)
			self.assertEqual(message.sender, kept.raised_by)
			self.assertNotIn("invoice", message.subject or "")

		answer = frappe.db.get_value("Communication", {"reference_doctype": TICKET, "reference_name": ticket,
			"sent_or_received": "Sent"}, "content")
		self.assertIn("Thanks [erased] ([erased]), we are on it. Erinnerung:", answer)  # whole names only
		self.assertEqual(result["answers_redacted"], 1)

		self.assertFalse(frappe.db.exists("Social Identity", erin.name))
		# The ticket names the Contact, so it stays: renamed, without the person's name or address.
		self.assertFalse(frappe.db.exists("Contact", erin.contact))
		contact = frappe.db.get_value("Contact", kept.contact, ["full_name", "first_name", "last_name", "email_id"], as_dict=True)
		self.assertEqual((contact.full_name, contact.first_name, contact.last_name), ("[erased]", "[erased]", None))
		self.assertEqual(contact.email_id, kept.raised_by)
		self.assertFalse(frappe.db.exists("Contact Email", {"email_id": erin.email}))
		self.assertFalse(frappe.db.exists("Comment", {"reference_doctype": "Contact", "reference_name": kept.contact}))
		self.assertFalse(frappe.db.exists("Email Unsubscribe", {"email": erin.email}))
		self.assertTrue(frappe.db.exists("Email Unsubscribe", {"email": kept.raised_by, "global_unsubscribe": 1}))

		# Another person on the same channel is untouched.
		self.assertTrue(frappe.db.exists("Social Identity", otto.name))
		self.assertEqual(frappe.db.get_value("Social Post", other, ["text", "author_handle", "raw"], as_dict=True), otto_before)
		self.assertEqual(frappe.db.get_value(TICKET, other_ticket, "raised_by"), otto.email)
		self.assertIn("Login fails", frappe.db.get_value("Communication", {"reference_doctype": TICKET,
			"reference_name": other_ticket, "sent_or_received": "Received"}, "content"))
		self.assertTrue(frappe.db.exists("Contact", otto.contact))
		self.assertTrue(frappe.db.exists("Email Unsubscribe", {"email": otto.email, "global_unsubscribe": 1}))

		# One audit line: who, which identity, how many; none of the erased data.
		audit = frappe.get_all("Comment", filters={"reference_doctype": SETTINGS, "comment_type": "Info",
			"content": ("like", f"%{erin.name}%")}, pluck="content")
		self.assertEqual(len(audit), 1)
		self.assertIn("Administrator", audit[0])
		for secret in ("erin", "Erin", "invoice", erin.email):
			self.assertNotIn(secret, audit[0])

	def test_a_person_without_tickets_loses_identity_contact_and_unsubscribe(self):
		posts = stored(self.channel, social_post("pw-1", "Nice weather", author="pia"), social_post("pw-2", "Still nice", author="pia"))
		pia = identity_of(posts[0])
		contact = ensure_contact(pia.name)
		self.assertTrue(frappe.db.exists("Email Unsubscribe", {"email": pia.email}))
		anonymous_before = frappe.db.count("Email Unsubscribe", {"email": ("like", "erased-%")})

		result = erase_now(pia.name)

		self.assertEqual((result["posts_deleted"], result["posts_anonymised"], result["contact"]), (2, 0, "deleted"))
		self.assertFalse(frappe.db.exists("Social Post", {"name": ("in", posts)}))
		self.assertFalse(frappe.db.exists("Social Identity", pia.name))
		self.assertFalse(frappe.db.exists("Contact", contact))
		self.assertFalse(frappe.db.exists("Contact Email", {"email_id": pia.email}))
		# No copy left behind: frappe's Deleted Document and its "Deleted" feed line would name the person.
		for doctype, name in (("Contact", contact), ("Social Identity", pia.name)):
			self.assertFalse(frappe.db.exists("Deleted Document", {"deleted_doctype": doctype, "deleted_name": name}))
		self.assertFalse(frappe.db.exists("Comment", {"comment_type": "Deleted", "subject": ("like", f"%{contact}%")}))
		self.assertFalse(frappe.db.exists("Email Unsubscribe", {"email": pia.email}))
		# Nothing keeps an anonymous address: none is unsubscribed either.
		self.assertEqual(frappe.db.count("Email Unsubscribe", {"email": ("like", "erased-%")}), anonymous_before)

	def test_a_contact_an_agent_enriched_is_kept_without_the_synthetic_address(self):
		(post,) = stored(self.channel, social_post("pe-1", "Hello", author="eve"))
		eve = identity_of(post)
		contact = ensure_contact(eve.name)
		doc = frappe.get_doc("Contact", contact)
		doc.append("email_ids", {"email_id": "eve.real@example.com"})
		doc.save(ignore_permissions=True)

		self.assertEqual(erase_now(eve.name)["contact"], "kept")

		self.assertEqual(frappe.get_all("Contact Email", filters={"parent": contact}, pluck="email_id"), ["eve.real@example.com"])

	def test_only_system_managers_may_erase(self):
		(post,) = stored(self.channel, social_post("pn-1", "Keep me", author="nina"))
		nina = identity_of(post)
		for user in (make_user("privacy-agent@example.com", (AGENT_ROLE,)), make_user("privacy-nobody@example.com")):
			frappe.set_user(user)
			with self.assertRaises(frappe.PermissionError, msg=user):
				erase_now(nina.name)
		frappe.set_user("Administrator")
		self.assertTrue(frappe.db.exists("Social Identity", nina.name))
		self.assertEqual(frappe.db.get_value("Social Post", post, "text"), "Keep me")

	def test_a_long_history_is_erased_in_the_background(self):
		(post,) = stored(self.channel, social_post("pl-1", "One of many", author="lou"))
		lou = identity_of(post)
		with patch.object(privacy, "INLINE_LIMIT", 0), patch.object(frappe, "enqueue") as enqueue:
			result = privacy.erase_identity(lou.name)
		self.assertEqual(result, {"queued": True, "posts": 1})
		self.assertEqual(enqueue.call_args.args[0], "social_itsm_app.privacy.erase_identity_job")
		self.assertEqual(enqueue.call_args.kwargs["identity"], lou.name)
		self.assertTrue(frappe.db.exists("Social Identity", lou.name))  # nothing erased before the job runs
		with patch.object(frappe.db, "commit") as commit:
			privacy.erase_identity_job(lou.name, "Administrator")
		self.assertGreaterEqual(commit.call_count, 2)  # per batch, then at the end
		self.assertFalse(frappe.db.exists("Social Identity", lou.name))


class TestRawPurge(FrappeTestCase):
	def test_old_raw_payloads_are_emptied_in_batches_also_on_tickets(self):
		channel = make_channel("Privacy Raw Mastodon").name
		old_loose, old_ticketed, recent = stored(channel, social_post("raw-1"), social_post("raw-2"), social_post("raw-3"))
		frappe.db.set_value("Social Post", {"name": ("in", [old_loose, old_ticketed])}, "creation",
			add_to_date(now_datetime(), days=-40))
		frappe.db.set_value("Social Post", old_ticketed, {"status": "Converted", "ticket_doctype": TICKET or "HD Ticket", "ticket": "1"})
		frappe.db.set_single_value(SETTINGS, "raw_payload_days", 30)
		with patch.object(frappe.db, "commit") as commit:
			emptied = retention.purge_raw_payloads(batch=1)
		self.assertGreaterEqual(emptied, 2)
		self.assertGreaterEqual(commit.call_count, 3)  # one per batch, the last one finds nothing left
		raws = dict(frappe.get_all("Social Post", filters={"channel": channel}, fields=["name", "raw"], as_list=True))
		self.assertIsNone(raws[old_loose])
		self.assertIsNone(raws[old_ticketed])
		self.assertEqual(json.loads(raws[recent]), {"id": "raw-3"})

	def test_zero_keeps_and_an_unsaved_setting_means_thirty_days(self):
		channel = make_channel("Privacy Raw Mastodon").name
		(old,) = stored(channel, social_post("raw-9"))
		frappe.db.set_value("Social Post", old, "creation", add_to_date(now_datetime(), days=-40))
		frappe.db.set_single_value(SETTINGS, "raw_payload_days", 0)
		with patch.object(frappe.db, "commit"):
			self.assertEqual(retention.purge_raw_payloads(), 0)
		self.assertTrue(frappe.db.get_value("Social Post", old, "raw"))
		frappe.db.delete("Singles", {"doctype": SETTINGS, "field": "raw_payload_days"})
		self.assertEqual(retention.raw_payload_days(), 30)
		with patch.object(frappe.db, "commit"):
			retention.purge_old_posts()  # the daily job empties them too
		self.assertIsNone(frappe.db.get_value("Social Post", old, "raw"))

	def test_the_new_setting_defaults_to_thirty_also_on_existing_sites(self):
		from social_itsm_app.patches.v0_2 import raw_payload_days_default

		self.assertEqual(frappe.get_meta(SETTINGS).get_field("raw_payload_days").default, "30")
		frappe.db.delete("Singles", {"doctype": SETTINGS, "field": "raw_payload_days"})  # saved before the field
		raw_payload_days_default.execute()
		self.assertEqual(frappe.db.get_singles_dict(SETTINGS).get("raw_payload_days"), "30")
		frappe.db.set_single_value(SETTINGS, "raw_payload_days", 0)  # an admin's choice survives the patch
		raw_payload_days_default.execute()
		self.assertEqual(retention.raw_payload_days(), 0)


class TestUninstallCleanup(FrappeTestCase):
	"""The helpers before_uninstall calls, called directly (the app stays installed)."""

	def test_channel_secrets_leave_the_auth_table(self):
		make_channel("Privacy Secret Mastodon")  # has an access token
		count = lambda: frappe.db.sql("select count(*) from `__Auth` where doctype = 'Social Channel'")[0][0]  # noqa: E731
		self.assertGreater(count(), 0)
		install.delete_channel_secrets()
		self.assertEqual(count(), 0)
		self.assertTrue(frappe.db.sql("select count(*) from `__Auth` where doctype = 'User'")[0][0])

	def test_synthetic_contacts_and_unsubscribes_go_unless_tickets_name_them(self):
		channel = make_channel("Privacy Uninstall Mastodon").name
		posts = stored(channel, social_post("un-1", "Hi", author="ulla"), social_post("un-2", "Help me", author="tom"))
		ulla, tom = identity_of(posts[0]), identity_of(posts[1])
		ulla_contact = ensure_contact(ulla.name)
		ulla_email = frappe.db.get_value("Social Identity", ulla.name, "email")
		tom_contact = tom_email = None
		if HOST is not None:
			api.convert_to_ticket(posts[1])
			tom_contact, tom_email = frappe.db.get_value("Social Identity", tom.name, ["contact", "email"])
		real = frappe.get_doc({"doctype": "Contact", "first_name": "Real", "email_ids": [
			{"email_id": "real.person@example.com", "is_primary": 1}]}).insert(ignore_permissions=True)
		frappe.get_doc({"doctype": "Email Unsubscribe", "email": "real.person@example.com", "global_unsubscribe": 1}).insert(
			ignore_permissions=True)

		deleted, _kept = install.delete_synthetic_contacts()
		install.delete_synthetic_unsubscribes()

		self.assertGreaterEqual(deleted, 1)
		self.assertFalse(frappe.db.exists("Contact", ulla_contact))
		self.assertFalse(frappe.db.exists("Email Unsubscribe", {"email": ulla_email}))
		if tom_contact:  # a ticket names it: kept, and still never mailed
			self.assertTrue(frappe.db.exists("Contact", tom_contact))
			self.assertTrue(frappe.db.exists("Email Unsubscribe", {"email": tom_email, "global_unsubscribe": 1}))
		self.assertTrue(frappe.db.exists("Contact", real.name))
		self.assertTrue(frappe.db.exists("Email Unsubscribe", {"email": "real.person@example.com"}))


class TestUserDataFields(FrappeTestCase):
	def test_entries_name_real_doctypes_and_fields(self):
		entries = frappe.get_hooks("user_data_fields", app_name="social_itsm_app")
		self.assertEqual({e["doctype"] for e in entries}, {"Social Identity", "Social Reply"})
		for entry in entries:
			meta = frappe.get_meta(entry["doctype"])
			for field in (entry.get("filter_by", "owner"), *entry.get("redact_fields", [])):
				self.assertTrue(meta.has_field(field), f"{entry['doctype']}.{field}")
			self.assertTrue(frappe.db.exists("DocType", entry["doctype"]))
		# Never by the default "owner": the scheduler's user owns every post it stored.
		self.assertTrue(all(e.get("filter_by") for e in entries))

	def test_frappe_finds_and_redacts_an_identity_by_its_address(self):
		from frappe.website.doctype.personal_data_download_request.personal_data_download_request import get_user_data

		identity = frappe.get_doc({"doctype": "Social Identity", "network": "Bluesky", "author_id": "did:plc:privacy1",
			"handle": "rita.bsky.social", "display_name": "Rita Example"}).insert(ignore_permissions=True)
		ensure_contact(identity.name)
		email = frappe.db.get_value("Social Identity", identity.name, "email")
		data = json.loads(get_user_data(email))
		self.assertEqual([row["name"] for row in data["Social Identity"]], [identity.name])

		request = frappe.new_doc("Personal Data Deletion Request")
		request.email = email
		request._PersonalDataDeletionRequest__set_anonymization_data(email, "deleted-user-0001@example.com")
		(entry,) = [e for e in request.full_match_privacy_docs if e["doctype"] == "Social Identity"]
		request.redact_full_match_data(entry, email)
		row = frappe.db.get_value("Social Identity", identity.name, ["handle", "display_name", "email"], as_dict=True)
		self.assertNotIn("Rita", json.dumps(row))
		self.assertNotIn("rita", json.dumps(row))
