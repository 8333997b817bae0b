"""Browser check: headless Chromium logs in to the test site, converts a Social Post and sees the ticket.

It runs on the Helpdesk site (an HD Ticket) and, where the bench has ERPNext, on the ERPNext site (an Issue).

Runs with the site tier when a bench, Debian's Chromium (/usr/bin/chromium) and Python Playwright (test
extra; it drives the system Chromium, nothing is downloaded) are present; otherwise skipped with the reason.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.site import bench

CHROMIUM = os.environ.get("SOCIAL_ITSM_CHROMIUM", "/usr/bin/chromium")
PORT = int(os.environ.get("SOCIAL_ITSM_WEB_PORT", "8123"))
SHOTS = Path(os.environ.get("SOCIAL_ITSM_SCREENSHOTS", "/tmp/social-itsm-screenshots"))


def _reason() -> str | None:
	if bench.missing_reason():
		return bench.missing_reason()
	if not Path(CHROMIUM).exists():
		return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
	try:
		import playwright.sync_api  # noqa: F401
	except ImportError:
		return "Python Playwright is not installed (pip install -e '.[test]')"
	return None


REASON = _reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser check skipped: {REASON}")

MAKE_POST = """
from datetime import datetime, timezone
from social_itsm_app.connectors import SocialPost
from social_itsm_app.ingest.store import store_posts
if not frappe.db.exists("Social Channel", "Browser Mastodon"):
    frappe.get_doc({"doctype": "Social Channel", "channel_name": "Browser Mastodon", "network": "Mastodon",
        "base_url": "https://mastodon.example", "access_token": "x"}).insert()
external_id = "browser-" + frappe.generate_hash(length=8)
store_posts("Browser Mastodon", "Mastodon", [SocialPost(network="mastodon", external_id=external_id,
    text="The badge reader at the north door rejects every card <img src=x onerror=alert(1)>", author_id="b-1",
    author_handle="nina", author_name="Nina Berg", created_at=datetime.now(timezone.utc),
    url="https://mastodon.example/@nina/1", kind="mention")])
print(frappe.db.get_value("Social Post", {"external_id": external_id}))
"""


HOSTS = {bench.SITE: ("helpdesk", "hd-ticket"), bench.ERPNEXT_SITE: ("erpnext", "issue")}


@pytest.fixture(scope="module", params=list(HOSTS), ids=["HD Ticket", "Issue"])
def site_post(request):
	site = request.param
	host_app, _route = HOSTS[site]
	bench.prepare()
	if site != bench.SITE:
		if not bench.bench_has_app(host_app):
			pytest.skip(f"the bench at {bench.BENCH} has no {host_app} app")
		bench.ensure_site(site, host_apps=(host_app,))
		bench.quiet_scheduler(site)
	bench.ready(site)
	if host_app not in bench.installed_apps(site):
		pytest.skip(f"browser check needs {host_app} on {site}")
	bench.run_python(MAKE_DESK_AGENT.format(user=DESK_AGENT, password=DESK_AGENT_PASSWORD), site=site)
	return site, bench.run_python(MAKE_POST, site=site).strip().splitlines()[-1]


def launch(playwright, site: str):
	return playwright.chromium.launch(
		executable_path=CHROMIUM,
		args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
			"--disable-sync", "--no-first-run", f"--host-resolver-rules=MAP {site} 127.0.0.1"],
	)


@contextmanager
def browser_page(site: str, user: str = "Administrator", password: str = "admin", sign_in: bool = True):
	"""The bench serving ``site`` and a Chromium page on it, signed in as ``user``; yields (page, base URL)."""
	from playwright.sync_api import sync_playwright

	base = f"http://{site}:{PORT}"
	with bench.WebServer(PORT), sync_playwright() as playwright:
		browser = launch(playwright, site)
		try:
			page = browser.new_page(viewport={"width": 1400, "height": 900})
			if sign_in:
				log_in(page, base, user, password)
			yield page, base
		finally:
			browser.close()


def log_in(page, base: str, user: str = "Administrator", password: str = "admin") -> None:
	page.goto(f"{base}/login")
	page.fill("#login_email", user)
	page.fill("#login_password", password)
	page.click(".btn-login")
	page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)  # agents may land on /helpdesk


# A desk agent who is not an administrator: Helpdesk's Agent (with its HD Agent record) or ERPNext's Support Team.
DESK_AGENT = "desk-agent@example.com"
DESK_AGENT_PASSWORD = "Desk-Agent-1"
MAKE_DESK_AGENT = """
from frappe.utils.password import update_password
role = "Agent" if "helpdesk" in frappe.get_installed_apps() else "Support Team"
if not frappe.db.exists("User", {user!r}):
    frappe.get_doc({{"doctype": "User", "email": {user!r}, "first_name": "Dana", "last_name": "Desk",
        "send_welcome_email": 0}}).insert()
