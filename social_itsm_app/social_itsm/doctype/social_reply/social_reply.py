# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

from frappe.model.document import Document


class SocialReply(Document):
	pass
