"""Posts a channel's fetch hands to the ticket side, kept in Redis per channel until the tickets job takes them.

The fetch job only stores and commits; attaching posts to their ticket's timeline and auto-converting (100+ ms a
post in Helpdesk) run in a separate job (social_itsm_app.tickets.jobs.take_over_posts). That job is queued once
per channel (deduplicated), so it cannot carry the names itself: a second fetch while it waits would lose its
posts. The names wait here instead, one entry per stored batch, in the order the fetches stored them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import frappe


def pending_key(channel: str) -> str:
	return f"social_itsm_to_tickets::{channel}"


def hand_over(channel: str, linked: list[str], to_convert: list[str]) -> None:
	if linked or to_convert:
		frappe.cache().rpush(pending_key(channel), json.dumps({"linked": linked, "convert": to_convert}))


def has_pending(channel: str) -> bool:
	return bool(frappe.cache().llen(pending_key(channel)))


def take_pending(channel: str) -> Iterator[dict[str, list[str]]]:
	"""Each handed-over batch once (LPOP is atomic), oldest first, until none is left."""
	while (raw := frappe.cache().lpop(pending_key(channel))) is not None:
		handed = json.loads(raw)
		yield {"linked": handed.get("linked") or [], "convert": handed.get("convert") or []}