frappe.get_doc("User", {user!r}).add_roles(role)
if role == "Agent" and not frappe.db.exists("HD Agent", {user!r}):
    frappe.get_doc({{"doctype": "HD Agent", "user": {user!r}, "agent_name": "Dana Desk", "is_active": 1}}).insert()
update_password({user!r}, {password!r})
"""


def test_agent_converts_a_post_and_sees_the_ticket_with_its_social_panel(site_post):
	from playwright.sync_api import expect

	site, post_name = site_post
	route = HOSTS[site][1]
	shots = SHOTS / route
	shots.mkdir(parents=True, exist_ok=True)
	alerts: list[str] = []
	with browser_page(site, DESK_AGENT, DESK_AGENT_PASSWORD) as (page, base):  # an agent, not an administrator
		page.on("dialog", lambda dialog: (alerts.append(f"{dialog.message} on {page.url}"), dialog.dismiss()))

		page.goto(f"{base}/app/social-post/{post_name}")
		expect(page.get_by_text("The badge reader at the north door").first).to_be_visible(timeout=60_000)
		# The hostile part never reaches the page as markup: no image element was created from it.
		assert page.locator("img[src='x']").count() == 0
		page.screenshot(path=str(shots / "1-social-post.png"))
		page.get_by_role("button", name="Convert to Ticket").click()
		open_ticket = page.get_by_role("button", name="Open ticket")
		expect(open_ticket).to_be_visible(timeout=30_000)
		page.screenshot(path=str(shots / "2-converted.png"))

		open_ticket.click()
		page.wait_for_url(f"**/app/{route}/**", timeout=30_000)
		expect(page.get_by_text("Social conversation")).to_be_visible(timeout=30_000)
		expect(page.get_by_role("button", name="Reply on Mastodon")).to_be_visible()
		page.evaluate("window.scrollTo(0, 0)")  # the panel sits at the top of the form
		page.wait_for_timeout(300)
		page.screenshot(path=str(shots / "3-ticket.png"))
	assert alerts == []  # no script from the post ever ran
	print(f"screenshots in {shots}")


FETCH_ONE = """
from datetime import datetime, timezone
from social_itsm_app.connectors import SocialPost
from social_itsm_app.ingest.jobs import after_store
from social_itsm_app.ingest.store import store_posts
if not frappe.db.exists("Social Channel", "Live Mastodon"):
    frappe.get_doc({"doctype": "Social Channel", "channel_name": "Live Mastodon", "network": "Mastodon",
        "base_url": "https://mastodon.example", "access_token": "x", "enabled": 0}).insert()
marker = "Live check " + frappe.generate_hash(length=8)
batch = store_posts("Live Mastodon", "Mastodon", [SocialPost(network="mastodon", external_id=marker, text=marker,
    author_id="l-1", author_handle="lia", author_name="Lia", created_at=datetime.now(timezone.utc),
    url="https://mastodon.example/@lia/1", kind="mention")])
