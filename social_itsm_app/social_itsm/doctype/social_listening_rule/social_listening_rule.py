# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import re

import frappe
from frappe import _
from frappe.model.document import Document

from social_itsm_app.social_itsm.doctype.social_itsm_settings.social_itsm_settings import apply_profile_links


class SocialListeningRule(Document):
	def validate(self):
		self.validate_regex()
		self.set_link_doctypes()

	def validate_regex(self):
		if not self.regex:
			return
		try:
			re.compile(self.regex)
		except re.error as exc:
			frappe.throw(_("The regular expression is not valid: {0}").format(exc), title=_("Invalid rule"))

	def set_link_doctypes(self):
		profile = frappe.get_single("Social ITSM Settings").profile()
		apply_profile_links(self, profile, ("ticket_priority", "ticket_type", "team"))
