"""A service the desk supports: early warning groups outage reports by it."""

import frappe
from frappe.model.document import Document

from social_itsm_app.hosts import choose_profile

# The compiled catalogue (incidents/detection.py) is cached under this key; a change of any service drops it.
CATALOGUE_CACHE_KEY = "social_itsm_service_catalogue"


def clear_catalogue_cache() -> None:
	frappe.cache().delete_value(CATALOGUE_CACHE_KEY)


class SocialService(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		aliases: DF.SmallText | None
		description: DF.SmallText | None
		enabled: DF.Check
		service_name: DF.Data
		team: DF.DynamicLink | None
		team_doctype: DF.Link | None
	# end: auto-generated types

	def validate(self):
		self.service_name = (self.service_name or "").strip()
		self.set_team_doctype()

	def set_team_doctype(self):
		"""The owner team is the host's team doctype (HD Team in Helpdesk); ERPNext has none, so no team."""
		settings = frappe.get_cached_doc("Social ITSM Settings")
		profile = choose_profile(settings.ticket_doctype, frappe.get_installed_apps())
		target = profile.team_doctype if profile else None
		if target is None or (self.team_doctype and self.team_doctype != target):
			self.team = None
		self.team_doctype = target

	def on_update(self):
		clear_catalogue_cache()

	def on_trash(self):
		clear_catalogue_cache()

	def after_rename(self, old: str, new: str, merge: bool = False):
		clear_catalogue_cache()
