"""A ticket about the same outage, linked to the incident: it is resolved with it."""

from frappe.model.document import Document


class SocialIncidentTicket(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		resolved: DF.Check
		ticket: DF.DynamicLink
		ticket_doctype: DF.Link
	# end: auto-generated types
	pass
