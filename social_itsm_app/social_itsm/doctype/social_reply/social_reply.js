// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

// A failed reply says why, and an agent can send it again once they checked the network.
frappe.ui.form.on("Social Reply", {
	refresh(frm) {
		if (frm.doc.status === "Failed") {
			frm.set_intro(frappe.utils.escape_html(frm.doc.last_error || __("The network refused this reply.")), "red");
			frm.add_custom_button(__("Retry"), () =>
				frappe.call({
					method: "social_itsm_app.api.retry_reply",
					args: { reply: frm.doc.name },
					callback: () => frm.reload_doc(),
				})
			);
		}
		if (frm.doc.url && /^https?:\/\//.test(frm.doc.url)) {
			frm.add_custom_button(__("View on the network"), () => window.open(frm.doc.url, "_blank", "noopener"));
		}
		if (frm.doc.ticket) {
			frm.add_custom_button(__("Open ticket"), () =>
				frappe.set_route("Form", frm.doc.ticket_doctype, frm.doc.ticket)
			);
		}
	},
});
