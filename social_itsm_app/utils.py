"""Small Frappe-side helpers shared by the ingest, ticket and reply modules."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import frappe
from frappe.utils import convert_utc_to_system_timezone, get_system_timezone

from social_itsm_app.connectors.text import clean_text


def to_site_datetime(moment: datetime | None) -> datetime | None:
	"""Aware datetime -> the naive system-timezone datetime Frappe stores."""
	if moment is None:
		return None
	if moment.tzinfo is None:
		moment = moment.replace(tzinfo=timezone.utc)
	return convert_utc_to_system_timezone(moment.astimezone(timezone.utc)).replace(tzinfo=None)


def from_site_datetime(moment: datetime | None) -> datetime | None:
	"""Naive system-timezone datetime from the database -> aware UTC."""
	if moment is None:
		return None
	return moment.replace(tzinfo=ZoneInfo(get_system_timezone())).astimezone(timezone.utc)


def each_committed(
	names: Iterable[str], action: Callable[[str], Any], failure_title: str
) -> list[tuple[str, Any, BaseException | None]]:
	"""Run ``action(name)`` for each name in its own transaction, the way frappe's mail intake does:
	one failure is logged and rolled back, and the rest still go through. Returns (name, result, error)."""
	outcomes = []
	for name in names:
		try:
			result = action(name)
			frappe.db.commit()
			outcomes.append((name, result, None))
		except Exception as exc:
			frappe.db.rollback()
			frappe.log_error(title=failure_title.format(name=name))
			outcomes.append((name, None, exc))
	return outcomes


def short_error(exc: BaseException, limit: int = 500) -> str:
	"""The error as plain text: a network's error page or message may carry markup, and read-only text fields
	in the desk (a channel's or a reply's last error) render what they hold."""
	return clean_text(f"{type(exc).__name__}: {exc}")[:limit]


def logger():
	return frappe.logger("social_itsm", allow_site=True)
