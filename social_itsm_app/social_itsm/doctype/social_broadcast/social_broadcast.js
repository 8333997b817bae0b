// Copyright (c) 2026, Social ITSM contributors and contributors
// For license information, please see license.txt

// frappe.ui.form.on("Social Broadcast", {
// 	refresh(frm) {

// 	},
// });
