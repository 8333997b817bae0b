"""A service the desk supports: early warning groups outage reports by it."""

from frappe.model.document import Document


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
	pass