frappe.db.commit()
after_store(frappe.get_doc("Social Channel", "Live Mastodon"), batch)  # what the fetch job does after storing
print(marker)
"""


@pytest.fixture(scope="module")
def list_site() -> str:
	"""The list is the same on every host: the main test site serves for it."""
	bench.prepare()
	bench.ready()
	return bench.SITE


def test_the_post_list_shows_new_posts_without_a_reload(list_site):
	"""A fetch job's new post appears in an open Social Post list through Frappe's realtime list_update."""
	from playwright.sync_api import expect

	site = list_site
	with browser_page(site) as (page, base):
		page.goto(f"{base}/app/social-post")
		page.wait_for_function("frappe.realtime.socket && frappe.realtime.socket.connected", timeout=30_000)
		marker = bench.run_python(FETCH_ONE, site=site).strip().splitlines()[-1]
		expect(page.get_by_text(marker).first).to_be_visible(timeout=30_000)  # no reload in between
		page.screenshot(path=str(SHOTS / "live-list.png"))


def test_the_channel_form_shows_its_activity_once_after_fetches_and_saves(list_site):
	"""The "Last 14 days" section was added again on every refresh (twice after Fetch now)."""
	from playwright.sync_api import expect

	site = list_site
	bench.run_python(FETCH_ONE, site=site)  # the channel exists and has a post to chart
	with browser_page(site) as (page, base):
		page.goto(f"{base}/app/social-channel/Live Mastodon")
		section = page.locator(".social-itsm-activity-section")
		expect(section.first).to_be_visible(timeout=60_000)
		for _ in range(3):  # what Fetch now's result and every save do: refresh the form
			page.evaluate("cur_frm.reload_doc()")
			page.wait_for_timeout(1500)
		expect(section).to_have_count(1)
		page.screenshot(path=str(SHOTS / "channel-form.png"))


# --- the reply editor in Helpdesk's agent UI (the HD Form Script fixture) ------------------------------------

AGENT = "browser-agent@example.com"
AGENT_PASSWORD = "Browser-Agent-1"
FORM_SCRIPT = bench.REPO / "social_itsm_app" / "fixtures" / "hd_form_script.json"

MAKE_AGENT = f"""
if not frappe.db.exists("User", {AGENT!r}):
    user = frappe.get_doc({{"doctype": "User", "email": {AGENT!r}, "first_name": "Alex", "last_name": "Agent",
        "send_welcome_email": 0}}).insert()
    user.add_roles("Agent")
if not frappe.db.exists("HD Agent", {AGENT!r}):
    frappe.get_doc({{"doctype": "HD Agent", "user": {AGENT!r}, "agent_name": "Alex Agent", "is_active": 1}}).insert()
from frappe.utils.password import update_password
update_password({AGENT!r}, {AGENT_PASSWORD!r})
# The checkout's form script, as migrate would load it (fixtures sync on migrate).
from frappe.core.doctype.data_import.data_import import import_doc
import_doc({str(FORM_SCRIPT)!r})
"""

CONVERT = """
from social_itsm_app.tickets.convert import convert_post
print(convert_post({post!r})["ticket"])
"""

QUEUED_REPLY = """
import json
print(json.dumps(frappe.get_all("Social Reply", filters={{"ticket_doctype": "HD Ticket", "ticket": {ticket!r}}},
    fields=["reply_mode", "text", "sent_by"], order_by="creation asc")))
