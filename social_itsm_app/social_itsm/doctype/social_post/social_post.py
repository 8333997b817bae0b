# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class SocialPost(Document):
	pass


def on_doctype_update():
	# The same post fetched twice (overlapping pages, webhook re-delivery) must never be stored twice:
	# the database, not the code path, is the last line of defence.
	frappe.db.add_unique("Social Post", ("channel", "external_id"), constraint_name="unique_channel_external_id")
	frappe.db.add_index("Social Post", ["channel", "thread_id"], index_name="channel_thread")
