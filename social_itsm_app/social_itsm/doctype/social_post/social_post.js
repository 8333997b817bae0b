// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

// Agents work here: read the post safely rendered, turn it into a ticket with one click, or file it away.
frappe.ui.form.on("Social Post", {
	refresh(frm) {
		show_post(frm);
		if (frm.doc.ticket) {
			frm.add_custom_button(__("Open ticket {0}", [frm.doc.ticket]), () =>
				frappe.set_route("Form", frm.doc.ticket_doctype, frm.doc.ticket)
			);
		} else if (frm.doc.status !== "Spam") {
			frm.add_custom_button(__("Convert to Ticket"), () => convert(frm)).addClass("btn-primary");
			frm.add_custom_button(__("Link to existing ticket"), () => link_to_ticket(frm), __("More"));
		}
		if (!frm.doc.ticket) {
			for (const [label, status] of [
				[__("Mark as Spam"), "Spam"],
				[__("Ignore"), "Ignored"],
				[__("Back to New"), "New"],
			]) {
				if (frm.doc.status !== status) {
					frm.add_custom_button(label, () => set_status(frm, status), __("More"));
				}
			}
		}
		frm.add_custom_button(__("Author history"), () => author_history(frm), __("More"));
		// Keyboard: Ctrl+Shift+T converts, as the button does.
		frappe.ui.keys.add_shortcut({
			shortcut: "ctrl+shift+t",
			action: () => !frm.doc.ticket && frm.doc.status !== "Spam" && convert(frm),
			description: __("Convert to Ticket"),
			page: frm.page,
		});
	},
});

function show_post(frm) {
	const esc = frappe.utils.escape_html;
	const doc = frm.doc;
	const paragraphs = (doc.text || "")
		.split(/\n{2,}/)
		.map((p) => `<p>${esc(p).replace(/\n/g, "<br>")}</p>`)
		.join("");
	const link = /^https?:\/\//.test(doc.url || "")
		? ` · <a href="${esc(doc.url)}" target="_blank" rel="noopener noreferrer nofollow">${__("view original")}</a>`
		: "";
	const rule = doc.matched_rule ? ` · ${__("rule")}: ${esc(doc.matched_rule)}` : "";
	frm.dashboard.reset();
	frm.dashboard.add_section(
		`<div class="social-itsm-post" style="font-size: var(--text-base); line-height: 1.5">
			${paragraphs || `<p class="text-muted">${__("(no text)")}</p>`}
			<p class="text-muted small">${esc(doc.author_name || "")} (@${esc(doc.author_handle || "")}) ·
				${esc(doc.network || "")} · ${esc(doc.kind || "")}${link}${rule}</p>
		</div>`,
		__("On {0}", [__(doc.network || "")])
	);
	frm.dashboard.show();
}

function convert(frm) {
	frappe.call({
		method: "social_itsm_app.api.convert_to_ticket",
		args: { post: frm.doc.name },
		freeze: true,
		freeze_message: __("Creating the ticket…"),
		callback({ message }) {
			frappe.show_alert({
				message: message.created
					? __("Ticket {0} created", [message.ticket])
					: __("This post already has ticket {0}", [message.ticket]),
				indicator: "green",
			});
			frm.reload_doc();
		},
	});
}

function link_to_ticket(frm) {
	frappe.db.get_single_value("Social ITSM Settings", "effective_ticket_doctype").then((ticket_doctype) => {
		if (!ticket_doctype) {
			frappe.msgprint(__("Install Frappe Helpdesk or ERPNext to link posts to tickets."));
			return;
		}
		frappe.prompt(
			[{ fieldname: "ticket", fieldtype: "Link", options: ticket_doctype, label: __(ticket_doctype), reqd: 1 }],
			({ ticket }) =>
				frappe.call({
					method: "social_itsm_app.api.link_to_ticket",
					args: { post: frm.doc.name, ticket_doctype, ticket },
					callback: () => frm.reload_doc(),
				}),
			__("Link to an existing ticket"),
			__("Link")
		);
	});
}

function set_status(frm, status) {
	frappe.call({
		method: "social_itsm_app.api.set_post_status",
		args: { posts: [frm.doc.name], status },
		callback: () => frm.reload_doc(),
	});
}

function author_history(frm) {
	frappe.call({
		method: "social_itsm_app.api.author_history",
		args: { post: frm.doc.name },
		callback({ message }) {
			const esc = frappe.utils.escape_html;
			const rows = message.posts
				.map(
					(p) => `<tr><td>${frappe.datetime.str_to_user(p.posted_at)}</td>
					<td><a href="/app/social-post/${encodeURIComponent(p.name)}">${esc(p.title || p.name)}</a></td>
					<td>${esc(__(p.status))}</td>
					<td>${p.ticket ? `<a href="/app/${frappe.router.slug(p.ticket_doctype)}/${encodeURIComponent(p.ticket)}">${esc(p.ticket)}</a>` : ""}</td></tr>`
				)
				.join("");
			frappe.msgprint({
				title: __("Earlier posts by {0}", [esc(frm.doc.author_name || frm.doc.author_handle)]),
				message: rows
					? `<table class="table table-bordered small"><thead><tr><th>${__("When")}</th><th>${__("Post")}</th><th>${__("Status")}</th><th>${__("Ticket")}</th></tr></thead><tbody>${rows}</tbody></table>`
					: `<p class="text-muted">${__("This is the first post we have from this person.")}</p>`,
				wide: true,
			});
		},
	});
}
