"""The methods behind the Social ITSM workspace's custom number cards and dashboard charts.

Custom number cards are called with the card's ``filters``; custom chart sources as frappe's chart widget calls
them (``chart_name``, ``filters``, ``refresh`` and the time arguments the widget always sends). Every one checks
that the user is an agent who may read what it counts; the measures come from incidents.measures.
"""

from __future__ import annotations

import frappe
from frappe import _

from social_itsm_app.incidents import measures
from social_itsm_app.permissions import require_agent

Filters = str | list | dict | None
ChartArgument = str | int | None
# The chart widget calls a custom source with chart_name, filters, refresh, time_interval, timespan, from_date,
# to_date and heatmap_year: a source names the ones it reads and takes the rest as ``**unread``.
WidgetArgument = Filters | ChartArgument


def _readable(doctype: str) -> None:
	require_agent()
	frappe.has_permission(doctype, "read", throw=True)


def _no_host() -> str:
	return _("No ticket desk")


@frappe.whitelist()
def tickets_from_social(filters: Filters = None) -> dict | str:
	"""Tickets made from social posts in the last 30 days (clicking opens them)."""
	profile = measures.ticket_profile()
	if profile is None:
		require_agent()
		return _no_host()
	_readable(profile.ticket_doctype)
	return {
		"value": measures.social_tickets(),
		"fieldtype": "Int",
		"route": ["List", profile.ticket_doctype],
		"route_options": {"social_post": ["is", "set"]},
	}


@frappe.whitelist()
def median_first_answer(filters: Filters = None) -> str:
	"""Median time from a social ticket's creation to its first answer, last 30 days."""
	profile = measures.ticket_profile()
	if profile is None:
		require_agent()
		return _no_host()
	_readable(profile.ticket_doctype)
	return measures.format_minutes(measures.median(measures.first_answer_minutes()))


@frappe.whitelist()
def median_lead_time(filters: Filters = None) -> str:
	"""Median lead time of the incidents detected in the last 30 days over the first ticket by another route."""
	_readable("Social Incident")
	return measures.format_minutes(measures.median(measures.lead_times()))


@frappe.whitelist()
def posts_per_channel(
	chart_name: ChartArgument = None,
	time_interval: ChartArgument = None,
	timespan: ChartArgument = None,
	from_date: ChartArgument = None,
	to_date: ChartArgument = None,
	**unread: WidgetArgument,
) -> dict:
	"""Chart source "Social Posts per Channel": posts per period and channel over the timespan and interval the
	chart's selectors name (the chart's own settings until someone picks others)."""
	_readable("Social Post")
	chart = chart_name and frappe.db.get_value("Dashboard Chart", chart_name, ["timespan", "time_interval"], as_dict=True)
	chart = chart or {}
	return measures.posts_per_channel(
		timespan=str(timespan or chart.get("timespan") or "Last Month"),
		interval=str(time_interval or chart.get("time_interval") or "Daily"),
		from_date=str(from_date) if from_date else None,
		to_date=str(to_date) if to_date else None,
	)


@frappe.whitelist()
def incident_lead_times(**unread: WidgetArgument) -> dict:
	"""Chart source "Social Incident Lead Times": the last incidents' lead times, one bar each."""
	_readable("Social Incident")
	return measures.lead_time_bars()
