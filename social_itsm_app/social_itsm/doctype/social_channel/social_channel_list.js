// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

// Channel health at a glance: the same colours as the form's indicator.
frappe.listview_settings["Social Channel"] = {
	add_fields: ["status", "enabled", "last_error", "paused_until"],
	get_indicator(doc) {
		const colours = {
			Active: "green",
			Paused: "orange",
			"Rate Limited": "orange",
			"Needs Re-authentication": "red",
			Failing: "red",
			Disabled: "gray",
		};
		const status = doc.enabled ? doc.status || "Active" : "Disabled";
		return [__(status), colours[status] || "gray", "status,=," + status];
	},
};
