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
		if (frm.doc.status === "Failed" && frm.doc.channel) {
			frappe.db.get_value("Social Channel", frm.doc.channel, "network").then(({ message }) => {
				if (message && message.network === "WhatsApp") {
					frm.add_custom_button(__("Send as WhatsApp template"), () => send_as_template(frm));
				}
			});
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

// Outside WhatsApp's 24-hour window only an approved template is delivered: the agent names it (WhatsApp Manager
// lists the approved ones) and gives its body parameters; the customer's answer reopens the window.
function send_as_template(frm) {
	const dialog = new frappe.ui.Dialog({
		title: __("Send as WhatsApp template"),
		fields: [
			{
				fieldtype: "HTML",
				options: `<p class="text-muted small">${__(
					"WhatsApp delivers free text only within 24 hours of the customer's last message. Outside that window, send a message template approved in WhatsApp Manager; the customer's answer opens the window again."
				)}</p>`,
			},
			{ fieldname: "template", fieldtype: "Data", label: __("Template name"), reqd: 1, description: __("e.g. order_update") },
			{ fieldname: "language", fieldtype: "Data", label: __("Language code"), reqd: 1, default: "en", description: __("e.g. en or en_US") },
			{ fieldname: "parameters", fieldtype: "Small Text", label: __("Body parameters"), description: __("One per line, in the template's order.") },
		],
		primary_action_label: __("Send"),
		primary_action(values) {
			frappe.call({
				method: "social_itsm_app.api.whatsapp.send_as_template",
				args: { reply: frm.doc.name, ...values },
				callback: () => {
					dialog.hide();
					frm.reload_doc();
				},
			});
		},
	});
	dialog.show();
}
