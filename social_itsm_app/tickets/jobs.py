"""Background work the ticket side takes over from a channel's fetch (see channels/handover.py)."""

from __future__ import annotations

import frappe

from social_itsm_app.channels.handover import take_pending
from social_itsm_app.tickets.convert import attach_linked, auto_convert


def take_over_posts(channel: str) -> None:
	"""Queued by the fetch job after its commit: posts that joined a ticket's thread go on its timeline, and the
	posts an auto-convert rule chose become tickets, batch by batch in the order they were stored."""
	for handed in take_pending(channel):
		attach_linked(still_there(handed["linked"]))
		auto_convert(still_there(handed["convert"]))


def still_there(names: list[str]) -> list[str]:
	"""The posts not deleted meanwhile (their channel removed, an erasure), in the order given."""
	if not names:
		return []
	existing = set(frappe.get_all("Social Post", filters={"name": ("in", names)}, pluck="name"))
	return [name for name in names if name in existing]
