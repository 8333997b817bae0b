"""The early-warning measures as the workspace shows them: each shipped number card and dashboard chart called
the way frappe's widgets call it, the incidents' lead time, the hourly job, agents' access, the empty states.

Every test runs in one transaction that tearDown rolls back: the tests clear what the site already holds
(posts, incidents, social tickets) where a median or a chart needs a known set, and nothing of it stays.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from unittest.mock import patch

import frappe
from frappe.desk.doctype.dashboard_chart.dashboard_chart import get as dashboard_chart
from frappe.desk.doctype.dashboard_chart_source.dashboard_chart_source import get_config
from frappe.desk.doctype.number_card.number_card import get_result
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, add_months, get_datetime, getdate, now_datetime
from frappe.utils.dateutils import get_period

from social_itsm_app.incidents import measures
from social_itsm_app.statuses import CONFIRMED, DETECTED, DISMISSED
from social_itsm_app.tests.utils import (
	AGENT_ROLE,
	HAS_HELPDESK,
	HOST,
	NO_HOST,
	TICKET,
	make_feed_channel,
	make_feed_post,
	make_user,
)

CARDS = ("Tickets from Social", "First Answer on Social", "Incidents Detected", "Incident Lead Time", "Calls Deflected")
CHARTS = ("Social Posts per Channel", "Social Incidents per Week", "Social Incident Lead Times")
AGENT = "measures-agent@example.com"
SERVICE = "Measures VPN"


# --- how frappe's widgets ask ----------------------------------------------------------------------------------


def card_value(name: str):
	"""What the number card widget fetches: the custom method with the card's filters, else get_result."""
	card = frappe.get_doc("Number Card", name)
	if card.type == "Custom":
		return frappe.call(card.method, filters=card.filters_json)
	return get_result(json.dumps(card.as_dict(), default=str), card.filters_json)


def chart_data(name: str, **chosen) -> dict:
	"""What the chart widget fetches: a custom chart's source method (named in the source's script, which the
	widget loads with get_config), else frappe's dashboard_chart.get."""
	chart = frappe.get_doc("Dashboard Chart", name)
	args = {"chart_name": name, "filters": chart.filters_json, "refresh": 1, "time_interval": None, "timespan": None,
		"from_date": None, "to_date": None, "heatmap_year": None, **chosen}
	if chart.chart_type != "Custom":
		return dashboard_chart(**args)
	method = re.search(r'method:\s*"([^"]+)"', get_config(chart.source)).group(1)
	return frappe.call(method, **args)


# --- records ---------------------------------------------------------------------------------------------------


def ticket(subject: str, at, social_post: str | None = None, answered_after: float | None = None) -> str:
	"""A host ticket created at ``at``; from social when ``social_post`` is given."""
	doc = frappe.get_doc({"doctype": TICKET, "subject": subject, "raised_by": "measures-mail@example.com",
		"description": subject}).insert(ignore_permissions=True)
	values = {"creation": at, "social_post": social_post}
	if answered_after is not None:
		values["first_responded_on"] = get_datetime(at) + timedelta(minutes=answered_after)
	frappe.db.set_value(TICKET, doc.name, values, update_modified=False)
	return doc.name


def incident(detected_at, service: str | None = SERVICE, topic: str | None = None, status: str = DETECTED,
		first_post_at=None, **values) -> str:
	if service == SERVICE:
		make_service()
	doc = frappe.get_doc({"doctype": "Social Incident", "title": f"{service or topic} outage", "service": service,
		"topic": topic or f"service:{service}", "detected_at": detected_at,
		"first_post_at": first_post_at or detected_at, "episode": frappe.generate_hash(length=12)})
	doc.flags.social_itsm = True
	doc.insert(ignore_permissions=True)
	frappe.db.set_value("Social Incident", doc.name, {"status": status, **values}, update_modified=False)
	return doc.name


def make_service() -> str:
	if not frappe.db.exists("Social Service", SERVICE):
		frappe.get_doc({"doctype": "Social Service", "service_name": SERVICE, "aliases": "GlobalProtect, remote access"}
			).insert(ignore_permissions=True)
	return SERVICE