"""


@pytest.fixture(scope="module")
def helpdesk_ticket() -> str:
	"""A social HD Ticket on the Helpdesk test site, and an agent (Agent role and HD Agent) who may log in."""
	bench.prepare()
	bench.ready()
	if "helpdesk" not in bench.installed_apps():
		pytest.skip(f"the reply editor check needs helpdesk on {bench.SITE}")
	bench.run_python(MAKE_AGENT)
	post = bench.run_python(MAKE_POST).strip().splitlines()[-1]
	return bench.run_python(CONVERT.format(post=post)).strip().splitlines()[-1]


def test_helpdesk_agent_answers_in_the_reply_editor(helpdesk_ticket):
	"""Reply on network opens the form script's editor: a live counter of the network's limit that announces the
	numbered parts, Public/Private, errors inside the modal, Esc to close, and a toast once the reply is queued."""
	import json

	from playwright.sync_api import expect

	ticket = helpdesk_ticket
	shots = SHOTS / "helpdesk-reply-editor"
	shots.mkdir(parents=True, exist_ok=True)
	dialogs: list[str] = []
	long_text = " ".join(
		f"Step {i}: we restarted the badge service on the north door controller and checked the card reader log."
		for i in range(1, 8)
	)
	with browser_page(bench.SITE, sign_in=False) as (page, base):
		page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
		page.goto(f"{base}/login")  # logged in from the page, so the session cookie is the browser's
		status = page.evaluate(
			"""([usr, pwd]) => fetch("/api/method/login", {method: "POST", body: new URLSearchParams({usr, pwd}),
				headers: {Accept: "application/json"}}).then((r) => r.status)""",
			[AGENT, AGENT_PASSWORD],
		)
		assert status == 200, status
		page.goto(f"{base}/helpdesk/tickets/{ticket}")
		reply_button = page.get_by_role("button", name="Reply on network")
		expect(reply_button).to_be_visible(timeout=60_000)

		# Esc closes the editor and gives the focus back.
		reply_button.click()
		editor = page.get_by_role("dialog", name="Reply on Mastodon")
		expect(editor).to_be_visible(timeout=30_000)
		page.keyboard.press("Escape")
		expect(editor).to_have_count(0)

		reply_button.click()
		expect(editor).to_be_visible()
		box = editor.get_by_label("Your reply")
		expect(box).to_be_focused()
		public, private = editor.get_by_label("Public reply in the thread"), editor.get_by_label("Private message")
		expect(public).to_be_checked()  # the ticket's reply mode
		counter = editor.locator("[aria-live=polite]")
		expect(counter).to_have_text("0 / 500")
		box.fill(long_text[:-60])
		page.keyboard.type(long_text[-60:])  # typed: the counter follows every key
		expect(counter).to_contain_text("/ 500")
		expect(counter).to_contain_text("will be sent as 2 numbered parts (estimate)")
		page.screenshot(path=str(shots / "1-long-reply.png"))

		private.check()
		expect(private).to_be_checked()
		# A refused send shows the server's message inside the editor, as text.
		refusal = {"exc_type": "ValidationError", "_server_messages": json.dumps([json.dumps(
			{"message": "Channel paused <img src=x onerror=alert(1)>"})])}
		page.route("**/api/method/social_itsm_app.api.reply_on_network",
			lambda route: route.fulfill(status=417, json=refusal))
		editor.get_by_role("button", name="Send").click()
		expect(editor.get_by_role("alert")).to_have_text("Could not queue the reply: Channel paused")
		assert page.locator("img[src='x']").count() == 0
		page.screenshot(path=str(shots / "2-error.png"))
		page.unroute("**/api/method/social_itsm_app.api.reply_on_network")

		editor.get_by_role("button", name="Send").click()
		toast = page.get_by_role("status").filter(has_text="queued for Mastodon")
		expect(toast).to_be_visible(timeout=30_000)
		expect(editor).to_have_count(0)
		page.wait_for_timeout(1500)  # Helpdesk reloads the ticket on its realtime update
		page.screenshot(path=str(shots / "3-queued.png"))
	assert dialogs == []  # no window.prompt, alert or confirm
	replies = json.loads(bench.run_python(QUEUED_REPLY.format(ticket=ticket)).strip().splitlines()[-1])
	assert [(r["reply_mode"], r["text"], r["sent_by"]) for r in replies] == [("Private", long_text, AGENT)]
	print(f"screenshots in {shots}")
