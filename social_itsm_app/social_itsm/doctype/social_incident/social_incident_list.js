// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

frappe.listview_settings["Social Incident"] = {
	add_fields: ["status", "posts_count", "ticket", "ticket_doctype"],

	get_indicator(doc) {
		const colours = { Detected: "red", Confirmed: "orange", Resolved: "green", Dismissed: "gray" };
		return [__(doc.status), colours[doc.status] || "gray", "status,=," + doc.status];
	},

	onload(listview) {
		// New incidents and decisions by other agents show up without a reload.
		if (listview.social_itsm_incident_handler) return;
		listview.social_itsm_incident_handler = () => {
			if (frappe.get_route_str() === "List/Social Incident/List") listview.refresh();
		};
		frappe.realtime.on("social_itsm_incident", listview.social_itsm_incident_handler);
	},
};