def make_agent() -> str:
	make_user(AGENT, (AGENT_ROLE,))
	if HAS_HELPDESK and not frappe.db.exists("HD Agent", AGENT):
		frappe.get_doc({"doctype": "HD Agent", "user": AGENT, "agent_name": "Measures Agent", "is_active": 1}
			).insert(ignore_permissions=True)
	return AGENT


def social_post_name(channel: str, external_id: str, **values) -> str:
	return make_feed_post(channel, external_id, **values).name


class MeasuresCase(FrappeTestCase):
	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()  # each test's records, and what it cleared, go


class TestCardsAndCharts(MeasuresCase):
	def test_the_app_ships_its_cards_and_charts_standard(self):
		for name in CARDS:
			self.assertEqual(frappe.db.get_value("Number Card", name, ["is_standard", "module"]), (1, "Social ITSM"))
		for name in CHARTS:
			self.assertEqual(frappe.db.get_value("Dashboard Chart", name, ["is_standard", "module"]), (1, "Social ITSM"))
		workspace = frappe.get_doc("Workspace", "Social ITSM")
		self.assertEqual({row.number_card_name for row in workspace.number_cards}, set(CARDS))
		self.assertEqual({row.chart_name for row in workspace.charts}, set(CHARTS))

	def test_posts_per_day_per_channel(self):
		frappe.db.delete("Social Post")
		first, second = make_feed_channel("Measures Feed A"), make_feed_channel("Measures Feed B")
		self.assertEqual(chart_data("Social Posts per Channel"), {})  # no posts: the widget's "No Data"
		now = now_datetime()
		social_post_name(first, "m-a1")
		social_post_name(first, "m-a2")
		social_post_name(first, "m-a3", posted_at=add_days(now, -3))
		social_post_name(second, "m-b1")
		social_post_name(second, "m-old", posted_at=add_days(now, -45))  # before the chart's last month
		data = chart_data("Social Posts per Channel")  # the chart's own timespan and interval: last month, daily
		days = (getdate() - getdate(add_months(getdate(), -1))).days + 1
		self.assertEqual(len(data["labels"]), days)
		self.assertEqual(data["labels"][-1], get_period(getdate(), "Daily"))
		series = {dataset["name"]: dataset["values"] for dataset in data["datasets"]}
		self.assertEqual(set(series), {first, second})
		self.assertEqual(series[first][-1], 2)
		self.assertEqual(series[first][-4], 1)
		self.assertEqual(sum(series[first]), 3)
		self.assertEqual(series[second], [0] * (days - 1) + [1])
		self.assertEqual(data["datasets"][0]["name"], first)  # busiest channel first
		# the chart's selectors: a quarter by week holds the older post too, and weeks sum the days
		weekly = chart_data("Social Posts per Channel", timespan="Last Quarter", time_interval="Weekly")
		series = {dataset["name"]: dataset["values"] for dataset in weekly["datasets"]}
		self.assertEqual((sum(series[first]), sum(series[second]), series[second][-1]), (3, 2, 1))

	def test_tickets_from_social_count_only_social_tickets_of_the_last_30_days(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		channel = make_feed_channel("Measures Feed A")
		before = card_value("Tickets from Social")
		now = now_datetime()
		ticket("VPN down (social)", now, social_post_name(channel, "m-t1"))
		ticket("VPN down again (social)", add_days(now, -29), social_post_name(channel, "m-t2"))
		ticket("Old (social)", add_days(now, -40), social_post_name(channel, "m-t3"))
		ticket("VPN down (mail)", now)
		after = card_value("Tickets from Social")
		self.assertEqual(after["value"], before["value"] + 2)
		self.assertEqual(after["route"], ["List", TICKET])
		self.assertEqual(after["route_options"], {"social_post": ["is", "set"]})

	def test_median_first_answer_on_social_tickets(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		frappe.db.sql(f"update `tab{TICKET}` set social_post = null")  # only this test's tickets count
		channel = make_feed_channel("Measures Feed A")
		self.assertEqual(card_value("First Answer on Social"), "–")  # nothing answered yet
		now = now_datetime()
		for number, minutes in enumerate((10, 20, 90)):
			ticket(f"Social {number}", now - timedelta(hours=3), social_post_name(channel, f"m-f{number}"), minutes)
		ticket("Social, unanswered", now - timedelta(hours=3), social_post_name(channel, "m-f-open"))
		ticket("Mail, answered late", now - timedelta(hours=3), answered_after=600)
		self.assertEqual(card_value("First Answer on Social"), "20 min")
		self.assertEqual(sorted(measures.first_answer_minutes()), [10, 20, 90])

	def test_incidents_detected_and_per_week(self):
		frappe.db.delete("Social Incident")
		self.assertEqual(card_value("Incidents Detected"), 0)
		now = now_datetime()
		incident(now)
		incident(add_days(now, -8), status=CONFIRMED)
		incident(now, status=DISMISSED)  # a false alarm is no incident
		incident(add_days(now, -40))  # before the card's 30 days, within the chart's quarter
		self.assertEqual(card_value("Incidents Detected"), 2)
		data = chart_data("Social Incidents per Week")
		self.assertEqual(len(data["datasets"]), 1)
		weekly = data["datasets"][0]["values"]
		self.assertEqual(len(weekly), len(data["labels"]))
		self.assertEqual(sum(weekly), 3)
		self.assertEqual(weekly[-1], 1)  # this week's

	def test_calls_deflected_counts_posts_absorbed_by_incidents(self):
		channel = make_feed_channel("Measures Feed A")
		before = card_value("Calls Deflected")
		absorbing = incident(now_datetime())
		for number in range(3):
			social_post_name(channel, f"m-d{number}", social_incident=absorbing)
		social_post_name(channel, "m-d-alone")
		self.assertEqual(card_value("Calls Deflected"), before + 3)


class TestLeadTime(MeasuresCase):
	def setUp(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		frappe.db.delete("Social Incident")
		self.channel = make_feed_channel("Measures Feed A")
		self.first_report = now_datetime().replace(microsecond=0) - timedelta(hours=3)

	def at(self, minutes: float):
		return self.first_report + timedelta(minutes=minutes)

	def test_the_first_ticket_by_another_route_about_the_service_gives_the_lead_time(self):
		parent = ticket("GlobalProtect outage (the incident's own parent ticket)", self.at(5))
		name = incident(self.at(2), first_post_at=self.first_report, ticket_doctype=TICKET, ticket=parent)
		self.assertIsNone(measures.record_lead_time(name))  # nothing by another route yet
		ticket("GlobalProtect down for me too", self.at(10), social_post_name(self.channel, "m-l1"))  # from social
		ticket("Printer jammed on floor 2", self.at(20))  # another service
		ticket("Remote access broken since this morning", self.at(-120))  # long before: another outage
		by_mail = ticket("Cannot connect: GlobalProtect says gateway unreachable", self.at(30))
		ticket("Measures VPN still down", self.at(40))  # later
		self.assertEqual(measures.record_lead_time(name), 30.0)
		stored = frappe.db.get_value("Social Incident", name,
			["lead_time_minutes", "other_ticket_doctype", "other_ticket"], as_dict=True)
		self.assertEqual((stored.lead_time_minutes, stored.other_ticket_doctype, stored.other_ticket),
			(30.0, TICKET, str(by_mail)))

	def test_a_service_nobody_catalogued_is_matched_by_its_term_and_the_median_is_on_the_card(self):
		by_service = incident(self.at(1), first_post_at=self.first_report)
		by_term = incident(self.at(60), service=None, topic="term:zoomly", first_post_at=self.at(60))
		ticket("Zoomly is not loading", self.at(110))
		ticket("remote access VPN fails", self.at(30))
		self.assertEqual(measures.record_lead_time(by_term), 50.0)
		self.assertEqual(measures.record_lead_time(by_service), 30.0)
		self.assertEqual(card_value("Incident Lead Time"), "40 min")
		bars = chart_data("Social Incident Lead Times")
		self.assertEqual(bars["datasets"][0]["values"], [30.0, 50.0])  # oldest first
		self.assertEqual([label.split()[0] for label in bars["labels"]], [SERVICE.split()[0], "zoomly"])

	def test_an_earlier_ticket_by_mail_gives_a_negative_lead_time(self):
		name = incident(self.at(5), first_post_at=self.first_report)
		ticket("VPN: GlobalProtect keeps dropping", self.at(-15))
		self.assertEqual(measures.record_lead_time(name), -15.0)
		self.assertEqual(card_value("Incident Lead Time"), "-15 min")

	def test_the_hourly_job_fills_recent_incidents_only(self):
		now = now_datetime()
		recent = incident(self.at(1), first_post_at=self.first_report)
		dismissed = incident(self.at(1), first_post_at=self.first_report, status=DISMISSED)
		old = incident(add_days(now, -3), first_post_at=add_days(now, -3))
		ticket("GlobalProtect gateway down", self.at(45))
		ticket("GlobalProtect gateway down (old)", add_days(now, -3) + timedelta(minutes=5))
		with patch.object(frappe.db, "commit"):  # the job commits per incident; this test's transaction stays open
			self.assertEqual(measures.fill_lead_times(), 1)
		self.assertEqual(frappe.db.get_value("Social Incident", recent, "lead_time_minutes"), 45.0)
		for untouched in (dismissed, old):
			self.assertFalse(frappe.db.get_value("Social Incident", untouched, "other_ticket"))
		self.assertEqual(card_value("Incident Lead Time"), "45 min")


class TestAccessAndEmptyStates(MeasuresCase):
	def test_an_agent_sees_every_card_and_chart_on_the_workspace(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		channel = make_feed_channel("Measures Feed A")
		social_post_name(channel, "m-agent")
		frappe.set_user(make_agent())
		self.assertNotIn("System Manager", frappe.get_roles())
		for name in CARDS:
			self.assertTrue(frappe.has_permission("Number Card", doc=name), name)
			self.assertIsNotNone(card_value(name), name)
		for name in CHARTS:
			self.assertTrue(frappe.has_permission("Dashboard Chart", doc=name), name)
			self.assertIsInstance(chart_data(name), dict, name)
		self.assertIn(channel, {d["name"] for d in chart_data("Social Posts per Channel")["datasets"]})
		from frappe.desk.desktop import get_desktop_page

		page = get_desktop_page(json.dumps({"name": "Social ITSM", "title": "Social ITSM", "public": 1}))
		self.assertEqual({c.number_card_name for c in page["number_cards"]["items"]}, set(CARDS))
		self.assertEqual({c.chart_name for c in page["charts"]["items"]}, set(CHARTS))
		shortcuts = {s["label"] for s in page["shortcuts"]["items"]}
		self.assertTrue({"Social Incident", "Social Service"} <= shortcuts, shortcuts)

	def test_someone_without_an_agent_role_is_refused(self):
		frappe.set_user(make_user("measures-stranger@example.com"))
		for method in ("tickets_from_social", "median_first_answer", "median_lead_time"):
			with self.assertRaises(frappe.PermissionError):
				frappe.call(f"social_itsm_app.api.measures.{method}")
		for method in ("posts_per_channel", "incident_lead_times"):
			with self.assertRaises(frappe.PermissionError):
				frappe.call(f"social_itsm_app.api.measures.{method}", chart_name="x")

	def test_without_a_ticket_host_the_cards_say_so_and_the_rest_renders(self):
		with patch.object(measures, "ticket_profile", return_value=None):  # as on a site with neither host
			self.assertEqual(card_value("Tickets from Social"), "No ticket desk")
			self.assertEqual(card_value("First Answer on Social"), "No ticket desk")
			self.assertIsNone(measures.social_tickets())
			self.assertEqual(measures.fill_lead_times(), 0)
			frappe.db.delete("Social Incident")
			self.assertEqual(card_value("Incident Lead Time"), "–")
			self.assertEqual(chart_data("Social Incident Lead Times"), {})
			self.assertEqual(card_value("Incidents Detected"), 0)


class TestFormat(FrappeTestCase):
	def test_durations_read_as_people_say_them(self):
		cases = {None: "–", 0: "0 min", 7.5: "7.5 min", 30: "30 min", 60: "1 h", 125: "2 h 5 min", 1500: "1 d 1 h",
			2880: "2 d", -15: "-15 min"}
		for minutes, text in cases.items():
			self.assertEqual(measures.format_minutes(minutes), text, minutes)
