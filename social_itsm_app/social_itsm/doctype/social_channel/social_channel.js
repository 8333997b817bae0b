// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

const HEALTH_COLOURS = {
	Active: "green",
	Paused: "orange",
	"Rate Limited": "orange",
	"Needs Re-authentication": "red",
	Failing: "red",
	Disabled: "gray",
};

frappe.ui.form.on("Social Channel", {
	setup(frm) {
		frappe.realtime.on("social_itsm_fetch_done", (summary) => {
			if (summary.channel !== frm.doc.name) return;
			frm.dashboard.clear_headline();
			// __() does not escape its arguments: everything a network or a channel name supplies is escaped.
			const esc = frappe.utils.escape_html;
			if (summary.status === "ok") {
				let message = __("{0}: {1} new posts, {2} already stored ({3} ms)", [
					esc(summary.channel),
					summary.stored,
					summary.duplicates,
					summary.duration_ms,
				]);
				if (summary.backlog) {
					message += " " + __("{0} of them are older and wait for agents.", [summary.backlog]);
				}
				frappe.show_alert({ message, indicator: "green" });
			} else {
				frappe.show_alert({ message: __("Fetch failed: {0}", [esc(summary.error)]), indicator: "red" }, 10);
			}
			frm.reload_doc();
		});
	},

	refresh(frm) {
		show_health(frm);
		if (frm.is_new()) {
			frm.set_intro(
				__("Pick the network, fill in the account and credentials, save, then use Test connection."),
				"blue"
			);
			return;
		}
		frm.add_custom_button(__("Test connection"), () => test_connection(frm));
		if (frm.doc.network !== "Webhook") {
			frm.add_custom_button(__("Fetch now"), () => fetch_now(frm));
		}
		frm.add_custom_button(__("Posts"), () =>
			frappe.set_route("List", "Social Post", { channel: frm.doc.name })
		);
		show_backlog(frm);
		show_activity(frm);
	},
});

function show_backlog(frm) {
	if (!frm.doc.backlog_posts) return;
	frm.dashboard.add_comment(
		__(
			"{0} older posts (written before this channel started listening, or long before they were read) wait for agents in the Social Post list: no rule converted or answered them.",
			[frm.doc.backlog_posts]
		),
		"blue",
		true
	);
}

function show_activity(frm) {
	frappe.call({
		method: "social_itsm_app.api.channel_activity",
		args: { channel: frm.doc.name },
		callback({ message }) {
			const total = message.received.reduce((a, b) => a + b, 0);
			// refresh runs again after Fetch now or a save: replace the section instead of adding another.
			$(frm.dashboard.parent).find(".social-itsm-activity-section").remove();
			const section = frm.dashboard.add_section(
				total ? "<div class='social-itsm-activity'></div>" : `<p class="text-muted">${__(
					"No posts in the last 14 days yet. Use Fetch now, or check what this channel listens to."
				)}</p>`,
				__("Last 14 days"),
				"social-itsm-activity-section"
			);
			frm.dashboard.show();
			if (!total) return;
			new frappe.Chart(section.find(".social-itsm-activity")[0], {
				type: "bar",
				height: 180,
				colors: ["#7cd6fd", "#5e64ff"],
				data: {
					labels: message.labels.map((day) => frappe.datetime.str_to_user(day)),
					datasets: [
						{ name: __("Posts"), values: message.received },
						{ name: __("Became tickets"), values: message.ticketed },
					],
				},
			});
		},
	});
}

function show_health(frm) {
	const status = frm.doc.status || "Active";
	frm.page.set_indicator(__(status), HEALTH_COLOURS[status] || "gray");
	if (status === "Needs Re-authentication") {
		frm.set_intro(
			__("The network refused the credentials. Update them and use Test connection; fetching resumes then."),
			"red"
		);
	} else if (status === "Rate Limited" && frm.doc.paused_until) {
		frm.set_intro(
			__("The network asked us to slow down. Fetching resumes at {0}.", [
				frappe.datetime.str_to_user(frm.doc.paused_until),
			]),
			"orange"
		);
	} else if (status === "Failing" && frm.doc.last_error) {
		frm.set_intro(
			__("The last {0} fetches failed: {1}", [
				frm.doc.consecutive_failures,
				frappe.utils.escape_html(frm.doc.last_error),
			]),
			"red"
		);
	}
}

function test_connection(frm) {
	frappe.call({
		method: "social_itsm_app.api.test_connection",
		args: { channel: frm.doc.name },
		freeze: true,
		freeze_message: __("Contacting {0}…", [frm.doc.network]),
		callback({ message }) {
			if (message.ok) {
				const account = message.account;
				frappe.msgprint({
					title: __("Connected"),
					indicator: "green",
					message: __("The credentials reach {0} ({1}).", [
						frappe.utils.escape_html(account.name || account.handle),
						frappe.utils.escape_html(account.handle || account.id),
					]),
				});
			} else {
				frappe.msgprint({
					title: __("Connection failed"),
					indicator: "red",
					message: frappe.utils.escape_html(message.error),
				});
			}
		},
	});
}

function fetch_now(frm) {
	frappe.call({
		method: "social_itsm_app.api.fetch_now",
		args: { channel: frm.doc.name },
		callback() {
			frm.dashboard.set_headline(__("Fetching {0}… new posts appear in the Social Post list.", [frm.doc.name]));
		},
	});
}
