# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from social_itsm_app.permissions import keep_managed_fields
from social_itsm_app.statuses import AGENT_POST_STATUSES


class SocialPost(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		author_handle: DF.Data | None
		author_id: DF.Data | None
		author_name: DF.Data | None
		channel: DF.Link
		external_id: DF.Data
		in_reply_to_id: DF.Data | None
		is_backlog: DF.Check
		kind: DF.Literal["mention", "direct", "search", "comment", "feed"]
		language: DF.Data | None
		matched_rule: DF.Link | None
		mood: DF.Literal["", "Negative", "Neutral", "Positive"]
		network: DF.Literal["X", "Mastodon", "Bluesky", "Reddit", "Facebook Page", "Telegram", "Discourse", "Feed", "Webhook", "WhatsApp", "Instagram"]
		posted_at: DF.Datetime | None
		raw: DF.JSON | None
		reply_ref: DF.JSON | None
		sentiment: DF.Float
		social_identity: DF.Link | None
		social_incident: DF.Link | None
		status: DF.Literal["New", "Converted", "Linked", "Ignored", "Spam"]
		text: DF.LongText | None
		thread_id: DF.Data | None
		ticket: DF.DynamicLink | None
		ticket_doctype: DF.Link | None
		title: DF.Data | None
		urgency: DF.Float
		urgency_level: DF.Literal["", "Low", "Medium", "High"]
		url: DF.Data | None
	# end: auto-generated types

	def validate(self):
		# Agents may move an unticketed post between New, Ignored and Spam; everything else is the app's.
		keep_managed_fields(self, editable=frozenset({"status"}))
		if not self.flags.social_itsm:
			check_status_change(self)


def check_status_change(post: SocialPost) -> None:
	before = post.get_doc_before_save()
	if before is None or before.status == post.status:
		return
	if post.status not in AGENT_POST_STATUSES or post.ticket:
		frappe.throw(
			_("A post becomes Converted or Linked with its ticket (Convert to Ticket, Link to ticket), and a post with a ticket keeps it."),
			title=_("Status not changed"),
		)


def on_doctype_update():
	# The same post fetched twice (overlapping pages, webhook re-delivery) must never be stored twice:
	# the database, not the code path, is the last line of defence.
	frappe.db.add_unique("Social Post", ("channel", "external_id"), constraint_name="unique_channel_external_id")
	frappe.db.add_index("Social Post", ["channel", "thread_id"], index_name="channel_thread")
