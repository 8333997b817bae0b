"""Storing a fetched batch: dedupe, identities, thread links and triage with a few queries per batch.

One select finds the posts already stored, one select (plus one bulk insert) resolves identities, one select
finds the tickets of the batch's threads, and one multi-row INSERT IGNORE stores the batch. The caller commits
the batch together with the channel's new cursor, so a killed worker loses nothing and doubles nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import frappe
from frappe.utils import now_datetime

from social_itsm_app.connectors import SocialPost
from social_itsm_app.connectors.text import clean_text, first_line
from social_itsm_app.ingest.identities import resolve_identities
from social_itsm_app.triage import RuleSet, triage
from social_itsm_app.triage.decide import SpamGuard
from social_itsm_app.triage.rules import CONVERT
from social_itsm_app.triage.scoring import mood_label, urgency_label
from social_itsm_app.triage.threads import lookup_keys, ticket_for
from social_itsm_app.utils import to_site_datetime

POST_FIELDS = [
	"name", "creation", "modified", "owner", "modified_by", "docstatus", "idx",
	"title", "channel", "network", "external_id", "url", "kind", "status", "posted_at",
	"author_name", "author_handle", "author_id", "social_identity",
	"text", "language", "thread_id", "in_reply_to_id",
	"sentiment", "mood", "urgency", "urgency_level", "matched_rule", "ticket_doctype", "ticket", "raw", "reply_ref",
]
MAX_RAW = 60_000  # bytes of the original payload kept for audit


@dataclass
class StoredBatch:
	new: list[str] = field(default_factory=list)  # names of stored posts
	duplicates: int = 0
	linked: list[str] = field(default_factory=list)  # posts attached to an existing ticket
	to_convert: list[str] = field(default_factory=list)  # posts an auto-convert rule chose


def load_rules() -> RuleSet:
	"""Enabled rules with their channels; cached per request/job (rules change rarely)."""
	cached = getattr(frappe.local, "social_itsm_rules", None)
	if cached is None:
		rules = frappe.get_all("Social Listening Rule", filters={"enabled": 1}, fields=["*"])
		channels = frappe.get_all(
			"Social Listening Rule Channel", filters={"parenttype": "Social Listening Rule"}, fields=["parent", "channel"]
		)
		by_rule: dict[str, list[str]] = {}
		for row in channels:
			by_rule.setdefault(row.parent, []).append(row.channel)
		for rule in rules:
			rule["channels"] = by_rule.get(rule["name"], [])
		cached = frappe.local.social_itsm_rules = RuleSet.from_records(rules)
	return cached


def existing_ids(channel: str, external_ids: Sequence[str]) -> set[str]:
	if not external_ids:
		return set()
	return set(
		frappe.get_all(
			"Social Post", filters={"channel": channel, "external_id": ("in", list(external_ids))}, pluck="external_id"
		)
	)


def thread_tickets(channel: str, posts: Sequence[SocialPost]) -> tuple[dict, dict]:
	"""Tickets already holding the batch's threads or parents: (by thread id, by post external id)."""
	threads, parents = lookup_keys(posts)
	keys = list(threads | parents)
	if not keys:
		return {}, {}
	post = frappe.qb.DocType("Social Post")
	rows = (
		frappe.qb.from_(post)
		.select(post.external_id, post.thread_id, post.ticket_doctype, post.ticket)
		.where((post.channel == channel) & post.ticket.isnotnull() & (post.ticket != ""))
		.where(post.thread_id.isin(keys) | post.external_id.isin(keys))
		.run(as_dict=True)
	)
	by_thread, by_post = {}, {}
	for row in rows:
		ticket = (row.ticket_doctype, row.ticket)
		if row.thread_id:
			by_thread.setdefault(row.thread_id, ticket)
		by_post[row.external_id] = ticket
	return by_thread, by_post


def store_posts(channel: str, network: str, posts: Sequence[SocialPost], guard: SpamGuard | None = None) -> StoredBatch:
	"""Insert the posts not stored yet; decide their status. Does not commit."""
	batch = StoredBatch()
	known = existing_ids(channel, [p.external_id for p in posts])
	fresh = [p for p in posts if p.external_id not in known]
	batch.duplicates = len(posts) - len(fresh)
	if not fresh:
		return batch
	identities = resolve_identities(network, fresh)
	by_thread, by_post = thread_tickets(channel, fresh)
	rules = load_rules()
	now = now_datetime()
	user = frappe.session.user
	rows = []
	for post in fresh:
		# Connectors already hand over plain text; the store does not rely on that (defence in depth).
		post.text = clean_text(post.text)
		verdict = triage(post, channel, rules, guard)
		ticket = ticket_for(post, by_thread, by_post)
		status = "Linked" if ticket and verdict.status == "New" else verdict.status
		name = frappe.generate_hash(length=12)
		rows.append((
			name, now, now, user, user, 0, 0,
			post_title(post), channel, network, post.external_id[:255], (post.url or "")[:1000], post.kind, status,
			to_site_datetime(post.created_at),
			clean_text(post.author_name)[:140], clean_text(post.author_handle)[:140], (post.author_id or "")[:255],
			identities.get(post.author_id),
			post.text, post.language, (post.thread_id or "")[:255] or None, (post.in_reply_to_id or "")[:255] or None,
			verdict.sentiment, mood_label(verdict.sentiment), verdict.urgency, urgency_label(verdict.urgency), verdict.rule,
			ticket[0] if status == "Linked" else None, ticket[1] if status == "Linked" else None,
			_raw_json(post.raw), json.dumps(post.reply_ref) if post.reply_ref else None,
		))
		batch.new.append(name)
		if status == "Linked":
			batch.linked.append(name)
			# A later post in the same batch that answers this one joins the same ticket.
			by_post[post.external_id] = ticket
		elif verdict.action == CONVERT and status == "New":
			batch.to_convert.append(name)
	frappe.db.bulk_insert("Social Post", POST_FIELDS, rows, ignore_duplicates=True)
	return batch


def post_title(post: SocialPost) -> str:
	"""What the list shows: who said what."""
	who = clean_text(post.author_name or post.author_handle) or post.author_id or "?"
	return f"{who}: {first_line(post.text, 160)}"[:200]


def _raw_json(raw: dict) -> str:
	text = json.dumps(raw, ensure_ascii=False, default=str)
	if len(text) > MAX_RAW:
		text = json.dumps({"truncated": True, "preview": text[:MAX_RAW]})
	return text
