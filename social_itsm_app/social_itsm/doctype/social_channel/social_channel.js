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

	intake_mode(frm) {
		show_push_intake(frm);
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
		if (frm.doc.network !== "Webhook") {
			frm.add_custom_button(__("Test connection"), () => test_connection(frm));
		}
		if (!is_push(frm)) {
			frm.add_custom_button(__("Fetch now"), () => fetch_now(frm));
		}
		show_push_intake(frm);
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
				total ? "<div class='social-itsm-activity'></div>" : `<p class="text-muted">${
					is_push(frm)
						? __("No posts in the last 14 days yet. Posts arrive when the network calls the webhook URL below.")
						: __("No posts in the last 14 days yet. Use Fetch now, or check what this channel listens to.")
				}</p>`,
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

// --- push intake: the URL to paste, the secret, and telling the network --------------------------------------------

const PUSH_ONLY = ["Webhook", "WhatsApp", "Instagram"];
const POLL_OR_PUSH = ["Telegram", "Facebook Page"];
const META = ["WhatsApp", "Instagram", "Facebook Page"];
// Where Meta's dashboard asks for the callback URL, the fields to subscribe to, and the account's own subscription
// to the app (Meta delivers an account's events only to apps the account is subscribed to).
const META_SETUP = {
	WhatsApp: [
		__("WhatsApp > Configuration > Webhook"),
		"messages",
		"POST /{WABA-ID}/subscribed_apps",
	],
	Instagram: [
		__("Instagram > Webhooks (or Webhooks > Instagram)"),
		"messages, comments",
		"POST /{ig-user-id}/subscribed_apps?subscribed_fields=messages,comments",
	],
	"Facebook Page": [
		__("Webhooks > Page"),
		"feed, messages",
		"POST /{page-id}/subscribed_apps?subscribed_fields=feed,messages",
	],
};

function is_push(frm) {
	return PUSH_ONLY.includes(frm.doc.network) || (POLL_OR_PUSH.includes(frm.doc.network) && frm.doc.intake_mode === "Push");
}

function show_push_intake(frm) {
	const field = frm.get_field("webhook_url");
	if (!field) return;
	const url = (frm.doc.__onload || {}).webhook_url;
	const $wrapper = $(field.wrapper).empty();
	if (frm.doc.network === "WhatsApp" && (frm.doc.__onload || {}).whatsapp_app_installed) {
		frm.dashboard.set_headline(
			__("The Frappe WhatsApp app is installed on this site too. Use one or the other for a business number: Meta sends a number's messages to one callback URL, and both apps would answer the same customers."),
			"orange"
		);
	}
	if (!is_push(frm)) {
		if (POLL_OR_PUSH.includes(frm.doc.network)) {
			$("<p class='text-muted small'></p>")
				.text(__("Set Intake to Push and save to receive posts seconds after they are written."))
				.appendTo($wrapper);
		}
		return;
	}
	if (frm.is_new() || !url) {
		$("<p class='text-muted small'></p>").text(__("Save the channel to get its webhook URL.")).appendTo($wrapper);
		return;
	}
	$("<div class='control-label'></div>").text(__("Webhook URL")).appendTo($wrapper);
	const $row = $("<div class='d-flex align-items-center' style='gap: var(--padding-sm)'></div>").appendTo($wrapper);
	$("<code class='social-itsm-webhook-url' style='word-break: break-all'></code>").text(url).appendTo($row);
	$("<button class='btn btn-xs btn-default'></button>")
		.text(__("Copy"))
		.on("click", () => frappe.utils.copy_to_clipboard(url))
		.appendTo($row);
	$("<p class='help-box small text-muted'></p>")
		.text(__("Anyone with this URL can try to deliver; only deliveries signed with this channel's secret are accepted."))
		.appendTo($wrapper);
	add_push_buttons(frm);
}

function add_push_buttons(frm) {
	frm.remove_custom_button(__("New webhook secret"), __("Push"));
	frm.remove_custom_button(__("Register webhook"), __("Push"));
	frm.add_custom_button(__("New webhook secret"), () => new_secret(frm), __("Push"));
	if (frm.doc.network !== "Webhook") {
		frm.add_custom_button(__("Register webhook"), () => register_webhook(frm), __("Push"));
	}
}

function new_secret(frm) {
	// 32 random bytes as base64url: also valid as Telegram's secret_token (A-Z a-z 0-9 _ -).
	const bytes = crypto.getRandomValues(new Uint8Array(32));
	const secret = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
	frm.set_value("webhook_secret", secret);
	const $body = $("<div></div>");
	$("<p></p>")
		.text(__("Copy this secret now: it is stored encrypted when you save and not shown again. Then save the channel and give it to the sender (Meta: the verify token)."))
		.appendTo($body);
	$("<code style='word-break: break-all'></code>").text(secret).appendTo($body);
	frappe.msgprint({ title: __("New webhook secret"), message: $body.html(), indicator: "blue" });
}

function register_webhook(frm) {
	if (frm.is_dirty()) {
		frappe.msgprint(__("Save the channel first."));
		return;
	}
	frappe.call({
		method: "social_itsm_app.api.webhook.register_webhook",
		args: { channel: frm.doc.name },
		freeze: true,
		callback({ message }) {
			const esc = frappe.utils.escape_html;
			if (message.registered) {
				frappe.show_alert({ message: __("{0} now pushes to this channel's webhook URL.", [esc(message.network)]), indicator: "green" });
				frm.reload_doc();
			} else if (message.error) {
				frappe.msgprint({ title: __("Registration failed"), indicator: "red", message: esc(message.error) });
			} else {
				const [where, fields, subscribe] = META_SETUP[message.network] || ["", "", ""];
				frappe.msgprint({
					title: __("Register the webhook in Meta's app dashboard"),
					indicator: "blue",
					message: __(
						"Meta sets the callback URL per app, in the app dashboard: open {0}, paste <code>{1}</code> as Callback URL and this channel's webhook secret as Verify token, press Verify and save, then subscribe to: {2}. Subscribe the account to the app too (Graph API Explorer, with the account's token): <code>{3}</code>. One app has one callback URL: deliveries for its other accounts are handed to their own channels.",
						[esc(where), esc(message.url), esc(fields), esc(subscribe)]
					),
				});
			}
		},
	});
}
