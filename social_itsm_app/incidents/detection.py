"""Early warning inside the site: every channel's intake feeds one burst detector, and a burst becomes a Social
Incident whose reports join it instead of opening tickets of their own.

The detector is the pure core's (triage/bursts.py, explained in docs/early-warning.md); this module gives it what
the site knows and keeps:

* The catalogue: enabled Social Services (aliases, owner team) and the settings' "Never a topic" words, kept in
  Redis until a service or the settings change (their controllers drop it), compiled once per process.
* The detector's state: one small record per topic in Redis (``STATE_TTL``), shared by the fetch jobs of every
  channel, so a burst spread over X, Mastodon and a forum is one burst. One short Redis lock serialises a batch's
  detection (load the topics it touches, observe, save): without it two channels' jobs would each load the same
  topic and the later save would drop the other's authors. One lock rather than one per topic: the locked work
  is a few Redis round trips and microseconds of counting (no database work inside), and a single lock cannot
  deadlock however many topics a batch touches.
* The incidents, in the fetch job's transaction: created on an Alert (with the earlier posts of its authors,
  stored by earlier fetches of any channel), joined by later reports, counted once per batch.

The state is saved when the batch has been observed, before the job commits. If the job then rolls back, its
posts come again (the cursor did not move) from authors the state already counted: they are not counted twice,
they join the open episode, and the incident is made then from the alert kept beside the state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import NamedTuple

import frappe
from frappe import _
from frappe.utils import escape_html, flt, get_url_to_form, now_datetime
from redis.exceptions import LockError

from social_itsm_app.connectors import SocialPost
from social_itsm_app.connectors.text import clean_text
from social_itsm_app.hosts import AGENT_ROLES, choose_profile
from social_itsm_app.permissions import users_with_roles
from social_itsm_app.social_itsm.doctype.social_service.social_service import CATALOGUE_CACHE_KEY
from social_itsm_app.statuses import DETECTED, IGNORED, OPEN_INCIDENT_STATUSES, SPAM
from social_itsm_app.triage.bursts import Alert, BurstDetector, BurstSettings, Joined, author_key
from social_itsm_app.triage.decide import SpamGuard, spam_reason
from social_itsm_app.triage.normalize import fold_text, lines
from social_itsm_app.triage.services import TERM_PREFIX, OutageReport, ServiceCatalogue
from social_itsm_app.utils import to_site_datetime

INCIDENT = "Social Incident"
STATE_TTL = 3 * 24 * 3600  # a topic silent this long starts afresh (its baseline has long decayed to the floor)
CATALOGUE_TTL = 3600
LOCK_TIMEOUT = 10  # seconds: a worker killed while holding the lock blocks the others no longer than this
LOCK_WAIT = 5
REPEATED = "repeated text"

_compiled: tuple[bytes, ServiceCatalogue] | None = None  # per process: the catalogue's cached bytes, compiled


# --- what the site configures ----------------------------------------------------------------------------------


def enabled() -> bool:
	return bool(frappe.get_cached_doc("Social ITSM Settings").enable_early_warning)


def burst_settings() -> BurstSettings:
	"""The settings' thresholds; an empty one keeps the core's default."""
	settings = frappe.get_cached_doc("Social ITSM Settings")
	default = BurstSettings()
	return replace(
		default,
		window=(settings.detection_window or 0) * 60.0 or default.window,
		min_authors=settings.min_authors or default.min_authors,
		factor=flt(settings.burst_factor) or default.factor,
		linger=(settings.episode_linger or 0) * 60.0 or default.linger,
	)


def catalogue() -> ServiceCatalogue:
	"""The enabled services and the words that never key a topic (Redis, then compiled once per process)."""
	global _compiled
	cache = frappe.cache()
	key = cache.make_key(CATALOGUE_CACHE_KEY)
	raw = cache.get(key)
	if raw is None:
		raw = json.dumps(catalogue_records(), sort_keys=True).encode()
		cache.setex(key, CATALOGUE_TTL, raw)
	if _compiled is None or _compiled[0] != raw:
		data = json.loads(raw)
		_compiled = (raw, ServiceCatalogue.from_records(data["services"], data["ignore"]))
	return _compiled[1]


def catalogue_records() -> dict:
	services = frappe.get_all("Social Service", filters={"enabled": 1}, fields=["name", "aliases", "team"], order_by="name")
	ignore = lines(frappe.get_cached_doc("Social ITSM Settings").ignore_words)
	return {"services": [dict(service) for service in services], "ignore": list(ignore)}


# --- the detector's state in Redis -------------------------------------------------------------------------------


def state_key(topic: str) -> str:
	return frappe.cache().make_key(f"social_itsm_burst::{topic}")


def alert_key(episode: str) -> str:
	return frappe.cache().make_key(f"social_itsm_burst_alert::{episode}")


def guard_key() -> str:
	return frappe.cache().make_key("social_itsm_burst_guard")


def load_state(topic: str) -> bytes | None:
	return frappe.cache().get(state_key(topic))


def save_state(changed: dict[str, bytes], alerts: Sequence[Alert] = (), guard: SpamGuard | None = None) -> None:
	pipe = frappe.cache().pipeline()
	for topic, data in changed.items():
		pipe.setex(state_key(topic), STATE_TTL, data)
	for alert in alerts:  # kept so that an incident lost with a rolled-back job can be made from it later
		pipe.setex(alert_key(alert.episode), STATE_TTL, json.dumps(alert.to_dict()))
	if guard is not None:
		pipe.setex(guard_key(), STATE_TTL, guard.dump())
	pipe.execute()


def saved_alert(episode: str) -> Alert | None:
	raw = frappe.cache().get(alert_key(episode))
	if not raw:
		return None
	try:
		data = json.loads(raw)
		values = {f.name: data[f.name] for f in fields(Alert)}
		return Alert(**{**values, "authors": tuple(values["authors"]), "words": tuple(values["words"])})
	except (ValueError, KeyError, TypeError):
		return None


class DetectorBusy(Exception):
	pass


@contextmanager
def detector_lock() -> Iterator[None]:
	"""One detection at a time on this site (see the module's docstring)."""
	cache = frappe.cache()
	lock = cache.lock(cache.make_key("social_itsm_burst_lock"), timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_WAIT)
	if not lock.acquire():
		raise DetectorBusy(f"the detector's lock was held for more than {LOCK_WAIT} s")
	try:
		yield
	finally:
		try:
			lock.release()
		except LockError:  # it expired meanwhile (the work took longer than LOCK_TIMEOUT)
			pass


def dismiss_topic(topic: str) -> None:
	"""A false alarm (the incident was dismissed): end the topic's episode and raise its baseline."""
	with detector_lock():
		detector = BurstDetector(burst_settings(), load=load_state)
		detector.dismiss(topic)
		save_state(detector.changed())


def close_topic(topic: str) -> None:
	"""The incident is resolved: end the topic's episode, learning nothing (the next burst fires anew)."""
	with detector_lock():
		detector = BurstDetector(burst_settings())
		detector.load_topic(topic, load_state(topic))
		detector.close(topic)
		save_state(detector.changed())


# --- the intake's batch ------------------------------------------------------------------------------------------


class Candidate(NamedTuple):
	"""A fresh post (not backlog, not spam, not ignored) that reports something down."""

	name: str  # the Social Post's name, chosen before it is inserted
	post: SocialPost
	author: str  # bursts.author_key of the stored values, as the database query for earlier posts sees them
	reports: tuple[OutageReport, ...]


class Membership(NamedTuple):
	incident: str
	parent: tuple[str, str] | None  # the parent ticket (doctype, name) when the incident is confirmed


def candidate(found: ServiceCatalogue, name: str, network: str, post: SocialPost) -> Candidate | None:
	"""The post as a report, if it is one (cheap: one pass over its words, no query)."""
	reports = found.reports(post.text)
	if not reports:
		return None
	# As the row will hold them (see ingest/store.py), so that earlier_reports finds the same author in the database.
	who = frappe._dict(network=network, author_id=(post.author_id or "")[:255], author_handle=clean_text(post.author_handle)[:140])
	return Candidate(name, post, author_key(who), reports)


@dataclass
class Detection:
	"""What a batch's reports did: which posts joined which incident; ``finish`` once the posts are stored."""

	members: dict[str, Membership] = field(default_factory=dict)
	created: list[str] = field(default_factory=list)
	stale: set[str] = field(default_factory=set)  # topics whose open episode belongs to a closed incident

	def finish(self) -> None:
		incidents = sorted({member.incident for member in self.members.values()} | set(self.created))
		if not incidents:
			return
		link_member_tickets(incidents, list(self.members))
		recount(incidents)
		tell(incidents, set(self.created))


def detect(candidates: Sequence[Candidate], found: ServiceCatalogue) -> Detection:
	"""Observe the batch's reports (under the lock), then open or join incidents. A failure here is logged and
	leaves the batch as if the detector were off: posts are never lost to it."""
	if not candidates:
		return Detection()
	try:
		events = observe(candidates)
	except Exception as exc:
		frappe.log_error(title="Social ITSM: outage detection skipped a batch", message=f"{type(exc).__name__}: {exc}")
		return Detection()
	savepoint = "social_itsm_detection"
	frappe.db.savepoint(savepoint)
	try:
		detection = join(events, candidates, found)
	except Exception:
		frappe.db.rollback(save_point=savepoint)
		frappe.log_error(title="Social ITSM: an incident could not be opened or joined")
		return Detection()
	for topic in detection.stale:
		# Its incident was resolved or dismissed but the detector still had the episode open (the lifecycle's
		# close_topic or dismiss_topic failed or has not run yet): end it, so the next burst opens a new incident.
		try:
			close_topic(topic)
		except Exception:
			frappe.log_error(title=f"Social ITSM: the detector's episode of {topic} could not be closed")
	return detection


def observe(candidates: Sequence[Candidate]) -> list[tuple[Candidate, OutageReport, Alert | Joined]]:
	"""Feed the reports, oldest first, to the shared detector; save what changed. Returns the events."""
	events = []
	cache = frappe.cache()
	with detector_lock():
		detector = BurstDetector(burst_settings(), load=load_state)
		# Copies of one text from many accounts are one voice, across channels too (each channel's own spam guard
		# lets the first copies through): only the first two count, as the channels' guards would.
		guard = SpamGuard.load(cache.get(guard_key()))
		for item in sorted(candidates, key=lambda c: c.post.created_at):
			if spam_reason(item.post, fold_text(item.post.text), guard) == REPEATED:
				continue
			for report in item.reports:
				event = detector.observe(report, item.author, item.post.created_at)
				if event is not None:
					events.append((item, report, event))
		save_state(detector.changed(), [e for _, _, e in events if isinstance(e, Alert)], guard)
	return events


def join(
	events: list[tuple[Candidate, OutageReport, Alert | Joined]], candidates: Sequence[Candidate], found: ServiceCatalogue
) -> Detection:
	detection = Detection()
	if not events:
		return detection
	episodes = list(dict.fromkeys(event.episode for _, _, event in events))
	incidents = {
		row.episode: row
		for row in frappe.get_all(INCIDENT, filters={"episode": ("in", episodes)},
			fields=["name", "episode", "status", "ticket_doctype", "ticket"])
	}
	for item, report, event in events:
		row = incidents.get(event.episode)
		alert = event if isinstance(event, Alert) else None
		if row is None:
			# An Alert, or reports joining an episode whose incident was lost with a rolled-back job.
			alert = alert or saved_alert(event.episode)
			row = incidents[event.episode] = open_incident(alert, report, event.episode, found)
			if row.created:
				detection.created.append(row.name)
		if row.status not in OPEN_INCIDENT_STATUSES:
			detection.stale.add(report.topic)  # resolved or dismissed: these reports are nobody's incident
			continue
		member = Membership(row.name, (row.ticket_doctype, row.ticket) if row.ticket else None)
		detection.members.setdefault(item.name, member)
		if alert is not None:
			# The alert's authors posted earlier in this batch too (before the burst was certain).
			for other in alert_posts(alert, candidates):
				detection.members.setdefault(other, member)
	return detection


def alert_posts(alert: Alert, candidates: Sequence[Candidate]) -> list[str]:
	authors = set(alert.authors)
	return [
		c.name for c in candidates
		if c.author in authors and alert.first_at <= c.post.created_at.timestamp() <= alert.last_at
		and any(r.topic == alert.topic for r in c.reports)
	]


def open_incident(alert: Alert | None, report: OutageReport, episode: str, found: ServiceCatalogue) -> frappe._dict:
	"""Create the incident of an episode, with the earlier posts of the alert's authors; the existing one when
	another job made it meanwhile (the episode is unique)."""
	earlier = earlier_reports(alert, found) if alert else []
	service = report.service if report.service and frappe.db.exists("Social Service", report.service) else None
	now = now_datetime()
	doc = frappe.get_doc({
		"doctype": INCIDENT,
		"title": incident_title(report),
		"status": DETECTED,
		"service": service,
		"topic": report.topic,
		"episode": episode,
		"detected_at": now,
		"first_post_at": site_time(alert.first_at) if alert else now,
		"last_post_at": site_time(alert.last_at) if alert else now,
		"reason": alert.reason() if alert else _("Reports joined an outage the detector had open ({0}).").format(episode),
		"words": ", ".join(alert.words) if alert else ", ".join(report.words),
		"posts_count": len(earlier),
		"authors_count": len(alert.authors) if alert else 0,
		"linked_tickets": [
			{"ticket_doctype": doctype, "ticket": ticket}
			for doctype, ticket in dict.fromkeys((r.ticket_doctype, r.ticket) for r in earlier if r.ticket)
		],
	})
	savepoint = "social_itsm_open_incident"
	frappe.db.savepoint(savepoint)
	try:
		doc.insert(ignore_permissions=True)
	except frappe.DuplicateEntryError:
		frappe.db.rollback(save_point=savepoint)
		row = frappe.db.get_value(INCIDENT, {"episode": episode}, ["name", "episode", "status", "ticket_doctype",
			"ticket"], as_dict=True)
		return frappe._dict(row, created=False)
	if earlier:
		post = frappe.qb.DocType("Social Post")
		frappe.qb.update(post).set(post.social_incident, doc.name).where(post.name.isin([r.name for r in earlier])).run()
	notify(doc)
	return frappe._dict(name=doc.name, episode=episode, status=doc.status, ticket_doctype=None, ticket=None, created=True)


def earlier_reports(alert: Alert, found: ServiceCatalogue) -> list[frappe._dict]:
	"""Stored posts (any channel) of the alert's authors that reported its topic in its window: one query."""
	rows = frappe.get_all(
		"Social Post",
		filters={
			"posted_at": ("between", [site_time(alert.first_at - 1), site_time(alert.last_at + 1)]),
			"social_incident": ("is", "not set"),
			"status": ("not in", [SPAM, IGNORED]),
			"is_backlog": 0,
		},
		fields=["name", "network", "author_id", "author_handle", "text", "ticket_doctype", "ticket"],
	)
	authors = set(alert.authors)
	return [
		row for row in rows
		if author_key(row) in authors and any(r.topic == alert.topic for r in found.reports(row.text or ""))
	]


def incident_title(report: OutageReport) -> str:
	what = report.service or report.topic.removeprefix(TERM_PREFIX)
	return _("{0} reported down").format(what)[:140]


def site_time(epoch: float) -> datetime:
	return to_site_datetime(datetime.fromtimestamp(epoch, timezone.utc))


# --- after the batch's posts are stored ---------------------------------------------------------------------------


def link_member_tickets(incidents: list[str], members: list[str]) -> None:
	"""Members that already had a ticket of their own (a thread's ticket): that ticket is linked to the incident."""
	if not members:
		return
	post = frappe.qb.DocType("Social Post")
	ticketed = (
		frappe.qb.from_(post)
		.select(post.social_incident, post.ticket_doctype, post.ticket).distinct()
		.where(post.name.isin(members) & post.social_incident.isin(incidents) & post.ticket.isnotnull() & (post.ticket != ""))
		.run(as_dict=True)
	)
	if not ticketed:
		return
	known = {
		(row.parent, row.ticket_doctype, row.ticket)
		for row in frappe.get_all("Social Incident Ticket", filters={"parenttype": INCIDENT, "parent": ("in", incidents)},
			fields=["parent", "ticket_doctype", "ticket"])
	}
	parents = {
		(row.name, row.ticket_doctype, row.ticket)
		for row in frappe.get_all(INCIDENT, filters={"name": ("in", incidents)}, fields=["name", "ticket_doctype", "ticket"])
	}
	for row in ticketed:
		key = (row.social_incident, row.ticket_doctype, row.ticket)
		if key in known or key in parents:
			continue
		known.add(key)
		frappe.get_doc({
			"doctype": "Social Incident Ticket", "parent": row.social_incident, "parenttype": INCIDENT,
			"parentfield": "linked_tickets", "ticket_doctype": row.ticket_doctype, "ticket": row.ticket,
			"idx": 1 + sum(1 for k in known if k[0] == row.social_incident),
		}).db_insert()


def recount(incidents: list[str]) -> None:
	"""The incidents' counters from their member posts, one statement for the batch's incidents (exact, so a
	retried or concurrent batch cannot make them drift)."""
	members = "from `tabSocial Post` p where p.social_incident = i.name"
	frappe.db.sql(
		f"""update `tabSocial Incident` i set
			posts_count = (select count(*) {members}),
			authors_count = (select count(distinct p.network, coalesce(nullif(p.author_id, ''), p.author_handle)) {members}),
			first_post_at = coalesce(least(i.first_post_at, (select min(p.posted_at) {members})), i.first_post_at),
			last_post_at = coalesce(greatest(i.last_post_at, (select max(p.posted_at) {members})), i.last_post_at),
			channels = (select group_concat(distinct p.channel order by p.channel separator '\n') {members}),
			absorbed_posts = (select count(*) {members}
				and (coalesce(p.ticket, '') = '' or (p.ticket = i.ticket and p.ticket_doctype = i.ticket_doctype))),
			modified = %(now)s
		where i.name in %(names)s""",
		{"names": tuple(incidents), "now": now_datetime()},
	)


INCIDENT_FIELDS = ["name", "title", "status", "service", "posts_count", "authors_count", "reason"]


def tell(incidents: list[str], created: set[str]) -> None:
	"""Desk users hear of new and growing incidents once the job commits (nothing is said of a rolled-back one)."""
	user = frappe.session.user
	for row in frappe.get_all(INCIDENT, filters={"name": ("in", incidents)}, fields=INCIDENT_FIELDS):
		frappe.publish_realtime("social_itsm_incident", {**row, "created": row.name in created}, after_commit=True)
		frappe.publish_realtime("list_update", {"doctype": INCIDENT, "name": row.name, "user": user}, after_commit=True)


def notify(doc) -> None:
	"""A notification (bell) for everyone in the role the settings name, else the host's agents."""
	settings = frappe.get_cached_doc("Social ITSM Settings")
	if settings.incident_notify_role:
		roles = (settings.incident_notify_role,)
	else:
		profile = choose_profile(settings.ticket_doctype, frappe.get_installed_apps())
		roles = profile.agent_roles if profile else AGENT_ROLES
	subject = escape_html(_("Outage detected: {0}").format(doc.title))
	for user in users_with_roles(roles):
		frappe.get_doc({
			"doctype": "Notification Log", "subject": subject, "email_content": escape_html(doc.reason or ""),
			"for_user": user, "type": "Alert", "document_type": INCIDENT, "document_name": doc.name,
			"link": get_url_to_form(INCIDENT, doc.name),
		}).insert(ignore_permissions=True)
