"""Small Frappe-side helpers shared by the ingest, ticket and reply modules."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import frappe
from frappe.utils import convert_utc_to_system_timezone, get_system_timezone


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


def short_error(exc: BaseException, limit: int = 500) -> str:
	return f"{type(exc).__name__}: {exc}"[:limit]


def logger():
	return frappe.logger("social_itsm", allow_site=True)
