"""Browser check: headless Chromium logs in to the test site, converts a Social Post and sees the ticket.

It runs on the Helpdesk site (an HD Ticket) and, where the bench has ERPNext, on the ERPNext site (an Issue).

Runs with the site tier when a bench, Debian's Chromium (/usr/bin/chromium) and Python Playwright (test
extra; it drives the system Chromium, nothing is downloaded) are present; otherwise skipped with the reason.
"""

from __future__ import annotations

import os
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
	if bench.APP not in bench.installed_apps(site):
		bench.site_bench("install-app", bench.APP, site=site)
	if host_app not in bench.installed_apps(site):
		pytest.skip(f"browser check needs {host_app} on {site}")
	return site, bench.run_python(MAKE_POST, site=site).strip().splitlines()[-1]


def launch(playwright, site: str):
	return playwright.chromium.launch(
		executable_path=CHROMIUM,
		args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
			"--disable-sync", "--no-first-run", f"--host-resolver-rules=MAP {site} 127.0.0.1"],
	)


def log_in(page, base: str) -> None:
	page.goto(f"{base}/login")
	page.fill("#login_email", "Administrator")
	page.fill("#login_password", "admin")
	page.click(".btn-login")
	page.wait_for_url("**/app**", timeout=60_000)


def test_agent_converts_a_post_and_sees_the_ticket_with_its_social_panel(site_post):
	from playwright.sync_api import expect, sync_playwright

	site, post_name = site_post
	route = HOSTS[site][1]
	shots = SHOTS / route
	shots.mkdir(parents=True, exist_ok=True)
	base = f"http://{site}:{PORT}"
	alerts: list[str] = []
	with bench.WebServer(PORT), sync_playwright() as playwright:
		browser = launch(playwright, site)
		try:
			page = browser.new_page(viewport={"width": 1400, "height": 900})
			page.on("dialog", lambda dialog: (alerts.append(f"{dialog.message} on {page.url}"), dialog.dismiss()))
			log_in(page, base)

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
		finally:
			browser.close()
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
	if bench.APP not in bench.installed_apps():
		bench.site_bench("install-app", bench.APP)
	return bench.SITE


def test_the_post_list_shows_new_posts_without_a_reload(list_site):
	"""A fetch job's new post appears in an open Social Post list through Frappe's realtime list_update."""
	from playwright.sync_api import expect, sync_playwright

	site = list_site
	base = f"http://{site}:{PORT}"
	with bench.WebServer(PORT), sync_playwright() as playwright:
		browser = launch(playwright, site)
		try:
			page = browser.new_page(viewport={"width": 1400, "height": 900})
			log_in(page, base)
			page.goto(f"{base}/app/social-post")
			page.wait_for_function("frappe.realtime.socket && frappe.realtime.socket.connected", timeout=30_000)
			marker = bench.run_python(FETCH_ONE, site=site).strip().splitlines()[-1]
			expect(page.get_by_text(marker).first).to_be_visible(timeout=30_000)  # no reload in between
			page.screenshot(path=str(SHOTS / "live-list.png"))
		finally:
			browser.close()
