"""The Social Incident form's connections: its reports (Social Post) and its status broadcasts."""

from frappe import _


def get_data() -> dict:
	return {
		"fieldname": "social_incident",
		"non_standard_fieldnames": {"Social Broadcast": "incident"},
		"transactions": [
			{"label": _("Reports"), "items": ["Social Post"]},
			{"label": _("Status updates"), "items": ["Social Broadcast"]},
		],
	}
