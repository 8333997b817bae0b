"""The reply editors' context (api.reply_context): the network's limits and modes, for agents only."""

from __future__ import annotations

from unittest.mock import patch

import frappe

from social_itsm_app import api
from social_itsm_app.connectors import SocialPost
from social_itsm_app.ingest.store import store_posts
from social_itsm_app.tests.utils import (
	AGENT_ROLE,
	MASTODON,
	REPLY_CHANNEL,
	TICKET,
	ReplyCase,
	make_user,
	remove_channel,
	social_post,
)
from social_itsm_app.tickets.convert import convert_post

DM_CHANNEL = "Editor Mastodon DMs"
BLUESKY_CHANNEL = "Editor Bluesky"


def ticket_for(channel: str, network: str, post: SocialPost) -> str:
	store_posts(channel, network, [post])
	name = frappe.db.get_value("Social Post", {"channel": channel, "external_id": post.external_id})
	return convert_post(name)["ticket"]


class TestReplyContext(ReplyCase):
	"""ReplyCase gives a committed Mastodon ticket answering a public mention (self.ticket), undone after."""

	def setUp(self):
		super().setUp()
		self.agent = make_user("editor-agent@example.com", (AGENT_ROLE,))

	def as_user(self, user: str, ticket: str) -> dict:
		frappe.set_user(user)
		try:
			return api.reply_context(TICKET, ticket)
		finally:
			frappe.set_user("Administrator")

	def test_agents_get_the_networks_limits_without_a_connector(self):
		with patch.object(api, "build_connector") as build:
			context = self.as_user(self.agent, self.ticket)
		build.assert_not_called()  # class attributes only: no credentials are read
		self.assertEqual(context, {
			"network": "Mastodon", "public_limit": 500, "private_limit": 500, "measure": "graphemes_url23",
			"default_mode": "Public", "private_only": False, "channel": REPLY_CHANNEL,
		})

	def test_the_default_mode_follows_the_tickets_reply_mode(self):
		frappe.db.set_value(TICKET, self.ticket, "social_reply_mode", "Private")
		self.assertEqual(self.as_user(self.agent, self.ticket)["default_mode"], "Private")

	def test_a_direct_message_ticket_is_private_only(self):
		self.addCleanup(remove_channel, DM_CHANNEL)
		frappe.get_doc({"doctype": "Social Channel", "channel_name": DM_CHANNEL, "network": "Mastodon",
			"base_url": MASTODON, "access_token": "tok-dm"}).insert(ignore_permissions=True)
		dm = ticket_for(DM_CHANNEL, "Mastodon", social_post("d-2", "my account number is 1234", author="ola",
			kind="direct", reply_ref={"status_id": "d-2", "acct": "ola@mastodon.example", "visibility": "direct"}))
		frappe.db.set_value(TICKET, dm, "social_reply_mode", "Public")  # even if someone changed it
		context = self.as_user(self.agent, dm)
		self.assertEqual((context["private_only"], context["default_mode"]), (True, "Private"))

	def test_a_network_without_private_replies_says_so(self):
		self.addCleanup(remove_channel, BLUESKY_CHANNEL)
		frappe.get_doc({"doctype": "Social Channel", "channel_name": BLUESKY_CHANNEL, "network": "Bluesky",
			"account_handle": "acme.bsky.social", "account_password": "app-pass"}).insert(ignore_permissions=True)
		post = social_post("b-3", "the app crashes on start", author="kai")
		post.network = "bluesky"
		ticket = ticket_for(BLUESKY_CHANNEL, "Bluesky", post)
		frappe.db.set_value(TICKET, ticket, "social_reply_mode", "Private")
		context = self.as_user(self.agent, ticket)
		self.assertEqual((context["public_limit"], context["private_limit"], context["measure"]), (300, None, "graphemes"))
		self.assertEqual((context["default_mode"], context["private_only"]), ("Public", False))

	def test_strangers_are_refused(self):
		for user in (make_user("editor-nobody@example.com"),
				make_user("editor-customer@example.com", user_type="Website User")):
			with self.assertRaises(frappe.PermissionError, msg=user):
				self.as_user(user, self.ticket)

	def test_it_is_a_get_method(self):
		self.assertEqual(frappe.allowed_http_methods_for_whitelisted_func[api.reply_context], ["GET"])
