// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

frappe.listview_settings["Social Broadcast"] = {
	add_fields: ["status", "update_kind", "reporters_total", "reporters_answered"],
	get_indicator(doc) {
		const colours = {
			Draft: "gray",
			"Awaiting Approval": "orange",
			Approved: "blue",
			Sending: "orange",
			Sent: "green",
			"Partly Failed": "orange",
			Failed: "red",
			Rejected: "red",
		};
		return [__(doc.status), colours[doc.status] || "gray", "status,=," + doc.status];
	},
};
