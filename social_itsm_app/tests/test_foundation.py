"""The data model inside a real site: install state, uniqueness in the database, who may see what."""

from __future__ import annotations

import frappe
from frappe.tests.utils import FrappeTestCase

from social_itsm_app.hosts import choose_profile
from social_itsm_app.tests.utils import AGENT_ROLE, make_feed_channel, make_feed_post, make_user

DOCTYPES = ("Social ITSM Settings", "Social Channel", "Social Listening Rule", "Social Post", "Social Reply", "Social Identity")


class TestInstalledApp(FrappeTestCase):
	def test_doctypes_and_module_exist(self):
		for doctype in DOCTYPES:
			self.assertTrue(frappe.db.exists("DocType", doctype), doctype)
		self.assertEqual(frappe.db.get_value("DocType", "Social Post", "module"), "Social ITSM")
		self.assertTrue(frappe.db.exists("Workspace", "Social ITSM"))

	def test_settings_detect_the_host(self):
		settings = frappe.get_single("Social ITSM Settings")
		settings.save()
		expected = choose_profile("Auto", frappe.get_installed_apps())
		self.assertEqual(settings.effective_ticket_doctype, expected.ticket_doctype if expected else None)
		if expected:
			self.assertEqual(settings.priority_doctype, expected.priority_doctype)

	def test_custom_fields_only_on_present_hosts(self):
		for ticket_doctype, app in (("HD Ticket", "helpdesk"), ("Issue", "erpnext")):
			present = app in frappe.get_installed_apps()
			has_field = bool(frappe.db.exists("Custom Field", {"dt": ticket_doctype, "fieldname": "social_post"}))
			self.assertEqual(has_field, present, ticket_doctype)
			if present:
				meta = frappe.get_meta(ticket_doctype)
				self.assertEqual(meta.get_field("social_thread_id").search_index, 1)
				self.assertTrue(frappe.db.has_index(f"tab{ticket_doctype}", "social_thread_id_index") or meta.get_field("social_thread_id"))

	def test_secrets_are_encrypted(self):
		channel = frappe.get_doc(
			{"doctype": "Social Channel", "channel_name": "Secret Mastodon", "network": "Mastodon",
			 "base_url": "mastodon.example", "access_token": "tok-very-secret"}
		).insert(ignore_permissions=True)
		stored = frappe.db.get_value("Social Channel", channel.name, "access_token")
		self.assertNotIn("very-secret", stored or "")
		self.assertEqual(channel.get_password("access_token"), "tok-very-secret")
		self.assertEqual(channel.base_url, "https://mastodon.example")

	def test_incomplete_channel_is_refused_with_the_missing_fields(self):
		with self.assertRaises(frappe.ValidationError) as caught:
			frappe.get_doc({"doctype": "Social Channel", "channel_name": "No token", "network": "Telegram"}).insert()
		self.assertIn("Access token", str(caught.exception))


class TestUniqueness(FrappeTestCase):
	def test_the_same_post_cannot_be_stored_twice_per_channel(self):
		channel = make_feed_channel()
		make_feed_post(channel, "entry-1")
		with self.assertRaises((frappe.UniqueValidationError, frappe.DuplicateEntryError)):
			make_feed_post(channel, "entry-1")
		other = make_feed_channel("Other Feed")
		self.assertTrue(make_feed_post(other, "entry-1").name)  # unique per channel, not globally

	def test_one_identity_per_person_and_network(self):
		values = {"doctype": "Social Identity", "network": "Mastodon", "author_id": "109", "handle": "alice"}
		frappe.get_doc(values).insert(ignore_permissions=True)
		with self.assertRaises((frappe.UniqueValidationError, frappe.DuplicateEntryError)):
			frappe.get_doc(values).insert(ignore_permissions=True)
		frappe.get_doc({**values, "network": "Bluesky"}).insert(ignore_permissions=True)


class TestPermissions(FrappeTestCase):
	def test_agents_read_posts_but_do_not_manage_channels(self):
		agent = make_user("social-agent@example.com", (AGENT_ROLE,))
		self.assertTrue(frappe.has_permission("Social Post", "read", user=agent))
		# Replies are queued from tickets by the app (api.reply_on_network, the reply box), never created by hand.
		self.assertFalse(frappe.has_permission("Social Reply", "create", user=agent))
		self.assertTrue(frappe.has_permission("Social Channel", "read", user=agent))
		self.assertFalse(frappe.has_permission("Social Channel", "write", user=agent))
		self.assertFalse(frappe.has_permission("Social Listening Rule", "create", user=agent))
		self.assertFalse(frappe.has_permission("Social ITSM Settings", "write", user=agent))

	def test_plain_users_see_nothing(self):
		channel = make_feed_channel()
		post = make_feed_post(channel, "entry-perm")
		desk_user = make_user("plain-desk@example.com")
		website_user = make_user("customer@example.com", user_type="Website User")
		for user in (desk_user, website_user):
			for doctype in ("Social Post", "Social Reply", "Social Identity", "Social Channel", "Social Listening Rule"):
				self.assertFalse(frappe.has_permission(doctype, "read", user=user), f"{user} reads {doctype}")
			frappe.set_user(user)
			try:
				with self.assertRaises(frappe.PermissionError):
					frappe.get_list("Social Post", fields=["name", "text"])
				with self.assertRaises(frappe.PermissionError):
					frappe.get_doc("Social Post", post.name).check_permission("read")
			finally:
				frappe.set_user("Administrator")

	def test_system_manager_manages_everything(self):
		manager = make_user("social-admin@example.com", ("System Manager",))
		for doctype in ("Social Channel", "Social Listening Rule", "Social ITSM Settings"):
			self.assertTrue(frappe.has_permission(doctype, "write", user=manager), doctype)
