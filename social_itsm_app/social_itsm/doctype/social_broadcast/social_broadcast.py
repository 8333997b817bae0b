"""A status update about an incident, published on the chosen channels after a Social Publisher approves it.

The controller keeps the governance honest whatever saves the document (the desk, REST): the app's own fields
(status, who wrote and approved, counters, each channel's delivery) change only through the app
(``doc.flags.social_itsm``), and the message (text, channels, incident, kind) is frozen once approval was
requested, so what a publisher approved is what goes out. The transitions live in incidents/broadcasts.py.
"""

import frappe
from frappe import _
from frappe.model.document import Document

from social_itsm_app.permissions import keep_managed_fields
from social_itsm_app.statuses import DISMISSED, DRAFT, PENDING, REJECTED

# What the writer edits while the broadcast is a draft (or rejected, to fix and ask again).
MESSAGE_FIELDS = frozenset({"incident", "update_kind", "text", "reply_to_reporters", "channels"})
EDITABLE_STATUSES = (DRAFT, REJECTED)
# A channel row's delivery record, written by the send job only.
DELIVERY_FIELDS = ("status", "url", "external_id", "error", "attempts", "first_attempt_at", "delivery_in_doubt",
	"next_attempt_at", "sent_at", "sent_parts")


class SocialBroadcast(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from social_itsm_app.social_itsm.doctype.social_broadcast_channel.social_broadcast_channel import (
			SocialBroadcastChannel,
		)

		approved_at: DF.Datetime | None
		approved_by: DF.Link | None
		channels: DF.Table[SocialBroadcastChannel]
		incident: DF.Link
		rejection_reason: DF.SmallText | None
		reply_to_reporters: DF.Check
		reporters_answered: DF.Int
		reporters_total: DF.Int
		requested_at: DF.Datetime | None
		status: DF.Literal["Draft", "Awaiting Approval", "Approved", "Sending", "Sent", "Partly Failed", "Failed", "Rejected"]
		text: DF.LongText
		update_kind: DF.Literal["Investigating", "Identified", "Monitoring", "Resolved"]
		written_by: DF.Link | None
	# end: auto-generated types

	def validate(self):
		if self.flags.social_itsm:
			return
		if self.is_new():
			self.status = DRAFT  # whatever a REST client sends: a broadcast starts as a draft
			for fieldname in ("written_by", "requested_at", "approved_by", "approved_at", "rejection_reason"):
				self.set(fieldname, None)
			self.reporters_total = self.reporters_answered = 0
		else:
			keep_managed_fields(self, editable=MESSAGE_FIELDS)
			self.keep_message_frozen()
		self.check_channels()
		self.check_incident()

	def keep_message_frozen(self) -> None:
		"""Once approval was requested, the approved text is the one that goes out: no edits, by anyone."""
		before = self.get_doc_before_save()
		if before is None or before.status in EDITABLE_STATUSES:
			return
		changed = [f for f in sorted(MESSAGE_FIELDS - {"channels"}) if same(self.get(f)) != same(before.get(f))]
		if channel_rows(self) != channel_rows(before):
			changed.append("channels")
		if changed:
			frappe.throw(
				_("This broadcast is {0}: its message can no longer be changed ({1}). Write a new broadcast instead.")
				.format(_(before.status), ", ".join(changed)),
				frappe.PermissionError,
			)

	def check_channels(self) -> None:
		"""One row per channel; while the writer edits, each row's delivery is blank (the send job fills it)."""
		seen = set()
		for row in self.channels:
			if row.channel in seen:
				frappe.throw(_("Channel {0} is listed twice.").format(row.channel))
			seen.add(row.channel)
			if self.status in EDITABLE_STATUSES:
				for fieldname in DELIVERY_FIELDS:
					row.set(fieldname, None)
				row.status, row.attempts, row.delivery_in_doubt = PENDING, 0, 0
		if not self.channels:
			frappe.throw(_("Choose at least one channel to publish on."))

	def check_incident(self) -> None:
		if self.status in EDITABLE_STATUSES and frappe.db.get_value("Social Incident", self.incident, "status") == DISMISSED:
			frappe.throw(_("Incident {0} was dismissed: there is nothing to announce.").format(self.incident))


def channel_rows(doc) -> list[tuple[str, ...]]:
	"""The channels and their delivery, comparable between the saved and the submitted document."""
	return [tuple(same(row.get(f)) for f in ("channel", *DELIVERY_FIELDS)) for row in doc.get("channels") or []]


def same(value) -> str:
	"""A value as the desk sends it back (datetimes as text, empty as blank), to tell real changes."""
	return "" if value in (None, "", 0) else str(value)
