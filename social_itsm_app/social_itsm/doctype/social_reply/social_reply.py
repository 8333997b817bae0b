# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document

from social_itsm_app.permissions import keep_managed_fields


class SocialReply(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from social_itsm_app.social_itsm.doctype.social_reply_part.social_reply_part import SocialReplyPart

		attempts: DF.Int
		broadcast: DF.Link | None
		channel: DF.Link | None
		communication: DF.Link | None
		delivery_in_doubt: DF.Check
		first_attempt_at: DF.Datetime | None
		last_error: DF.SmallText | None
		next_attempt_at: DF.Datetime | None
		network_status: DF.Data | None
		parts: DF.Table[SocialReplyPart]
		reply_mode: DF.Literal["Public", "Private"]
		sent_at: DF.Datetime | None
		sent_by: DF.Link | None
		social_post: DF.Link
		status: DF.Literal["Queued", "Sending", "Sent", "Failed"]
		template_language: DF.Data | None
		template_parameters: DF.SmallText | None
		text: DF.LongText
		ticket: DF.DynamicLink | None
		ticket_doctype: DF.Link | None
		url: DF.Data | None
		whatsapp_template: DF.Data | None
	# end: auto-generated types

	def validate(self):
		# Replies are queued from a ticket (reply box, Reply on <network>), never made or edited by hand.
		keep_managed_fields(self, app_creates_only=True)


def on_doctype_update():
	# The every-minute retry tick looks replies up by status and retry time.
	frappe.db.add_index("Social Reply", ["status", "next_attempt_at"], index_name="status_next_attempt")
