# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

from frappe.model.document import Document


class SocialReplyPart(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		external_id: DF.Data
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		url: DF.Data | None
	# end: auto-generated types
	pass
