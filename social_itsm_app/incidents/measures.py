"""The early-warning measures behind the Social ITSM workspace's number cards and charts, and the hourly job
that finds each incident's lead time.

Lead time: how long before the first ticket about the same service arrived by another route (email, portal,
phone: a ticket whose ``social_post`` is empty). The ticket's subject and description are matched against the
incident's service with the same :class:`ServiceCatalogue` the detector uses (aliases as whole words, ignoring
case and accents), so "GlobalProtect keeps disconnecting" counts for the VPN when "GlobalProtect" is one of its
aliases. A negative lead time says the other route was first.

Every measure answers for whichever ticket host the site uses (HD Ticket or Issue), and answers None (the
cards show an empty state) on a site with neither.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from datetime import datetime, timedelta

import frappe
from frappe import _
from frappe.utils import (
	add_days,
	escape_html,
	formatdate,
	get_datetime,
	getdate,
	now_datetime,
	nowdate,
	strip_html_tags,
)
from frappe.utils.dateutils import (
	get_dates_from_timegrain,
	get_from_date_from_timespan,
	get_period,
	get_period_beginning,
)

from social_itsm_app.hosts import HostProfile
from social_itsm_app.statuses import DISMISSED
from social_itsm_app.triage.services import TERM_PREFIX, Service, ServiceCatalogue

SETTINGS = "Social ITSM Settings"
DAYS = 30  # what the cards look back over
# The first other-route ticket is looked for from an hour before the incident's first report (then the other
# route was first and the lead time is negative) to a day after it (later tickets are about something else).
BEFORE_FIRST_REPORT = timedelta(hours=1)
AFTER_FIRST_REPORT = timedelta(hours=24)
LEAD_TIME_LOOKBACK_DAYS = 2  # the hourly job retries incidents this recent until it finds their ticket
TICKET_BATCH = 200
MAX_TICKETS_SCANNED = 2000  # per incident and run: a busy desk's day of mail, read in creation order
DESCRIPTION_CHARS = 2000  # the opening of a ticket's description is where people say what is broken
MAX_CHANNEL_SERIES = 8  # more channels than a chart's legend can hold are summed as "Other"
LEAD_TIME_BARS = 20
# What the measures read from the host's ticket (HD Ticket and Issue both have these), besides our social_post.
SUBJECT, DESCRIPTION, FIRST_RESPONSE = "subject", "description", "first_responded_on"
HOST_TICKET_FIELDS = (SUBJECT, DESCRIPTION, FIRST_RESPONSE)


def ticket_profile() -> HostProfile | None:
	"""The site's ticket host, if its ticket doctype carries our ``social_post`` field (it does once installed)."""
	profile = frappe.get_cached_doc(SETTINGS).profile()
	if profile and frappe.get_meta(profile.ticket_doctype).has_field("social_post"):
		return profile
	return None


def since(days: int = DAYS) -> datetime:
	return get_datetime(add_days(nowdate(), -(days - 1)))


def median(values: list[float]) -> float | None:
	return statistics.median(values) if values else None


def minutes_between(start: datetime, end: datetime) -> float:
	return round((get_datetime(end) - get_datetime(start)).total_seconds() / 60, 1)


# --- tickets from social and the first answer -----------------------------------------------------------------


def social_tickets(days: int = DAYS) -> int | None:
	"""Tickets made from a social post in the last ``days`` days that the user may read; None without a host."""
	profile = ticket_profile()
	if profile is None:
		return None
	rows = frappe.get_list(profile.ticket_doctype, filters=_social_ticket_filters(days), fields=["count(*) as n"])
	return rows[0].n if rows else 0


def first_answer_minutes(days: int = DAYS) -> list[float] | None:
	"""Minutes from each answered social ticket's creation to its first response (last ``days`` days)."""
	profile = ticket_profile()
	if profile is None:
		return None
	rows = frappe.get_list(
		profile.ticket_doctype,
		filters=[*_social_ticket_filters(days), [FIRST_RESPONSE, "is", "set"]],
		fields=["creation", f"{FIRST_RESPONSE} as answered"],
		limit=0,
	)
	return [minutes for row in rows for minutes in [minutes_between(row.creation, row.answered)] if minutes >= 0]


