// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

frappe.listview_settings["Social Reply"] = {
	add_fields: ["status", "reply_mode", "last_error"],
	get_indicator(doc) {
		const colours = { Queued: "blue", Sending: "orange", Sent: "green", Failed: "red" };
		return [__(doc.status), colours[doc.status] || "gray", "status,=," + doc.status];
	},
};
