// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

// A status broadcast: the writer asks for approval, a Social Publisher approves or rejects, each channel's
// delivery shows live. Everything that came from a network (errors, links, channel names) is set as text or
// escaped, never as markup.

const BROADCAST_API = "social_itsm_app.api.broadcasts.";
const BROADCAST_EVENT = "social_itsm_broadcast_update";
const DELIVERY_COLOURS = {
	Pending: "gray",
	Sending: "orange",
	Sent: "green",
	Failed: "red",
	"Not Supported": "gray",
};

frappe.ui.form.on("Social Broadcast", {
	setup(frm) {
		frm.set_query("channel", "channels", () => ({ filters: { status: ["!=", "Disabled"] } }));
	},

	onload(frm) {
		if (frm.is_new() && frm.doc.incident && !(frm.doc.channels || []).length) {
			preset_channels(frm);
		}
		frappe.realtime.off(BROADCAST_EVENT);
		frappe.realtime.on(BROADCAST_EVENT, (data) => {
			const form = cur_frm;
			if (!form || form.doctype !== "Social Broadcast" || !data || data.broadcast !== form.doc.name) return;
			render_delivery(form, data.rows || []);
			show_reporters(form, data.reporters_total, data.reporters_answered);
			if (data.status && data.status !== form.doc.status) form.reload_doc();
		});
	},

	refresh(frm) {
		// The status colours are defined once, in the list settings: frappe loads a doctype's _list.js with its form too.
		const [label, colour] = frappe.listview_settings["Social Broadcast"].get_indicator(frm.doc);
		frm.page.set_indicator(label, colour);
		// Once approval was requested the message is frozen (the controller refuses edits anyway).
		const editable = frm.is_new() || ["Draft", "Rejected"].includes(frm.doc.status);
		frm.toggle_enable(["incident", "update_kind", "text", "reply_to_reporters", "channels"], editable);
		if (!editable) frm.disable_save();
		add_actions(frm);
		render_delivery(frm, frm.doc.channels || []);
		show_reporters(frm, frm.doc.reporters_total, frm.doc.reporters_answered);
		render_preview(frm);
		if (frm.doc.status === "Rejected" && frm.doc.rejection_reason) {
			frm.set_intro(__("Rejected: {0}", [frappe.utils.escape_html(frm.doc.rejection_reason)]), "red");
		} else if (frm.doc.status === "Awaiting Approval") {
			frm.set_intro(__("Waiting for a Social Publisher. The message can no longer be changed."), "orange");
		}
	},

	incident(frm) {
		if (frm.doc.incident && !(frm.doc.channels || []).length) preset_channels(frm);
	},

	text(frm) {
		schedule_preview(frm);
	},
});

frappe.ui.form.on("Social Broadcast Channel", {
	channel(frm) {
		schedule_preview(frm);
	},
	channels_remove(frm) {
		schedule_preview(frm);
	},
});

function preset_channels(frm) {
	frappe.call({
		method: BROADCAST_API + "default_channels",
		type: "GET",
		args: { incident: frm.doc.incident },
		callback: (r) => {
			if ((frm.doc.channels || []).length) return;
			(r.message || []).forEach((row) => {
				const child = frm.add_child("channels");
				child.channel = row.channel;
				child.network = row.network;
			});
			frm.refresh_field("channels");
			schedule_preview(frm);
		},
	});
}

function add_actions(frm) {
	if (frm.is_new()) return;
	const status = frm.doc.status;
	const call = (method, args, label) =>
		frappe.call({
			method: BROADCAST_API + method,
			args: Object.assign({ broadcast: frm.doc.name }, args || {}),
			freeze: true,
			freeze_message: label,
			callback: () => frm.reload_doc(),
		});
	if ((status === "Draft" || status === "Rejected") && frm.perm[0] && frm.perm[0].write) {
		frm.add_custom_button(__("Request approval"), () => {
			if (frm.is_dirty()) {
				frappe.msgprint(__("Save the broadcast first."));
				return;
			}
			call("request_approval", {}, __("Asking for approval…"));
		}).addClass("btn-primary");
	}
	const publisher = frappe.user.has_role("Social Publisher") || frappe.user.has_role("System Manager");
	if (!publisher) return;
	if (status === "Awaiting Approval") {
		frm.add_custom_button(__("Approve and send"), () => call("approve", {}, __("Approving…"))).addClass(
			"btn-primary"
		);
		frm.add_custom_button(__("Reject"), () => {
			const dialog = new frappe.ui.Dialog({
				title: __("Reject broadcast"),
				fields: [{ fieldname: "reason", fieldtype: "Small Text", label: __("Why"), reqd: 1 }],
				primary_action_label: __("Reject"),
				primary_action: (values) => {
					dialog.hide();
					call("reject", { reason: values.reason }, __("Rejecting…"));
				},
			});
			dialog.show();
		});
	}
	if ((status === "Partly Failed" || status === "Failed") && (frm.doc.channels || []).some((r) => r.status === "Failed")) {
		frm.add_custom_button(__("Retry failed channels"), () => call("retry_failed", {}, __("Retrying…")));
	}
}

