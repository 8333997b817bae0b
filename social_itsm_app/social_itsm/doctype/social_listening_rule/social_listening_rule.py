# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt


import frappe
from frappe import _
from frappe.model.document import Document

from social_itsm_app.social_itsm.doctype.social_itsm_settings.social_itsm_settings import apply_profile_links
from social_itsm_app.triage.rules import validate_regex as check_regex


class SocialListeningRule(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from social_itsm_app.social_itsm.doctype.social_listening_rule_channel.social_listening_rule_channel import (
			SocialListeningRuleChannel,
		)

		action: DF.Literal["Queue for Agent", "Auto-convert to Ticket", "Ignore", "Mark as Spam"]
		authors_allow: DF.SmallText | None
		authors_block: DF.SmallText | None
		auto_reply_template: DF.SmallText | None
		channels: DF.TableMultiSelect[SocialListeningRuleChannel]
		enabled: DF.Check
		exclude_words: DF.SmallText | None
		hashtags: DF.SmallText | None
		keywords: DF.SmallText | None
		languages: DF.Data | None
		match_type: DF.Literal["Any", "All"]
		priority: DF.Int
		priority_doctype: DF.Link | None
		regex: DF.Data | None
		rule_name: DF.Data
		team: DF.DynamicLink | None
		team_doctype: DF.Link | None
		ticket_priority: DF.DynamicLink | None
		ticket_type: DF.DynamicLink | None
		ticket_type_doctype: DF.Link | None
	# end: auto-generated types
	def validate(self):
		self.validate_regex()
		self.set_link_doctypes()

	def validate_regex(self):
		if not self.regex:
			return
		try:
			check_regex(self.regex)  # refuses patterns that could freeze a worker, with the reason
		except ValueError as exc:
			frappe.throw(_("The regular expression cannot be used: {0}").format(exc), title=_("Invalid rule"))

	def set_link_doctypes(self):
		profile = frappe.get_single("Social ITSM Settings").profile()
		apply_profile_links(self, profile, ("ticket_priority", "ticket_type", "team"))
