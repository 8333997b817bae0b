// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

// Agents decide here: confirm the outage (one parent ticket for the crowd), dismiss it (the detector learns),
// resolve it (linked tickets answered, an article drafted), link other tickets, and write status broadcasts.
// The title, reason, words and channels come from posts: everything shown is escaped.
const API = "social_itsm_app.api.incidents.";
const INCIDENT_COLOURS = { Detected: "red", Confirmed: "orange", Resolved: "green", Dismissed: "gray" };

frappe.ui.form.on("Social Incident", {
	setup(frm) {
		frappe.realtime.on("social_itsm_incident", (message) => {
			if (message.name !== frm.doc.name || frm.doctype !== "Social Incident") return;
			// An agent's unsaved resolution text is not thrown away by someone else's change.
			if (frm.is_dirty()) {
				frappe.show_alert({ message: __("This incident changed meanwhile; save or reload."), indicator: "orange" });
				return;
			}
			frm.reload_doc();
		});
	},

	refresh(frm) {
		if (frm.is_new()) return;
		show_headline(frm);
		add_buttons(frm);
	},
});

function add_buttons(frm) {
	const status = frm.doc.status;
	if (status === "Detected") {
		frm.add_custom_button(__("Confirm"), () => confirm_incident(frm)).addClass("btn-primary");
		frm.add_custom_button(__("Dismiss"), () => dismiss_incident(frm));
	}
	if (status === "Confirmed") {
		frm.add_custom_button(__("Resolve"), () => resolve_incident(frm)).addClass("btn-primary");
	}
	if (status === "Detected" || status === "Confirmed") {
		frm.add_custom_button(__("Link ticket"), () => link_ticket(frm), __("More"));
	}
	if (status === "Confirmed" || status === "Resolved") {
		frm.add_custom_button(__("New status broadcast"), () => new_broadcast(frm), __("More"));
	}
	if (frm.doc.ticket) {
		frm.add_custom_button(__("Open ticket {0}", [frappe.utils.escape_html(String(frm.doc.ticket))]), () =>
			frappe.set_route("Form", frm.doc.ticket_doctype, frm.doc.ticket)
		);
	}
	if (frm.doc.article) {
		frm.add_custom_button(__("Open article draft"), () =>
			frappe.set_route("Form", frm.doc.article_doctype, frm.doc.article)
		);
	}
	frm.add_custom_button(__("Reports"), () =>
		frappe.set_route("List", "Social Post", { social_incident: frm.doc.name })
	);
}

function show_headline(frm) {
	render_headline(frm, 0);
	if (frm.doc.status === "Confirmed") {
		// Large incidents: the attach job may still be adding reports to the parent ticket.
		frappe.call({ method: API + "overview", type: "GET", args: { incident: frm.doc.name } }).then(({ message }) => {
			if (message.pending) render_headline(frm, message.pending);
		});
	}
}

function render_headline(frm, pending) {
	const esc = frappe.utils.escape_html;
	const doc = frm.doc;
	const colour = INCIDENT_COLOURS[doc.status] || "gray";
	const counts = __("{0} posts by {1} distinct authors", [cint(doc.posts_count), cint(doc.authors_count)]);
	const ticket = doc.ticket
		? ` · ${__("Parent ticket")}: <a href="/app/${frappe.router.slug(doc.ticket_doctype)}/${encodeURIComponent(doc.ticket)}">${esc(String(doc.ticket))}</a>`
		: "";
	const reason = doc.reason ? `<div class="small">${__("Why it fired")}: ${esc(doc.reason)}</div>` : "";
	const waiting = pending
		? `<div class="small">${__("{0} reports are still being added to the parent ticket.", [cint(pending)])}</div>`
		: "";
	frm.dashboard.set_headline(
		`<div><span class="indicator-pill ${colour}">${esc(__(doc.status))}</span>
			<b>${esc(doc.title || "")}</b> · ${esc(counts)}${ticket}</div>${reason}${waiting}`,
		colour
	);
}