def _social_ticket_filters(days: int) -> list:
	return [["social_post", "is", "set"], ["creation", ">=", since(days)]]


# --- posts per channel ---------------------------------------------------------------------------------------


def posts_per_channel(
	timespan: str = "Last Month", interval: str = "Daily", from_date: str | None = None, to_date: str | None = None
) -> dict:
	"""Posts per period and channel (by when they were posted) for a stacked bar chart, over a timespan and
	interval as frappe's own time series charts take them; {} when there are none."""
	last = getdate(to_date) if to_date else getdate()
	first = getdate(from_date) if timespan == "Select Date Range" and from_date else get_from_date_from_timespan(last, timespan)
	first = get_period_beginning(first, interval)
	ends = [getdate(end) for end in get_dates_from_timegrain(first, last, interval)]  # each period's last day
	post = frappe.qb.DocType("Social Post")
	day = frappe.query_builder.functions.Date(post.posted_at)
	rows = (
		frappe.qb.from_(post)
		.select(day.as_("day"), post.channel, frappe.query_builder.functions.Count("*").as_("posts"))
		.where((post.posted_at >= first) & (post.posted_at < add_days(last, 1)))
		.groupby(day, post.channel)
		.run(as_dict=True)
	)
	if not rows:
		return {}
	series: dict[str, list[int]] = {}
	for row in rows:
		i = bisect_left(ends, getdate(row.day))
		if i < len(ends):
			series.setdefault(row.channel or _("No channel"), [0] * len(ends))[i] += row.posts
	ranked = sorted(series, key=lambda channel: -sum(series[channel]))
	kept, rest = ranked[:MAX_CHANNEL_SERIES], ranked[MAX_CHANNEL_SERIES:]
	# frappe-charts writes labels and legends as markup: names are escaped
	datasets = [{"name": escape_html(channel), "values": series[channel]} for channel in kept]
	if rest:
		datasets.append({"name": _("Other"), "values": [sum(series[c][i] for c in rest) for i in range(len(ends))]})
	return {"labels": [get_period(end, interval) for end in ends], "datasets": datasets}


# --- incidents and their lead time ---------------------------------------------------------------------------


def lead_times(days: int = DAYS) -> list[float]:
	"""Lead times (minutes) of the incidents detected in the last ``days`` days whose other ticket was found."""
	return frappe.get_list(
		"Social Incident",
		filters=_measured_incidents(days),
		pluck="lead_time_minutes",
		limit=0,
	)


def lead_time_bars(days: int = 90) -> dict:
	"""The last incidents' lead times, one bar each (oldest first); {} when none has one yet."""
	rows = frappe.get_list(
		"Social Incident",
		filters=_measured_incidents(days),
		fields=["name", "service", "topic", "detected_at", "lead_time_minutes"],
		order_by="detected_at desc",
		limit=LEAD_TIME_BARS,
	)
	if not rows:
		return {}
	rows.reverse()
	return {
		"labels": [f"{escape_html(_what(row))} {formatdate(row.detected_at, 'd MMM')}" for row in rows],
		"datasets": [{"name": _("Lead time (minutes)"), "values": [row.lead_time_minutes for row in rows]}],
	}


def _what(incident: frappe._dict) -> str:
	"""What was down, in a word or two: the service, or the term an uncatalogued one was heard by."""
	topic = incident.topic or ""
	return incident.service or (topic[len(TERM_PREFIX) :] if topic.startswith(TERM_PREFIX) else incident.name)


def _measured_incidents(days: int) -> list:
	# Float columns are never NULL in Frappe: "found" is the other ticket being set, a lead time of 0 is real.
	return [["detected_at", ">=", since(days)], ["status", "!=", DISMISSED], ["other_ticket", "is", "set"]]


