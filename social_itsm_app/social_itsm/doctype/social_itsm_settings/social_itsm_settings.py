# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import escape_html, flt

from social_itsm_app.hosts import HostProfile, choose_profile
from social_itsm_app.queues import DEFAULTS, FIELDS, known_queues
from social_itsm_app.social_itsm.doctype.social_service.social_service import clear_catalogue_cache

# Early-warning thresholds (0 keeps the detector's default): a window of a minute to a day, 2 to 1,000 distinct
# authors (one author is no crowd), a factor above 1 (at 1 the usual level itself would fire), a week's linger.
EARLY_WARNING_BOUNDS = {
	"detection_window": (1, 1440),
	"min_authors": (2, 1000),
	"burst_factor": (1.1, 100),
	"episode_linger": (1, 10080),
}


class SocialITSMSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		acknowledgement_template: DF.SmallText | None
		auto_acknowledge: DF.Check
		auto_action_max_age: DF.Int
		burst_factor: DF.Float
		default_priority: DF.DynamicLink | None
		default_team: DF.DynamicLink | None
		default_ticket_type: DF.DynamicLink | None
		detection_window: DF.Int
		effective_ticket_doctype: DF.Link | None
		enable_early_warning: DF.Check
		enable_polling: DF.Check
		episode_linger: DF.Int
		fetch_queue: DF.Data | None
		ignore_words: DF.SmallText | None
		incident_notify_role: DF.Link | None
		min_authors: DF.Int
		priority_doctype: DF.Link | None
		raw_payload_days: DF.Int
		reporter_replies_per_minute: DF.Int
		reporter_reply_template: DF.SmallText | None
		retention_days: DF.Int
		send_queue: DF.Data | None
		team_doctype: DF.Link | None
		ticket_doctype: DF.Literal["Auto", "HD Ticket", "Issue"]
		ticket_queue: DF.Data | None
		ticket_type_doctype: DF.Link | None
	# end: auto-generated types
	def validate(self):
		self.set_link_doctypes()
		self.validate_queues()
		self.validate_early_warning()

	def on_update(self):
		clear_catalogue_cache()  # the "Never a topic" words are part of the compiled service catalogue

	def validate_early_warning(self):
		"""Each threshold is empty (0: the detector's default) or within bounds that still make sense."""
		for fieldname, (low, high) in EARLY_WARNING_BOUNDS.items():
			value = flt(self.get(fieldname))
			if value and not low <= value <= high:
				frappe.throw(
					_("{0} must be between {1} and {2}, or empty for the default (it is {3}).").format(
						_(self.meta.get_label(fieldname)), low, high, value
					),
					title=_("Early warning"),
				)
		window, linger = self.detection_window or 5, self.episode_linger or 30
		if linger < window:
			frappe.throw(
				_("{0} ({1}) must be at least the window ({2} minutes): an outage cannot end sooner than it is "
				"counted.").format(_(self.meta.get_label("episode_linger")), linger, window),
				title=_("Early warning"),
			)

	def validate_queues(self):
		"""A queue named here must be one this bench knows: Frappe's own or one declared in common_site_config's
		"workers". Only a changed value is checked: a queue removed from the bench later does not block saving
		other settings (its jobs fall back to the built-in queue, see queues.queue_for)."""
		known = known_queues()
		for kind, fieldname in FIELDS.items():
			queue = (self.get(fieldname) or "").strip() or DEFAULTS[kind]
			self.set(fieldname, queue)
			if queue not in known and (self.is_new() or self.has_value_changed(fieldname)):
				frappe.throw(
					_(
						'{0}: "{1}" is not a queue of this bench (it knows {2}). Declare it in the bench\'s '
						'sites/common_site_config.json under "workers", e.g. {3}, restart the bench so that its '
						"processes read it, and run workers for it with {4} (on this machine or another one sharing "
						"the site's Redis and database)."
					).format(
						_(self.meta.get_label(fieldname)), escape_html(queue), ", ".join(known),
						escape_html(f'"workers": {{"{queue}": {{"timeout": 1500}}}}'),
						escape_html(f"bench worker --queue {queue}"),
					),
					title=_("Unknown queue"),
				)

	def set_link_doctypes(self):
		"""Point the priority/type/team pickers at the doctypes of the host that is installed."""
		profile = self.profile()
		apply_profile_links(self, profile, ("default_priority", "default_ticket_type", "default_team"))
		self.effective_ticket_doctype = profile.ticket_doctype if profile else None

	def profile(self) -> HostProfile | None:
		return choose_profile(self.ticket_doctype, frappe.get_installed_apps())


def apply_profile_links(doc: Document, profile: HostProfile | None, value_fields: tuple[str, str, str]) -> None:
	"""Set the hidden *_doctype fields behind the Dynamic Links; clear values that no longer fit."""
	targets = (
		("priority_doctype", profile.priority_doctype if profile else None),
		("ticket_type_doctype", profile.ticket_type_doctype if profile else None),
		("team_doctype", profile.team_doctype if profile else None),
	)
	for (doctype_field, target), value_field in zip(targets, value_fields, strict=True):
		current = doc.get(doctype_field)
		if target is None or (current and current != target):
			doc.set(value_field, None)  # no such doctype here, or the host changed: the old value cannot fit
		doc.set(doctype_field, target)
