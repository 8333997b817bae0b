"""Browser check of the early warning, as the people who use it: an agent's desk hears an outage live, the agent
confirms the incident and writes a status broadcast, a Social Publisher approves it, and the delivery per channel
appears on the broadcast's form while a real `bench worker` sends it to a fake Mastodon on loopback.

Runs on the Helpdesk test site and, where the bench has ERPNext, on the ERPNext one; skipped with the reason where
the browser check cannot run (see test_browser.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.fakes.mastodon_server import FakeMastodon
from tests.site import bench
from tests.site.test_browser import (
	DESK_AGENT,
	DESK_AGENT_PASSWORD,
	MAKE_DESK_AGENT,
	REASON,
	SHOTS,
	browser_page,
	log_in,
)

pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser check skipped: {REASON}")

PUBLISHER = "status-publisher@example.com"
PUBLISHER_PASSWORD = "Status-Publisher-1"
CHANNELS = ("Status Mastodon", "Status Mastodon EU")
# The README's screenshots are retaken on the Helpdesk site when asked (SOCIAL_ITSM_UPDATE_DOCS=1), not on every run.
DOCS = bench.REPO / "docs" / "screenshots" if os.environ.get("SOCIAL_ITSM_UPDATE_DOCS") == "1" else None

SETUP = """
from frappe.utils import add_to_date, now_datetime
from frappe.utils.password import update_password
agent_role = "Agent" if "helpdesk" in frappe.get_installed_apps() else "Support Team"
if not frappe.db.exists("User", {publisher!r}):
    frappe.get_doc({{"doctype": "User", "email": {publisher!r}, "first_name": "Pat", "last_name": "Publisher",
        "send_welcome_email": 0}}).insert()
frappe.get_doc("User", {publisher!r}).add_roles(agent_role, "Social Publisher")
update_password({publisher!r}, {password!r})
settings = frappe.get_single("Social ITSM Settings")
settings.update({{"enable_early_warning": 1, "detection_window": 5, "min_authors": 5, "burst_factor": 3,
    "episode_linger": 30}})
settings.save()
frappe.get_doc({{"doctype": "Social Service", "service_name": {service!r}, "aliases": "remote access"}}).insert()
for name, token in {channels!r}:
    if frappe.db.exists("Social Channel", name):
        frappe.delete_doc("Social Channel", name, force=True)
    frappe.get_doc({{"doctype": "Social Channel", "channel_name": name, "network": "Mastodon", "enabled": 0,
        "base_url": {base_url!r}, "access_token": token, "listening_since": add_to_date(now_datetime(), hours=-1)}}).insert()
"""

# Five people on two channels say the service is down within two minutes: what the fetch jobs store and hand over.
OUTAGE = """
from datetime import datetime, timedelta, timezone
from social_itsm_app.connectors import SocialPost
from social_itsm_app.ingest.jobs import after_store
from social_itsm_app.ingest.store import store_posts
start = datetime.now(timezone.utc) - timedelta(minutes=2)
for index, channel in enumerate({channel_names!r}):
    posts = [SocialPost(network="mastodon", external_id=f"{{channel}}-{{n}}", author_id=f"{{channel}}-author-{{n}}",
        author_handle=f"user{{index}}{{n}}", author_name=f"User {{index}}{{n}}",
        text="{service} is down, cannot connect <img src=x onerror=alert(1)>",
        created_at=start + timedelta(seconds=20 * (3 * index + n)), url=f"https://mastodon.example/@u/{{n}}",
        kind="mention") for n in range(3 if index == 0 else 2)]
    batch = store_posts(channel, "Mastodon", posts)
    frappe.db.commit()
    after_store(frappe.get_doc("Social Channel", channel), batch)
print(frappe.db.get_value("Social Incident", {{"service": {service!r}}}))
"""

OUTCOME = """
import json
incident = frappe.db.get_value("Social Incident", {{"service": {service!r}}}, ["name", "status", "ticket"], as_dict=True)
broadcast = frappe.get_all("Social Broadcast", filters={{"incident": incident.name}}, fields=["name", "status",
    "written_by", "approved_by"])
rows = frappe.get_all("Social Broadcast Channel", filters={{"parent": broadcast[0].name}},
    fields=["channel", "status", "url"]) if broadcast else []
