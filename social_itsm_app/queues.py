"""Which of the bench's queues each kind of the app's background work goes on.

Social ITSM Settings names one queue per kind (section *Background workers*): channel fetches and what a fetch
queues for later (``fetch``), replies sent to a network (``send``), and turning posts into tickets: bulk
conversion and the ticket side's take-over of posts a fetch stored (``tickets``). A queue other than Frappe's
``short``, ``default`` and ``long`` must be declared in the bench's common_site_config.json under ``"workers"``
(``"workers": {"social": {"timeout": 1500}}``) and be served by ``bench worker --queue social`` processes; until
a process knows the queue (a process reads the declaration when it starts) its work goes to the kind's built-in
queue instead, and the process says so once in the social_itsm log.

``choose_queue`` and the tables need no Frappe (the tier-1 tests import this module bare); ``frappe`` is imported
by the functions that read the site.
"""

from __future__ import annotations

FETCH, SEND, TICKETS = "fetch", "send", "tickets"
SETTINGS = "Social ITSM Settings"
FIELDS = {FETCH: "fetch_queue", SEND: "send_queue", TICKETS: "ticket_queue"}
# The queue each kind uses out of the box, and falls back to: one of the queues every Frappe bench has.
DEFAULTS = {FETCH: "default", SEND: "short", TICKETS: "default"}
BUILT_IN = ("short", "default", "long")

_warned: set[tuple[str, str]] = set()  # (kind, queue) already logged by this process


def choose_queue(kind: str, configured: str | None, known: list[str] | tuple[str, ...]) -> tuple[str, bool]:
	"""The queue for ``kind``: the configured one when this process knows it, else the kind's default.
	Returns (queue, fell_back)."""
	default = DEFAULTS[kind]
	name = (configured or "").strip() or default
	if name in known:
		return name, False
	return default, True


def known_queues() -> list[str]:
	"""The queues this process can enqueue on: Frappe's own and common_site_config's "workers" (read when the
	process started)."""
	from frappe.utils.background_jobs import get_queue_list

	return list(get_queue_list())


def queue_for(kind: str) -> str:
	"""The queue to pass to ``frappe.enqueue`` for this kind of work (the settings are read from the cache)."""
	import frappe

	configured = frappe.get_cached_doc(SETTINGS).get(FIELDS[kind])
	queue, fell_back = choose_queue(kind, configured, known_queues())
	if fell_back and (kind, configured) not in _warned:
		_warned.add((kind, configured))
		frappe.logger("social_itsm", allow_site=True).warning({
			"queue": configured, "kind": kind, "using": queue,
			"error": f"queue {configured!r} is not declared in common_site_config.json \"workers\" (or this process "
			"started before it was): its jobs go to the default queue",
		})
	return queue

