// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

frappe.listview_settings["Social Post"] = {
	add_fields: ["status", "urgency", "sentiment", "network", "ticket", "ticket_doctype"],

	get_indicator(doc) {
		const colours = { New: "blue", Converted: "green", Linked: "cyan", Ignored: "gray", Spam: "red" };
		return [__(doc.status), colours[doc.status] || "gray", "status,=," + doc.status];
	},

	formatters: {
		urgency(value) {
			const score = flt(value);
			const colour = score >= 0.7 ? "red" : score >= 0.4 ? "orange" : "gray";
			return `<span class="indicator-pill ${colour}">${format_number(score, null, 2)}</span>`;
		},
	},
};
