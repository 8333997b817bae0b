frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Social Posts per Channel"] = {
	method: "social_itsm_app.api.measures.posts_per_channel",
	filters: [],
};
