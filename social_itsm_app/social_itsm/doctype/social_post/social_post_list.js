// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

frappe.listview_settings["Social Post"] = {
	hide_name_column: true,
	add_fields: ["status", "urgency", "urgency_level", "mood", "network", "ticket", "ticket_doctype"],

	get_indicator(doc) {
		const colours = { New: "blue", Converted: "green", Linked: "cyan", Ignored: "gray", Spam: "red" };
		return [__(doc.status), colours[doc.status] || "gray", "status,=," + doc.status];
	},

	formatters: {
		urgency_level(value) {
			if (!value) return "";
			const colour = { High: "red", Medium: "orange", Low: "gray" }[value] || "gray";
			return `<span class="indicator-pill ${colour}">${__(value)}</span>`;
		},
	},
};
