// Social panel on HD Ticket and Issue forms: where the ticket came from, what went back, and a reply action.
(() => {
	const esc = (value) => frappe.utils.escape_html(value || "");
	const STATUS_COLOURS = { Queued: "blue", Sending: "orange", Sent: "green", Failed: "red" };

	function render(frm, data) {
		const posts = data.posts
			.map(
				(p) => `<div class="mb-3">
					<div>${esc(p.text).replace(/\n/g, "<br>")}</div>
					<div class="text-muted small">${esc(p.author_name)} (@${esc(p.author_handle)}) · ${esc(p.network)} ·
						${frappe.datetime.str_to_user(p.posted_at)}
						${/^https?:\/\//.test(p.url || "") ? `· <a href="${esc(p.url)}" target="_blank" rel="noopener noreferrer nofollow">${__("view original")}</a>` : ""}
						· <a href="/app/social-post/${encodeURIComponent(p.name)}">${__("post")}</a></div>
				</div>`
			)
			.join("");
		const replies = data.replies
			.map(
				(r) => `<div class="mb-2">
					<span class="indicator-pill ${STATUS_COLOURS[r.status] || "gray"}">${esc(__(r.status))}</span>
					<span class="text-muted small">${esc(__(r.reply_mode))}</span>
					${r.url && /^https?:\/\//.test(r.url) ? `<a class="small" href="${esc(r.url)}" target="_blank" rel="noopener noreferrer">${__("view on network")}</a>` : ""}
					<div>${esc(r.text)}</div>
					${r.status === "Failed" ? `<div class="text-danger small">${esc(r.last_error)}</div>` : ""}
				</div>`
			)
			.join("");
		frm.dashboard.add_section(
			`<div class="social-itsm-panel">${posts || `<p class="text-muted">${__("No posts yet.")}</p>`}
			${replies ? `<hr><div class="text-muted small mb-2">${__("Replies sent back")}</div>${replies}` : ""}</div>`,
			__("Social conversation")
		);
		frm.dashboard.show();
	}

	function reply_dialog(frm, network) {
		const dialog = new frappe.ui.Dialog({
			title: __("Reply on {0}", [network]),
			fields: [
				{ fieldname: "text", fieldtype: "Small Text", label: __("Reply"), reqd: 1 },
				{
					fieldname: "private",
					fieldtype: "Check",
					label: __("Private message"),
					default: frm.doc.social_reply_mode === "Private" ? 1 : 0,
					description: __("Public replies appear in the thread; private ones go as a direct message."),
				},
			],
			primary_action_label: __("Send"),
			primary_action(values) {
				frappe.call({
					method: "social_itsm_app.api.reply_on_network",
					args: { ticket_doctype: frm.doctype, ticket: frm.doc.name, text: values.text, private: values.private },
					callback() {
						dialog.hide();
						frappe.show_alert({ message: __("Reply queued for {0}", [network]), indicator: "blue" });
						frm.reload_doc();
					},
				});
			},
		});
		dialog.show();
	}

	function setup(frm) {
		if (!frm.doc.social_post || frm.is_new()) return;
		frappe.call({
			method: "social_itsm_app.api.ticket_social_panel",
			args: { ticket_doctype: frm.doctype, ticket: frm.doc.name },
			callback({ message }) {
				render(frm, message);
				const network = (message.posts[0] && message.posts[0].network) || __("the network");
				frm.add_custom_button(__("Reply on {0}", [network]), () => reply_dialog(frm, network));
			},
		});
		frappe.realtime.off("social_itsm_reply_update");
		frappe.realtime.on("social_itsm_reply_update", () => frm.reload_doc());
	}

	for (const doctype of ["HD Ticket", "Issue"]) {
		frappe.ui.form.on(doctype, { refresh: setup });
	}
})();