// Per channel: status indicator, a link to the post on the network, the error. Built with text nodes only.
function render_delivery(frm, rows) {
	const field = frm.get_field("delivery_html");
	if (!field) return;
	const $wrapper = $(field.wrapper).empty();
	if (frm.is_new() || ["Draft", "Awaiting Approval", "Rejected"].includes(frm.doc.status)) return;
	const $table = $('<table class="table table-bordered table-sm social-itsm-delivery"></table>').appendTo($wrapper);
	const $head = $("<tr></tr>").appendTo($("<thead></thead>").appendTo($table));
	[__("Channel"), __("Delivery"), __("On the network"), __("Error")].forEach((label) =>
		$("<th></th>").text(label).appendTo($head)
	);
	const $body = $("<tbody></tbody>").appendTo($table);
	rows.forEach((row) => {
		const $row = $("<tr></tr>").appendTo($body);
		$("<td></td>").text(row.channel || "").appendTo($row);
		const $status = $("<td></td>").appendTo($row);
		$('<span class="indicator-pill"></span>')
			.addClass(DELIVERY_COLOURS[row.status] || "gray")
			.text(__(row.status || ""))
			.appendTo($status);
		if (row.next_attempt_at && row.status === "Failed") {
			$("<div class='text-muted small'></div>")
				.text(__("Next attempt {0}", [frappe.datetime.str_to_user(row.next_attempt_at)]))
				.appendTo($status);
		}
		const $link = $("<td></td>").appendTo($row);
		if (row.url && /^https?:\/\//.test(row.url)) {
			$('<a target="_blank" rel="noopener noreferrer"></a>').attr("href", row.url).text(__("View")).appendTo($link);
		}
		$("<td class='text-muted small'></td>").text(row.error || "").appendTo($row);
	});
}

function show_reporters(frm, total, answered) {
	const field = frm.get_field("reporters_html");
	if (!field) return;
	const $wrapper = $(field.wrapper).empty();
	if (!frm.doc.reply_to_reporters || !total) return;
	const percent = Math.min(100, Math.round((100 * (answered || 0)) / total));
	$("<div class='small text-muted'></div>")
		.text(__("{0} of {1} reporters answered", [answered || 0, total]))
		.appendTo($wrapper);
	const $bar = $('<div class="progress" style="height: 8px"></div>').appendTo($wrapper);
	$('<div class="progress-bar" role="progressbar"></div>')
		.css("width", percent + "%")
		.attr({ "aria-valuenow": percent, "aria-valuemin": 0, "aria-valuemax": 100 })
		.appendTo($bar);
}

function schedule_preview(frm) {
	clearTimeout(frm.__social_itsm_preview);
	frm.__social_itsm_preview = setTimeout(() => render_preview(frm), 400);
}

// How the text goes out per channel: each part with its length against the network's limit, counted the
// network's way by the core's splitter.
function render_preview(frm) {
	const field = frm.get_field("preview_html");
	if (!field) return;
	const channels = (frm.doc.channels || []).map((row) => row.channel).filter(Boolean);
	const $wrapper = $(field.wrapper);
	if (!channels.length || !(frm.doc.text || "").trim()) {
		$wrapper.empty();
		return;
	}
	frappe.call({
		method: BROADCAST_API + "preview",
		type: "POST",
		args: { text: frm.doc.text, channels: JSON.stringify(channels) },
		callback: (r) => {
			$wrapper.empty();
			(r.message || []).forEach((entry) => {
				const $box = $("<div class='mb-3'></div>").appendTo($wrapper);
				const $title = $("<div class='bold'></div>").text(entry.channel + " · " + (entry.network || "")).appendTo($box);
				if (!entry.can_publish) {
					$("<span class='indicator-pill gray ml-2'></span>").text(__("Not Supported")).appendTo($title);
					$("<div class='text-muted small'></div>").text(entry.note || "").appendTo($box);
					return;
				}
				const parts = entry.parts || [];
				$("<div class='text-muted small'></div>")
					.text(
						parts.length > 1
							? __("{0} numbered parts, up to {1} each", [parts.length, entry.limit])
							: __("One post, up to {0}", [entry.limit])
					)
					.appendTo($box);
				parts.forEach((part) => {
					const $part = $("<div class='border rounded p-2 mt-1' style='white-space: pre-wrap'></div>")
						.text(part.text)
						.appendTo($box);
					$("<div class='text-right small'></div>")
						.toggleClass("text-danger", part.length > entry.limit)
						.toggleClass("text-muted", part.length <= entry.limit)
						.text(part.length + " / " + entry.limit)
						.appendTo($part);
				});
			});
		},
	});
}
