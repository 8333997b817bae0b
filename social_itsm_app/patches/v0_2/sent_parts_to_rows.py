"""Social Reply kept its accepted parts as JSON (``sent_parts``); they are now rows of Social Reply Part,
so that a customer answering any part can be found with an indexed lookup."""

import json

import frappe


def execute():
	# Frappe keeps a removed field's column: read it while it is there.
	if not frappe.db.has_column("Social Reply", "sent_parts"):
		return
	replies = frappe.db.sql(
		"select name, sent_parts from `tabSocial Reply` where ifnull(sent_parts, '') not in ('', '[]')", as_dict=True
	)
	for reply in replies:
		if frappe.db.exists("Social Reply Part", {"parent": reply.name, "parenttype": "Social Reply"}):
			continue
		try:
			parts = json.loads(reply.sent_parts)
		except ValueError:
			continue
		for idx, part in enumerate(parts, 1):
			frappe.get_doc({
				"doctype": "Social Reply Part", "parent": reply.name, "parenttype": "Social Reply",
				"parentfield": "parts", "idx": idx, "external_id": str(part.get("external_id") or "")[:255],
				"url": str(part.get("url") or "")[:1000],
			}).db_insert()