function confirm_incident(frm) {
	frappe.confirm(
		__("Open one parent ticket for this outage with all {0} reports on its timeline?", [cint(frm.doc.posts_count)]),
		() =>
			frappe.call({
				method: API + "confirm",
				args: { incident: frm.doc.name },
				freeze: true,
				freeze_message: __("Opening the parent ticket…"),
				callback({ message }) {
					frappe.show_alert({
						message: message.queued
							? __("Ticket {0} opened; the reports are added in the background.", [esc_ticket(message)])
							: __("Ticket {0} holds the reports.", [esc_ticket(message)]),
						indicator: "green",
					});
					frm.reload_doc();
				},
			})
	);
}

function esc_ticket(message) {
	return frappe.utils.escape_html(String(message.ticket || ""));
}

function dismiss_incident(frm) {
	frappe.confirm(
		__("Not an outage? The detector learns this topic's usual level, nothing is sent, and the posts go back to the inbox."),
		() =>
			frappe.call({
				method: API + "dismiss",
				args: { incident: frm.doc.name },
				callback: () => frm.reload_doc(),
			})
	);
}

function resolve_incident(frm) {
	const dialog = new frappe.ui.Dialog({
		title: __("Resolve the incident"),
		fields: [
			{
				fieldname: "resolution",
				fieldtype: "Small Text",
				label: __("What was wrong and what fixed it"),
				reqd: 1,
				default: frappe.utils.html2text(frm.doc.resolution || ""),
				description: __(
					"Closes the parent ticket, answers and resolves the linked tickets with this text, and drafts a knowledge article."
				),
			},
		],
		primary_action_label: __("Resolve"),
		primary_action({ resolution }) {
			dialog.hide();
			frappe.call({
				method: API + "resolve",
				args: { incident: frm.doc.name, resolution },
				freeze: true,
				freeze_message: __("Resolving…"),
				callback({ message }) {
					const failed = message.failed || [];
					frappe.show_alert({
						message: failed.length
							? __("Resolved; these linked tickets could not be resolved: {0}", [
									failed.map((t) => frappe.utils.escape_html(String(t))).join(", "),
							  ])
							: __("Resolved; a knowledge article draft is ready."),
						indicator: failed.length ? "orange" : "green",
					});
					frm.reload_doc();
				},
			});
		},
	});
	dialog.show();
}

function link_ticket(frm) {
	frappe.db.get_single_value("Social ITSM Settings", "effective_ticket_doctype").then((ticket_doctype) => {
		if (!ticket_doctype) {
			frappe.msgprint(__("Install Frappe Helpdesk or ERPNext to link tickets."));
			return;
		}
		const dialog = new frappe.ui.Dialog({
			title: __("Link a ticket about the same outage"),
			fields: [
				{ fieldname: "ticket", fieldtype: "Link", options: ticket_doctype, label: __(ticket_doctype), reqd: 1 },
			],
			primary_action_label: __("Link"),
			primary_action({ ticket }) {
				dialog.hide();
				frappe.call({
					method: API + "link_ticket",
					args: { incident: frm.doc.name, ticket_doctype, ticket },
					callback({ message }) {
						frappe.show_alert({
							message: message.linked
								? __("{0} will be resolved with this incident.", [esc_ticket(message)])
								: __("{0} was already linked.", [esc_ticket(message)]),
							indicator: "green",
						});
						frm.reload_doc();
					},
				});
			},
		});
		dialog.show();
	});
}

function new_broadcast(frm) {
	// The broadcast goes to the channels the reports came from; the writer may change them before approval.
	frappe.call({ method: API + "overview", type: "GET", args: { incident: frm.doc.name } }).then(({ message }) => {
		frappe.model.with_doctype("Social Broadcast", () => {
			const broadcast = frappe.model.get_new_doc("Social Broadcast");
			broadcast.incident = frm.doc.name;
			if (frm.doc.status === "Resolved") broadcast.update_kind = "Resolved";
			for (const { channel } of message.channels) {
				frappe.model.add_child(broadcast, "channels").channel = channel;
			}
			frappe.set_route("Form", "Social Broadcast", broadcast.name);
		});
	});
}
