"""Where one broadcast goes, and how its delivery went on that channel."""

from frappe.model.document import Document


class SocialBroadcastChannel(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempts: DF.Int
		channel: DF.Link
		delivery_in_doubt: DF.Check
		error: DF.SmallText | None
		external_id: DF.Data | None
		first_attempt_at: DF.Datetime | None
		network: DF.Data | None
		next_attempt_at: DF.Datetime | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		sent_at: DF.Datetime | None
		sent_parts: DF.LongText | None
		status: DF.Literal["Pending", "Sending", "Sent", "Failed", "Not Supported"]
		url: DF.Data | None
	# end: auto-generated types
	pass
