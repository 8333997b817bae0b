"""A status update about an incident, published on the chosen channels after a Social Publisher approves it."""

from frappe.model.document import Document


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
	pass
