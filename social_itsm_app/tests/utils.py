"""What the in-site tests (``test_*.py`` beside this module) share: the site's ticket host, records they make and
remove, social posts, the reply test case. Not a test module: ``bench run-tests`` imports only ``test_*.py``.

Imported inside a connected site only (``bench run-tests``, or pytest through this folder's conftest.py): the
host is read from the site when this module is imported.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import unittest
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from social_itsm_app.connectors import SocialPost
from social_itsm_app.hosts import choose_profile
from social_itsm_app.ingest.store import store_posts
from social_itsm_app.replies import outbound
from social_itsm_app.tickets.convert import convert_post

# The app's folder (the repository: apps/social_itsm_app on a bench) holds tests/fixtures and tests/fakes.
# SOCIAL_ITSM_REPO overrides it (e.g. a checkout elsewhere).
REPO = Path(os.environ.get("SOCIAL_ITSM_REPO") or Path(__file__).resolve().parents[2])
FIXTURES = REPO / "tests" / "fixtures"

# The ticket host this site has (Helpdesk wins where both are installed), so the same tests run on each.
HOST = choose_profile("Auto", frappe.get_installed_apps())
TICKET = HOST.ticket_doctype if HOST else ""
AGENT_ROLE = HOST.agent_roles[0] if HOST else "Agent"
NO_HOST = "needs Frappe Helpdesk or ERPNext (this site has neither)"
HAS_HELPDESK = "helpdesk" in frappe.get_installed_apps()

MASTODON = "https://mastodon.example"

# Lines a module wants as its run's last line (the site tier prints each module's last line as its summary);
# conftest.py writes them after pytest's own summary.
SUMMARY: list[str] = []


def report(line: str) -> None:
	SUMMARY.append(line)
	print("\n" + line)


def forget_rules(case: type[FrappeTestCase] | None = None) -> None:
	"""Drop the listening rules store_posts cached (``frappe.local``, which lives for one job in a worker but for
	the whole run in a test process); with ``case``, drop them again when that class's records are rolled back,
	so that a rule a test made never outlives its class (``bench run-tests`` runs every module in one process)."""
	frappe.local.social_itsm_rules = None
	if case is not None:
		case.addClassCleanup(forget_rules)  # runs before FrappeTestCase's rollback (cleanups run last-in first-out)


# --- people and feed records ---------------------------------------------------------------------------------


def make_user(email: str, roles: tuple[str, ...] = (), user_type: str = "System User") -> str:
	if not frappe.db.exists("User", email):
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": email.split("@")[0], "send_welcome_email": 0, "user_type": user_type}
		).insert(ignore_permissions=True)
		if roles:
			user.add_roles(*roles)
	return email


def make_feed_channel(name: str = "Test Feed") -> str:
	if not frappe.db.exists("Social Channel", name):
		frappe.get_doc(
			{"doctype": "Social Channel", "channel_name": name, "network": "Feed", "base_url": "https://status.example.com/feed"}
		).insert(ignore_permissions=True)
	return name


def make_feed_post(channel: str, external_id: str, **values) -> frappe.model.document.Document:
	return frappe.get_doc(
		{
			"doctype": "Social Post", "channel": channel, "network": "Feed", "external_id": external_id, "kind": "feed",
			"text": "Status update", "author_id": "status", "author_handle": "status", "author_name": "Status page",
			"posted_at": now_datetime(), **values,
		}
	).insert(ignore_permissions=True)


# --- Mastodon posts and channels -----------------------------------------------------------------------------

# Recent, so that rules act on the test posts (older posts are backlog, see triage/backlog.py).
T0 = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=10)


def social_post(external_id: str, text: str = "The VPN is down", author: str = "alice", **kw) -> SocialPost:
	return SocialPost(
		network="mastodon", external_id=external_id, text=text, author_id=f"id-{author}", author_handle=author,
		author_name=author.title(), created_at=T0 + timedelta(minutes=int(external_id.split("-")[-1] or 0)),
		url=f"https://mastodon.example/@{author}/{external_id}", kind=kw.pop("kind", "mention"), raw={"id": external_id},
		**kw,
	)


def make_channel(name: str = "Ingest Mastodon") -> frappe.model.document.Document:
	if frappe.db.exists("Social Channel", name):
		return frappe.get_doc("Social Channel", name)
	return frappe.get_doc({
		"doctype": "Social Channel", "channel_name": name, "network": "Mastodon",
		"base_url": "https://mastodon.example", "access_token": "tok", "poll_interval": 5,
	}).insert(ignore_permissions=True)


def remove_channel(name: str) -> None:
	"""Undo what committing code paths left: the channel, its posts, tickets, messages and logs."""
	frappe.db.rollback()
	for ticket_doctype in ("HD Ticket", "Issue"):
		if frappe.db.exists("DocType", ticket_doctype):
			for ticket in frappe.get_all(ticket_doctype, filters={"social_channel": name}, pluck="name"):
				frappe.db.delete("Communication", {"reference_doctype": ticket_doctype, "reference_name": ticket})
				frappe.delete_doc(ticket_doctype, ticket, force=True, ignore_permissions=True)
	frappe.db.delete("Social Post", {"channel": name})
	replies = frappe.get_all("Social Reply", filters={"channel": name}, pluck="name")
	if replies:  # e.g. auto-acknowledgements: a later ticket of the same name must not inherit them
		frappe.db.delete("Social Reply Part", {"parent": ("in", replies), "parenttype": "Social Reply"})
		frappe.db.delete("Social Reply", {"name": ("in", replies)})
	frappe.db.delete("Error Log", {"reference_name": name})
	frappe.db.delete("Notification Log", {"document_name": name})
	if frappe.db.exists("Social Channel", name):
		frappe.delete_doc("Social Channel", name, force=True, ignore_permissions=True)
	frappe.db.commit()


def stored(channel: str, *posts) -> list[str]:
	store_posts(channel, "Mastodon", list(posts))
	return [frappe.db.get_value("Social Post", {"channel": channel, "external_id": p.external_id}) for p in posts]


class FakeConnector:
	def __init__(self, result=None, error=None, saved_state=None):
		self.result, self.error = result, error
		self.saved_state = saved_state or {}
		self.on_state_saved = None
		self.cursors: list[str | None] = []

	def fetch(self, cursor=None):
		self.cursors.append(cursor)
		if self.saved_state and self.on_state_saved:
			self.on_state_saved(self.saved_state)  # a real connector hands a rotated token over at once
		if self.error:
			raise self.error
		return self.result


# --- replies -------------------------------------------------------------------------------------------------

@functools.cache
def load_fake_server() -> ModuleType:
	"""tests/fakes/mastodon_server.py by its path (a top-level ``tests`` package of another app must not shadow it);
	loaded once, so every test module shares its classes."""
	spec = importlib.util.spec_from_file_location("social_itsm_fake_mastodon", REPO / "tests" / "fakes" / "mastodon_server.py")
	module = importlib.util.module_from_spec(spec)
	sys.modules[spec.name] = module
	spec.loader.exec_module(module)
	return module


class FakeMastodonServer:
	"""Mixin before FrappeTestCase (or a case built on it): a fake Mastodon on loopback for the class, made with
	``server_options`` (FakeMastodon's arguments), as ``cls.server``; stopped after the class."""

	server_options: ClassVar[dict[str, Any]] = {}

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.server = load_fake_server().FakeMastodon(**cls.server_options).start()

	@classmethod
	def tearDownClass(cls):
		cls.server.stop()
		super().tearDownClass()


def hold_send_jobs(case: unittest.TestCase, *modules: ModuleType) -> None:
	"""Patch out ``enqueue_send`` in ``modules`` (default: replies.outbound) for the test: it calls the send jobs
	itself, and a bench worker running on this machine must not pick them up at the same time."""
	for module in modules or (outbound,):
		enqueue = patch.object(module, "enqueue_send")
		enqueue.start()
		case.addCleanup(enqueue.stop)


REPLY_CHANNEL = "Replies Mastodon"


class ReplyCase(FrappeTestCase):
	"""The send job commits (intent first, then each accepted part), so setup is committed and undone.

	Tests call the send job themselves: enqueueing is patched out so that a bench worker running on this
	machine cannot pick the job up at the same time.
	"""

	def setUp(self):
		hold_send_jobs(self)
		if HOST is None:
			self.skipTest(NO_HOST)
		remove_channel(REPLY_CHANNEL)
		frappe.get_doc({"doctype": "Social Channel", "channel_name": REPLY_CHANNEL, "network": "Mastodon",
			"base_url": MASTODON, "access_token": "tok-reply"}).insert(ignore_permissions=True)
		store_posts(REPLY_CHANNEL, "Mastodon", [social_post("r-1", "The printer on floor 3 is broken", author="mia",
			reply_ref={"status_id": "r-1", "acct": "mia@mastodon.example", "visibility": "public"})])
		post = frappe.db.get_value("Social Post", {"channel": REPLY_CHANNEL, "external_id": "r-1"})
		self.ticket = convert_post(post)["ticket"]
		frappe.db.commit()

	def tearDown(self):
		remove_channel(REPLY_CHANNEL)  # rolls back, then removes the channel, its posts and tickets, and commits
		frappe.db.delete("Social Reply", {"channel": REPLY_CHANNEL})
		if TICKET == "HD Ticket":
			frappe.db.delete("HD Ticket Comment", {"reference_ticket": self.ticket})
		frappe.db.commit()
