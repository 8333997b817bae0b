# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from social_itsm_app.channel_config import SECRET_FIELDS, missing_fields


class SocialChannel(Document):
	def validate(self):
		self.normalise_base_url()
		self.validate_poll_interval()
		self.validate_required_settings()
		if not self.enabled:
			self.status = "Disabled"
		elif self.status == "Disabled":
			self.status = "Active"

	def normalise_base_url(self):
		if self.base_url:
			self.base_url = self.base_url.strip().rstrip("/")
			if not self.base_url.startswith(("https://", "http://")):
				self.base_url = "https://" + self.base_url

	def validate_poll_interval(self):
		if (self.poll_interval or 0) < 1:
			self.poll_interval = 1

	def validate_required_settings(self):
		"""Say which fields this network still needs, in the form's own labels."""
		values = self.as_dict()
		for fieldname in SECRET_FIELDS:
			# A saved password reads back as asterisks, which still means "filled in".
			values[fieldname] = self.get(fieldname) or (self.get_password(fieldname, raise_exception=False) if not self.is_new() else None)
		missing = missing_fields(values)
		if missing:
			labels = ", ".join(_(self.meta.get_label(fieldname)) for fieldname in missing)
			frappe.throw(_("{0} needs: {1}").format(_(self.network), labels), title=_("Channel settings incomplete"))