print(json.dumps({{"incident": incident, "broadcasts": broadcast, "rows": rows}}, default=str))
"""

CLEANUP = """
for name in frappe.get_all("Social Incident", filters={{"service": {service!r}}}, pluck="name"):
    for broadcast in frappe.get_all("Social Broadcast", filters={{"incident": name}}, pluck="name"):
        frappe.delete_doc("Social Broadcast", broadcast, force=True, ignore_permissions=True)
    ticket_doctype, ticket = frappe.db.get_value("Social Incident", name, ["ticket_doctype", "ticket"])
    frappe.db.delete("Social Post", {{"social_incident": name}})
    frappe.delete_doc("Social Incident", name, force=True, ignore_permissions=True)
    if ticket:
        frappe.db.delete("Communication", {{"reference_doctype": ticket_doctype, "reference_name": ticket}})
        frappe.delete_doc(ticket_doctype, ticket, force=True, ignore_permissions=True)
for channel in {channel_names!r}:
    frappe.db.delete("Social Post", {{"channel": channel}})
    if frappe.db.exists("Social Channel", channel):
        frappe.delete_doc("Social Channel", channel, force=True, ignore_permissions=True)
frappe.delete_doc("Social Service", {service!r}, force=True, ignore_permissions=True)
"""

HOSTS = {bench.SITE: "helpdesk", bench.ERPNEXT_SITE: "erpnext"}


@pytest.fixture(scope="module", params=list(HOSTS), ids=["Helpdesk", "ERPNext"])
def outage_site(request):
	site = request.param
	bench.prepare()
	if site != bench.SITE:
		if not bench.bench_has_app(HOSTS[site]):
			pytest.skip(f"the bench at {bench.BENCH} has no {HOSTS[site]} app")
		bench.ensure_site(site, host_apps=(HOSTS[site],))
		bench.quiet_scheduler(site)
	bench.ready(site)
	bench.run_python(MAKE_DESK_AGENT.format(user=DESK_AGENT, password=DESK_AGENT_PASSWORD), site=site)
	return site


class Worker:
	"""A real `bench worker` on the built-in queues (the send job goes to "short"), for the length of a test."""

	def __enter__(self) -> Worker:
		self.process = subprocess.Popen([bench.bench_cmd(), "worker", "--queue", "short,default,long"], cwd=bench.BENCH,
			stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
		return self

	def __exit__(self, *exc) -> None:
		if self.process.poll() is None:
			os.killpg(self.process.pid, 15)
			self.process.wait(timeout=60)


def test_an_outage_heard_confirmed_and_broadcast_with_approval(outage_site):
	from playwright.sync_api import expect

	site = outage_site
	service = f"Remote Gate {int(time.time()) % 100000}"  # its own detector state in Redis, whatever ran before
	shots = SHOTS / f"incident-{HOSTS[site]}"
	shots.mkdir(parents=True, exist_ok=True)
	dialogs: list[str] = []
	with FakeMastodon(seed=21, arrival_rate=0.0, initial_mentions=0, author_prefix="status") as server:
		channels = [(name, server.token) for name in CHANNELS]
		cleanup = CLEANUP.format(service=service, channel_names=list(CHANNELS))
		bench.run_python(SETUP.format(publisher=PUBLISHER, password=PUBLISHER_PASSWORD, service=service,
			channels=channels, base_url=server.base_url), site=site)
		try:
			with browser_page(site, DESK_AGENT, DESK_AGENT_PASSWORD) as (page, base), Worker():
				page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
				# 1. The agent works in the desk; the outage is heard while the page is open.
				page.goto(f"{base}/app/social-incident")
				page.wait_for_function("frappe.realtime.socket && frappe.realtime.socket.connected", timeout=60_000)
				incident = bench.run_python(OUTAGE.format(channel_names=list(CHANNELS), service=service),
					site=site).strip().splitlines()[-1]
				assert incident and incident != "None", "five reporters on two channels opened no incident"
				alert = page.locator(".alert-message").filter(has_text="Possible outage")
				expect(alert.first).to_be_visible(timeout=30_000)  # no reload: the realtime alert
				expect(alert.first).to_contain_text(f"{service} reported down")
				# (the open list's own refresh on list_update is frappe's, debounced and skipped under load: the live
				# list is checked for Social Post in test_browser.py; the alert above is this app's live signal)
				page.screenshot(path=str(shots / "1-alert.png"))

				# 2. Open it from the alert and confirm: one parent ticket.
				alert.first.locator("a").click()
				page.wait_for_url(f"**/app/social-incident/{incident}", timeout=30_000)
				expect(page.get_by_text("5 posts by 5 distinct authors").first).to_be_visible(timeout=30_000)
				assert page.locator("img[src='x']").count() == 0  # the chatter is text, never markup
				page.get_by_role("button", name="Confirm", exact=True).click()
				page.locator(".modal.show").get_by_role("button", name="Yes").click()
				open_ticket = page.get_by_role("button", name=re.compile(r"^Open ticket "))
				try:
					expect(open_ticket).to_be_visible(timeout=45_000)
				except AssertionError:  # a loaded machine: the confirm went through, the form missed its refresh
					page.reload()
					expect(open_ticket).to_be_visible(timeout=60_000)
				expect(page.locator(".indicator-pill").filter(has_text="Confirmed").first).to_be_visible()
				page.screenshot(path=str(shots / "2-confirmed.png"), full_page=True)
				if DOCS and site == bench.SITE:
					page.screenshot(path=str(DOCS / "incident-form.png"))

				# 3. A status broadcast for both channels (preset from the incident), sent for approval.
				page.get_by_role("button", name="More").click()
				page.get_by_role("link", name="New status broadcast").click()
				page.wait_for_url("**/app/social-broadcast/new**", timeout=30_000)
				expect(page.locator("[data-fieldname='channels'] .grid-body .rows .grid-row")).to_have_count(2,
					timeout=30_000)
				page.locator("[data-fieldname='text'] textarea").fill(
					f"{service} is down for some of you. We are restarting the gateways; next update in 30 minutes.")
				page.keyboard.press("Control+s")
				expect(page.get_by_role("button", name="Request approval")).to_be_visible(timeout=30_000)
				broadcast = page.evaluate("cur_frm.doc.name")
				page.get_by_role("button", name="Request approval").click()
				expect(page.locator(".indicator-pill").filter(has_text="Awaiting Approval").first).to_be_visible(
					timeout=30_000)
				# The agent cannot approve (not a Social Publisher).
				expect(page.get_by_role("button", name="Approve and send")).to_have_count(0)

				# 4. The publisher approves in a browser of their own; the worker sends; delivery shows live.
				publisher = page.context.browser.new_page(viewport={"width": 1400, "height": 900})
				publisher.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
				log_in(publisher, base, PUBLISHER, PUBLISHER_PASSWORD)
				publisher.goto(f"{base}/app/social-broadcast/{broadcast}")
				publisher.wait_for_function("frappe.realtime.socket && frappe.realtime.socket.connected",
					timeout=60_000)
				publisher.get_by_role("button", name="Approve and send").click()
				delivery = publisher.locator(".social-itsm-delivery")
				# the worker's job, heard through realtime: each channel's row turns Sent with its link
				expect(delivery.locator(".indicator-pill").filter(has_text="Sent")).to_have_count(2, timeout=120_000)
				expect(delivery.get_by_role("link", name="View")).to_have_count(2)
				publisher.screenshot(path=str(shots / "3-delivered.png"), full_page=True)
				if DOCS and site == bench.SITE:
					publisher.screenshot(path=str(DOCS / "broadcast-form.png"), full_page=True)
			outcome = json.loads(bench.run_python(OUTCOME.format(service=service), site=site).strip().splitlines()[-1])
		finally:
			bench.run_python(cleanup, site=site)
		posted = [status for status in server.created if not status["in_reply_to_id"]]
	assert dialogs == []
	assert outcome["incident"]["status"] == "Confirmed" and outcome["incident"]["ticket"]
	[sent_broadcast] = outcome["broadcasts"]
	assert (sent_broadcast["status"], sent_broadcast["written_by"], sent_broadcast["approved_by"]) == (
		"Sent", DESK_AGENT, PUBLISHER)
	assert sorted(row["channel"] for row in outcome["rows"] if row["status"] == "Sent") == sorted(CHANNELS)
	assert len(posted) == 2  # one status per channel, once
	print(f"screenshots in {shots}")

