# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class SocialIdentity(Document):
	pass


def on_doctype_update():
	# One person on one network is always one identity.
	frappe.db.add_unique("Social Identity", ("network", "author_id"), constraint_name="unique_network_author")
