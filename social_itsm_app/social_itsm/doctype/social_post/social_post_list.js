// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

frappe.listview_settings["Social Post"] = {
	hide_name_column: true,
	add_fields: ["status", "urgency", "urgency_level", "mood", "network", "ticket", "ticket_doctype"],

	get_indicator(doc) {
		const colours = { New: "blue", Converted: "green", Linked: "cyan", Ignored: "gray", Spam: "red" };
		return [__(doc.status), colours[doc.status] || "gray", "status,=," + doc.status];
	},

	onload(listview) {
		// The server owns the bulk limit (api.BULK_INLINE_LIMIT): until it answers, nothing freezes.
		frappe.call({ method: "social_itsm_app.api.post_list_settings", type: "GET" }).then(({ message }) => {
			listview.social_itsm_settings = message;
		});
		listview.page.add_actions_menu_item(__("Convert to tickets"), () => convert_selected(listview), false);
		listview.page.add_actions_menu_item(__("Mark as Spam"), () => set_selected(listview, "Spam"), false);
		listview.page.add_actions_menu_item(__("Ignore"), () => set_selected(listview, "Ignored"), false);
	},

	formatters: {
		urgency_level(value) {
			if (!value) return "";
			const colour = { High: "red", Medium: "orange", Low: "gray" }[value] || "gray";
			return `<span class="indicator-pill ${colour}">${__(value)}</span>`;
		},
	},
};

function convert_selected(listview) {
	const posts = listview.get_checked_items(true);
	if (!posts.length) return;
	frappe.realtime.off("social_itsm_convert_done");
	frappe.realtime.on("social_itsm_convert_done", ({ results }) => report(listview, results));
	frappe.call({
		method: "social_itsm_app.api.convert_many",
		args: { posts },
		freeze: posts.length <= (listview.social_itsm_settings?.bulk_inline_limit || 0),
		freeze_message: __("Creating {0} tickets…", [posts.length]),
		callback({ message }) {
			if (message.queued) {
				frappe.show_alert(__("Converting {0} posts in the background; progress is shown here.", [message.count]));
			} else {
				report(listview, message.results);
			}
		},
	});
}

function report(listview, results) {
	const failed = results.filter((r) => r.error);
	const created = results.filter((r) => r.created).length;
	frappe.show_alert({
		message: __("{0} tickets created, {1} already had one, {2} failed", [
			created,
			results.length - created - failed.length,
			failed.length,
		]),
		indicator: failed.length ? "orange" : "green",
	});
	listview.clear_checked_items();
	listview.refresh();
}

function set_selected(listview, status) {
	const posts = listview.get_checked_items(true);
	if (!posts.length) return;
	frappe.call({
		method: "social_itsm_app.api.set_post_status",
		args: { posts, status },
		callback() {
			listview.clear_checked_items();
			listview.refresh();
		},
	});
}
