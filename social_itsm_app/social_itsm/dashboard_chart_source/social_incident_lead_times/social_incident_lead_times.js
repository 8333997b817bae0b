frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Social Incident Lead Times"] = {
	method: "social_itsm_app.api.measures.incident_lead_times",
	filters: [],
};
