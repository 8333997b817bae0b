// A service the desk supports: the owner team picker follows the host (HD Team in Helpdesk, none in ERPNext).

frappe.ui.form.on("Social Service", {
	refresh(frm) {
		frm.toggle_display("team", Boolean(frm.doc.team_doctype) || frm.is_new());
	},
	onload(frm) {
		if (!frm.doc.team_doctype && frm.is_new()) {
			frappe.db.get_single_value("Social ITSM Settings", "team_doctype").then((doctype) => {
				if (doctype) frm.set_value("team_doctype", doctype);
				frm.toggle_display("team", Boolean(doctype));
			});
		}
	},
});
