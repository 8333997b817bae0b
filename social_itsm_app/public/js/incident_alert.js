// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

// Desk-wide: when the detector opens an incident ("created"; later events say it grew or was decided), every
// desk session that may read incidents sees an alert linking to it (no sound). The title is read with the user's
// own permissions, and escaped (it comes from the chatter).
$(document).on("app_ready", () => {
	if (!frappe.realtime || !frappe.model.can_read("Social Incident")) return;
	frappe.realtime.on("social_itsm_incident", ({ name, status, created } = {}) => {
		if (!created || status !== "Detected" || !name) return;
		if (frappe.get_route_str() === `Form/Social Incident/${name}`) return;
		frappe.db.get_value("Social Incident", name, ["title", "posts_count"]).then(({ message }) => {
			if (!message || !message.title) return;
			const esc = frappe.utils.escape_html;
			const href = `/app/social-incident/${encodeURIComponent(name)}`;
			frappe.show_alert(
				{
					message: `${__("Possible outage")}: <a href="${href}">${esc(message.title)}</a> (${__("{0} reports", [cint(message.posts_count)])})`,
					indicator: "red",
				},
				20
			);
		});
	});
});
