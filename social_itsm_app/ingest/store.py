"""Storing a fetched batch: dedupe, identities, thread links and triage with a few queries per batch.

One select finds the posts already stored, one select (plus one bulk insert) resolves identities, one select
finds the tickets of the batch's threads, and one multi-row INSERT IGNORE stores the batch. The caller commits
the batch together with the channel's new cursor, so a killed worker loses nothing and doubles nothing.

Fresh posts that report an outage go to the early-warning detector (incidents/detection.py): a few Redis calls
for a batch that has such reports, and queries only when an incident opens or grows. An incident's reports carry
it and wait for it instead of being auto-converted one by one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import frappe
from frappe.utils import now_datetime

from social_itsm_app.connectors import SocialPost
from social_itsm_app.connectors.safe_values import redact_payload, safe_url, scrub_surrogates, truncate
from social_itsm_app.connectors.text import clean_text, first_line
from social_itsm_app.incidents import detection
from social_itsm_app.people.identities import resolve_identities
from social_itsm_app.statuses import LINKED, NEW
from social_itsm_app.triage import RuleSet, triage
from social_itsm_app.triage.backlog import is_backlog
from social_itsm_app.triage.decide import SpamGuard
from social_itsm_app.triage.rules import CONVERT, Rule
from social_itsm_app.triage.scoring import mood_label, urgency_label
from social_itsm_app.triage.threads import ThreadIndex, lookup_keys
from social_itsm_app.utils import to_site_datetime

POST_FIELDS = [
	"name", "creation", "modified", "owner", "modified_by", "docstatus", "idx",
	"title", "channel", "network", "external_id", "url", "kind", "status", "posted_at",
	"author_name", "author_handle", "author_id", "social_identity",
	"text", "language", "thread_id", "in_reply_to_id",
	"sentiment", "mood", "urgency", "urgency_level", "matched_rule", "is_backlog", "ticket_doctype", "ticket", "raw",
	"reply_ref", "social_incident",
]
MAX_RAW = 60_000  # bytes of the original payload kept for audit


@dataclass
class StoredBatch:
	new: list[str] = field(default_factory=list)  # names of stored posts
	duplicates: int = 0
	linked: list[str] = field(default_factory=list)  # posts attached to an existing ticket
	to_convert: list[str] = field(default_factory=list)  # posts an auto-convert rule chose
	backlog: int = 0  # posts too old for rules to act on (they wait for an agent)
	failed: list[str] = field(default_factory=list)  # external ids the database refused (logged, skipped)

	def drop(self, name: str) -> None:
		for names in (self.new, self.linked, self.to_convert):
			if name in names:
				names.remove(name)


def load_rules() -> RuleSet:
	"""Enabled rules with their channels; cached per request/job (rules change rarely).

	A rule that cannot be compiled (a regular expression saved before it was validated) is left out and
	logged, instead of stopping every channel's intake.
	"""
	cached = getattr(frappe.local, "social_itsm_rules", None)
	if cached is None:
		records = frappe.get_all("Social Listening Rule", filters={"enabled": 1}, fields=["*"])
		channels = frappe.get_all(
			"Social Listening Rule Channel", filters={"parenttype": "Social Listening Rule"}, fields=["parent", "channel"]
		)
		by_rule: dict[str, list[str]] = {}
		for row in channels:
			by_rule.setdefault(row.parent, []).append(row.channel)
		rules = []
		for record in records:
			record["channels"] = by_rule.get(record["name"], [])
			try:
				rules.append(Rule.from_record(record))
			except ValueError as exc:
				frappe.log_error(title=f"Social ITSM: rule {record['name']} is left out", message=str(exc),
					reference_doctype="Social Listening Rule", reference_name=record["name"])
		cached = frappe.local.social_itsm_rules = RuleSet(rules)
	return cached


def report_regex_timeouts(rules: RuleSet) -> None:
	"""A rule whose regular expression ran out of time on posts did not match them: tell the admin once a batch."""
	for rule, count in rules.timeouts.items():
		frappe.log_error(
			title=f"Social ITSM: the regular expression of rule {rule} ran out of time",
			message=f"It did not match {count} post(s), which fell through to the next rule. Simplify the expression.",
			reference_doctype="Social Listening Rule",
			reference_name=rule,
		)
	for compiled in rules.compiled:
		compiled.timeouts = 0


def existing_ids(channel: str, external_ids: Sequence[str]) -> set[str]:
	if not external_ids:
		return set()
	return set(
		frappe.get_all(
			"Social Post", filters={"channel": channel, "external_id": ("in", list(external_ids))}, pluck="external_id"
		)
	)


def thread_tickets(channel: str, posts: Sequence[SocialPost]) -> ThreadIndex:
	"""Tickets already holding the batch's threads or parents, and the thread roots of those parents.

	Parents are our stored posts and every part of the replies we sent: a customer answering the agent's
	answer (any part of a chain) joins that answer's ticket. Two queries for the whole batch.
	"""
	threads, parents = lookup_keys(posts)
	keys = list(threads | parents)
	index = ThreadIndex()
	if not keys:
		return index
	post = frappe.qb.DocType("Social Post")
	rows = (
		frappe.qb.from_(post)
		.select(post.external_id, post.thread_id, post.ticket_doctype, post.ticket)
		.where((post.channel == channel) & post.ticket.isnotnull() & (post.ticket != ""))
		.where(post.thread_id.isin(keys) | post.external_id.isin(keys))
		.run(as_dict=True)
	)
	part, reply = frappe.qb.DocType("Social Reply Part"), frappe.qb.DocType("Social Reply")
	answered = frappe.qb.DocType("Social Post")
	rows += (
		frappe.qb.from_(part)
		.join(reply).on(reply.name == part.parent)
		.join(answered).on(answered.name == reply.social_post)
		.select(part.external_id, answered.thread_id, answered.external_id.as_("answered_id"), reply.ticket_doctype, reply.ticket)
		.where((part.parenttype == "Social Reply") & part.external_id.isin(keys) & (reply.channel == channel))
		.where(reply.ticket.isnotnull() & (reply.ticket != ""))
		.run(as_dict=True)
	)
	for row in rows:
		# A reply part's thread is the one of the post it answered; that post may be its own root.
		index.add(row.external_id, row.thread_id or row.get("answered_id"), (row.ticket_doctype, row.ticket))
	return index


def store_posts(
	channel: str,
	network: str,
	posts: Sequence[SocialPost],
	guard: SpamGuard | None = None,
	listening_since: datetime | None = None,
) -> StoredBatch:
	"""Insert the posts not stored yet; decide their status. Does not commit.

	Posts written before ``listening_since`` (site time) or older than the settings' age limit are backlog:
	stored for agents, never auto-converted or auto-answered.
	"""
	batch = StoredBatch()
	known = existing_ids(channel, [p.external_id for p in posts])
	fresh = [p for p in posts if p.external_id not in known]
	batch.duplicates = len(posts) - len(fresh)
	if not fresh:
		return batch
	identities = resolve_identities(network, fresh)
	threads = thread_tickets(channel, fresh)
	rules = load_rules()
	now = now_datetime()
	max_age = auto_action_max_age()
	user = frappe.session.user
	services = detection.catalogue() if detection.enabled() else None
	decided, reports = [], []
	for post in fresh:
		# Connectors already hand over plain text; the store does not rely on that (defence in depth).
		post.text = clean_text(post.text)
		verdict = triage(post, channel, rules, guard)
		posted_at = to_site_datetime(post.created_at)
		backlog = is_backlog(posted_at, listening_since, now, max_age)
		name = frappe.generate_hash(length=12)
		decided.append((name, post, verdict, posted_at, backlog))
		# Outage reports: fresh, current and neither spam nor ignored (a spam flood never fires an incident).
		if services is not None and not backlog and verdict.status == NEW:
			report = detection.candidate(services, name, network, post)
			if report is not None:
				reports.append(report)
	found = detection.detect(reports, services) if reports else None
	members = found.members if found else {}
	rows = []
	for name, post, verdict, posted_at, backlog in decided:
		ticket = threads.ticket_for(post)  # also gives the post its thread's root when its parent is known
		member = members.get(name)
		if ticket is None and member is not None:
			ticket = member.parent  # a confirmed incident's report goes on its parent ticket's timeline
		status = LINKED if ticket and verdict.status == NEW else verdict.status
		batch.backlog += backlog
		rows.append((
			name, now, now, user, user, 0, 0,
			post_title(post), channel, network, post.external_id, safe_url(post.url), post.kind, status,
			posted_at,
			clean_text(post.author_name)[:140], clean_text(post.author_handle)[:140], (post.author_id or "")[:255],
			identities.get(post.author_id),
			post.text, post.language, (post.thread_id or "")[:255] or None, (post.in_reply_to_id or "")[:255] or None,
			verdict.sentiment, mood_label(verdict.sentiment), verdict.urgency, urgency_label(verdict.urgency), verdict.rule,
			int(backlog), ticket[0] if status == LINKED else None, ticket[1] if status == LINKED else None,
			_raw_json(post.raw), json.dumps(post.reply_ref) if post.reply_ref else None,
			member.incident if member else None,
		))
		batch.new.append(name)
		if status == LINKED:
			batch.linked.append(name)
			# A later post in the same batch that answers this one joins the same ticket.
			threads.add(post.external_id, post.thread_id, ticket)
		elif verdict.action == CONVERT and status == NEW and not backlog and member is None:
			# An incident's reports wait for the incident (one parent ticket), not a ticket each.
			batch.to_convert.append(name)
	insert_rows(channel, [fit_row(row) for row in rows], batch)
	if found:
		found.finish()  # the incidents' counters and linked tickets from the stored posts, and who to tell
	report_regex_timeouts(rules)
	return batch


def insert_rows(channel: str, rows: list[tuple], batch: StoredBatch) -> None:
	"""One multi-row insert; when the database refuses it, row by row, so one bad post never wedges a channel.

	A refused post is logged with its id (not its payload) and skipped: the cursor moves on past it.
	"""
	savepoint = "social_itsm_store_batch"
	frappe.db.savepoint(savepoint)
	try:
		frappe.db.bulk_insert("Social Post", POST_FIELDS, rows, ignore_duplicates=True)
		return
	except Exception:
		frappe.db.rollback(save_point=savepoint)
	name_at, id_at = POST_FIELDS.index("name"), POST_FIELDS.index("external_id")
	for row in rows:
		frappe.db.savepoint(savepoint)
		try:
			frappe.db.bulk_insert("Social Post", POST_FIELDS, [row], ignore_duplicates=True)
		except Exception as exc:
			frappe.db.rollback(save_point=savepoint)
			batch.drop(row[name_at])
			batch.failed.append(row[id_at])
			frappe.log_error(
				title=f"Social ITSM: post {row[id_at]} of channel {channel} could not be stored",
				message=f"{type(exc).__name__}: {str(exc)[:1000]}",
				reference_doctype="Social Channel",
				reference_name=channel,
			)


@functools.cache
def column_limits(doctype: str = "Social Post", fields: tuple[str, ...] = tuple(POST_FIELDS)) -> tuple[int | None, ...]:
	"""Characters each column holds (varchar length, or a safe count for TEXT), None when unbounded."""
	meta = frappe.get_meta(doctype)
	limits = []
	for fieldname in fields:
		df = meta.get_field(fieldname)
		sql_type, length = frappe.db.type_map.get(df.fieldtype, (None, None)) if df else (None, None)
		if sql_type == "varchar":
			limits.append(int(df.length or length or 140))
		elif sql_type == "text":
			limits.append(16_000)  # 64 KB of utf8mb4, four bytes a character at worst
		else:
			limits.append(None)
	return tuple(limits)


def fit_row(row: tuple) -> tuple:
	"""Every string cut to its column and free of lone surrogates, which utf8mb4 refuses."""
	return tuple(
		fit(value, limit) if isinstance(value, str) else value for value, limit in zip(row, column_limits(), strict=True)
	)


def fit(value: str, limit: int | None) -> str:
	return truncate(value, limit) if limit else scrub_surrogates(value)


def auto_action_max_age() -> timedelta | None:
	minutes = frappe.get_cached_doc("Social ITSM Settings").auto_action_max_age
	return timedelta(minutes=minutes) if minutes else None


def post_title(post: SocialPost) -> str:
	"""What the list shows: who said what."""
	who = clean_text(post.author_name or post.author_handle) or post.author_id or "?"
	return f"{who}: {first_line(post.text, 160)}"[:200]


def _raw_json(raw: dict) -> str:
	"""The network's payload for audit, without credentials (a Facebook paging link carries access_token=)."""
	text = json.dumps(redact_payload(raw), ensure_ascii=False, default=str)
	if len(text) > MAX_RAW:
		text = json.dumps({"truncated": True, "preview": text[:MAX_RAW]})
	return text
