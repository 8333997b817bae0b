// Copyright (c) 2026, Social ITSM contributors
// For license information, please see license.txt

// A person's request to be forgotten is handled here (System Managers only; the server checks again).
frappe.ui.form.on("Social Identity", {
	refresh(frm) {
		if (frm.is_new() || !frappe.user.has_role("System Manager")) {
			return;
		}
		frm.add_custom_button(__("Erase this person's social data"), () => confirm_erase(frm), __("Actions"));
	},
});

function confirm_erase(frm) {
	const message = `<p>${__("This cannot be undone. For this person on {0}:", [
		frappe.utils.escape_html(__(frm.doc.network || "")),
	])}</p>
		<p><b>${__("Deleted")}:</b> ${__(
			"their posts that are on no ticket; this identity; its Contact when the app created it and no ticket names it; the unsubscribe record of its synthetic address."
		)}</p>
		<p><b>${__("Anonymised, kept")}:</b> ${__(
			"their posts on tickets (text, author, link and raw payload removed); their messages on those tickets (replaced by \"[erased at the person's request]\"); the subject and description of tickets opened from their posts; a Contact that tickets still name."
		)}</p>
		<p><b>${__("Kept as they are")}:</b> ${__(
			"the tickets themselves and your agents' answers (the person's name in them becomes \"[erased]\"). One line in the Social ITSM Settings timeline records who erased this identity and how many records, not what they held."
		)}</p>`;
	frappe.confirm(message, () =>
		frappe.call({
			method: "social_itsm_app.privacy.erase_identity",
			args: { identity: frm.doc.name },
			freeze: true,
			freeze_message: __("Erasing…"),
			callback: ({ message: result }) => {
				if (!result) {
					return;
				}
				if (result.queued) {
					frappe.msgprint(
						__("{0} posts: the erase runs in the background. The Social ITSM Settings timeline records it when done.", [
							result.posts,
						])
					);
				} else {
					frappe.show_alert({
						message: __("Erased: {0} posts deleted, {1} anonymised.", [
							result.posts_deleted,
							result.posts_anonymised,
						]),
						indicator: "green",
					});
				}
				frappe.set_route("List", "Social Identity");
			},
		})
	);
}