def fill_lead_times() -> int:
	"""Hourly job: find the lead time of recent incidents that have none yet. Returns how many were found."""
	profile = ticket_profile()
	if profile is None:
		return 0
	incidents = frappe.get_all(
		"Social Incident",
		filters=[
			["detected_at", ">=", add_days(now_datetime(), -LEAD_TIME_LOOKBACK_DAYS)],
			["status", "!=", DISMISSED],
			["other_ticket", "is", "not set"],
		],
		pluck="name",
	)
	found = 0
	for name in incidents:
		try:
			found += bool(record_lead_time(name, profile))
			frappe.db.commit()
		except Exception:
			frappe.db.rollback()
			frappe.log_error(title=f"Social ITSM: could not find the lead time of incident {name}")
	return found


def record_lead_time(incident: str, profile: HostProfile | None = None) -> float | None:
	"""Find the first other-route ticket about the incident's service and store it and the lead time on the
	incident. Returns the lead time in minutes, or None while no such ticket has arrived."""
	profile = profile or ticket_profile()
	if profile is None:
		return None
	doc = frappe.db.get_value(
		"Social Incident", incident, ["name", "service", "topic", "first_post_at", "detected_at"], as_dict=True
	)
	first_report = doc.first_post_at or doc.detected_at
	catalogue = _catalogue_for(doc)
	if catalogue is None or not first_report:
		return None
	ticket = first_other_ticket(profile.ticket_doctype, catalogue, get_datetime(first_report))
	if ticket is None:
		return None
	lead_time = minutes_between(first_report, ticket.creation)
	frappe.db.set_value(
		"Social Incident",
		incident,
		{"lead_time_minutes": lead_time, "other_ticket_doctype": profile.ticket_doctype, "other_ticket": ticket.name},
		update_modified=False,
	)
	return lead_time


def first_other_ticket(ticket_doctype: str, catalogue: ServiceCatalogue, first_report: datetime) -> frappe._dict | None:
	"""The earliest ticket near the first report that did not come from social and names the service."""
	parents = set(frappe.get_all("Social Incident", filters={"ticket": ("is", "set")}, pluck="ticket"))
	filters = [
		["creation", ">=", first_report - BEFORE_FIRST_REPORT],
		["creation", "<=", first_report + AFTER_FIRST_REPORT],
		["social_post", "is", "not set"],
	]
	for start in range(0, MAX_TICKETS_SCANNED, TICKET_BATCH):
		rows = frappe.get_all(
			ticket_doctype,
			filters=filters,
			fields=["name", "creation", SUBJECT, DESCRIPTION],
			order_by="creation asc, name asc",
			start=start,
			limit=TICKET_BATCH,
		)
		for row in rows:
			if str(row.name) not in parents and catalogue.services_in(_ticket_text(row)):  # HD Ticket names are ints
				return row
		if len(rows) < TICKET_BATCH:
			break
	return None


def _ticket_text(row: frappe._dict) -> str:
	description = strip_html_tags(row.get(DESCRIPTION) or "")[:DESCRIPTION_CHARS]
	return f"{row.get(SUBJECT) or ''}\n{description}"


def _catalogue_for(incident: frappe._dict) -> ServiceCatalogue | None:
	"""A catalogue of the incident's one service (its aliases), or of its term when nobody catalogued it."""
	if incident.service:
		record = frappe.db.get_value("Social Service", incident.service, ["service_name", "aliases"], as_dict=True)
		if record:
			return ServiceCatalogue([Service.from_record(record)])
	topic = incident.topic or ""
	term = topic[len(TERM_PREFIX) :].strip() if topic.startswith(TERM_PREFIX) else ""
	return ServiceCatalogue([Service.from_record({"name": term})]) if term else None


# --- how the cards say it --------------------------------------------------------------------------------------


def format_minutes(minutes: float | None) -> str:
	"""A duration for a number card: "45 min", "2 h 5 min", "3 d 4 h", "-20 min"; an en dash for none."""
	if minutes is None:
		return "–"
	sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
	if minutes < 60:
		return f"{sign}{minutes:.0f} min" if minutes >= 10 or minutes == int(minutes) else f"{sign}{minutes:.1f} min"
	hours, rest = divmod(round(minutes), 60)
	if hours < 24:
		return f"{sign}{hours} h {rest} min" if rest else f"{sign}{hours} h"
	days, hours = divmod(hours, 24)
	return f"{sign}{days} d {hours} h" if hours else f"{sign}{days} d"
