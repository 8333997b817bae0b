"""Whitelisted methods for the desk UI. Every method checks permissions before doing anything."""

from __future__ import annotations

import itertools
from dataclasses import asdict

import frappe
from frappe import _

from social_itsm_app.channels.runtime import build_connector, credentials_in_use
from social_itsm_app.connectors import ConnectorError
from social_itsm_app.ingest.jobs import enqueue_fetch, job_id
from social_itsm_app.permissions import require_agent
from social_itsm_app.queues import TICKETS, queue_for
from social_itsm_app.replies import outbound
from social_itsm_app.replies.state import PRIVATE, PUBLIC
from social_itsm_app.statuses import AGENT_POST_STATUSES, NEEDS_REAUTH, TICKETED
from social_itsm_app.tickets.adapters import adapter_for
from social_itsm_app.tickets.convert import convert_post, link_post
from social_itsm_app.utils import each_committed, short_error


def _channel_for_admin(channel: str):
	doc = frappe.get_doc("Social Channel", channel)
	doc.check_permission("write")
	return doc


@frappe.whitelist(methods=["POST"])
def test_connection(channel: str) -> dict:
	"""Make one authenticated call and say which account the credentials reach."""
	doc = _channel_for_admin(channel)
	try:
		with credentials_in_use(doc):
			account = build_connector(doc).verify_credentials()
	except ConnectorError as exc:
		return {"ok": False, "error": short_error(exc, 600)}
	if doc.status == NEEDS_REAUTH:
		doc.resume()
		doc.flags.social_itsm = True  # the app, not the admin, changes the status (see SocialChannel.keep_health_status)
		doc.save()  # the credentials work again: polling resumes at the next tick
	return {"ok": True, "account": asdict(account)}


@frappe.whitelist(methods=["POST"])
def fetch_now(channel: str) -> dict:
	"""Queue a fetch of this channel now; the form hears the result over realtime."""
	doc = _channel_for_admin(channel)
	if not doc.enabled:
		frappe.throw(_("Enable the channel before fetching."), title=_("Channel disabled"))
	enqueue_fetch(doc.name, user_requested=True)
	return {"queued": True, "job_id": job_id(doc.name)}


# --- the twicket: posts to tickets -------------------------------------------------------------------

BULK_INLINE_LIMIT = 20  # the Social Post list asks for it (post_list_settings)


@frappe.whitelist(methods=["GET"])
def post_list_settings() -> dict:
	"""What the Social Post list needs from the server: up to how many posts it converts while the agent waits."""
	require_agent()
	return {"bulk_inline_limit": BULK_INLINE_LIMIT}


def _post_for_agent(post: str):
	require_agent()
	doc = frappe.get_doc("Social Post", post)
	doc.check_permission("write")
	return doc


@frappe.whitelist(methods=["POST"])
def convert_to_ticket(
	post: str,
	priority: str | None = None,
	ticket_type: str | None = None,
	team: str | None = None,
	reply_mode: str | None = None,
) -> dict:
	"""Turn a post into a ticket (or return the ticket it already has)."""
	_post_for_agent(post)
	overrides = {"priority": priority, "ticket_type": ticket_type, "team": team, "reply_mode": reply_mode}
	return convert_post(post, {k: v for k, v in overrides.items() if v})


@frappe.whitelist(methods=["POST"])
def convert_many(posts: str | list) -> dict:
	"""Bulk "Convert to tickets": small selections at once, larger ones in the background with progress."""
	names = _post_names(posts)
	if len(names) <= BULK_INLINE_LIMIT:
		return {"queued": False, "results": convert_batch(names)}
	frappe.enqueue(
		"social_itsm_app.api.convert_batch", queue=queue_for(TICKETS), timeout=1500, names=names, notify=frappe.session.user
	)
	return {"queued": True, "count": len(names)}


def convert_batch(names: list[str], notify: str | None = None) -> list[dict]:
	"""Convert posts one by one, each in its own transaction, reporting progress to ``notify``."""
	total, done = len(names), itertools.count(1)

	def convert(name: str) -> dict:
		result = convert_post(name)
		if notify:
			step = next(done)
			frappe.publish_progress(step * 100 / total, title=_("Converting posts"), description=f"{step} / {total}")
		return result

	outcomes = each_committed(names, convert, "Social ITSM: could not convert post {name}")
	results = [
		{"post": name, **result} if error is None else {"post": name, "error": short_error(error, 300)}
		for name, result, error in outcomes
	]
	if notify:
		frappe.publish_realtime("social_itsm_convert_done", {"results": results}, user=notify)
	return results


@frappe.whitelist(methods=["POST"])
def link_to_ticket(post: str, ticket_doctype: str, ticket: str) -> dict:
	"""Attach a post to an existing ticket's timeline instead of opening a new one."""
	doc = _post_for_agent(post)
	if doc.ticket:
		frappe.throw(_("This post already belongs to {0} {1}.").format(_(doc.ticket_doctype), doc.ticket))
	frappe.get_doc(ticket_doctype, ticket).check_permission("write")
	link_post(post, ticket_doctype, ticket)
	return {"ticket_doctype": ticket_doctype, "ticket": ticket}


@frappe.whitelist(methods=["POST"])
def set_post_status(posts: str | list, status: str) -> dict:
	"""Mark posts Ignored or Spam (or back to New) with one query; posts with a ticket keep theirs."""
	if status not in AGENT_POST_STATUSES:
		frappe.throw(_("Status must be one of {0}.").format(", ".join(AGENT_POST_STATUSES)))
	names = _post_names(posts)
	post = frappe.qb.DocType("Social Post")
	unticketed = (post.name.isin(names)) & (post.ticket.isnull() | (post.ticket == "")) & (post.status != status)
	changed = frappe.qb.from_(post).select(post.name).where(unticketed).run(pluck=True) if names else []
	if changed:
		frappe.qb.update(post).set(post.status, status).set(post.modified, frappe.utils.now()).where(
			post.name.isin(changed)
		).run()
		frappe.publish_realtime("list_update", {"doctype": "Social Post", "name": changed[-1], "user": frappe.session.user})
	return {"changed": changed}


def _post_names(posts: str | list) -> list[str]:
	"""Selected posts of a bulk action, after checking the agent may change posts at all.

	Social Post has no per-record permission rules, so one doctype-level check covers the whole selection
	(thousands of posts must not mean thousands of permission lookups)."""
	require_agent()
	if not frappe.has_permission("Social Post", "write"):
		frappe.throw(_("Not permitted to change social posts."), frappe.PermissionError)
	names = frappe.parse_json(posts) if isinstance(posts, str) else posts
	return [str(name) for name in names or []]


@frappe.whitelist()
def author_history(post: str, limit: int = 20) -> dict:
	"""Earlier posts and tickets of the same person on the same network."""
	require_agent()
	doc = frappe.get_doc("Social Post", post)
	doc.check_permission("read")
	if not doc.social_identity:
		return {"posts": [], "tickets": []}
	posts = frappe.get_all(
		"Social Post",
		filters={"social_identity": doc.social_identity, "name": ("!=", doc.name)},
		fields=["name", "title", "status", "posted_at", "channel", "ticket_doctype", "ticket", "url"],
		order_by="posted_at desc",
		limit=limit,
	)
	tickets = sorted(
		{(p.ticket_doctype, p.ticket) for p in posts if p.ticket}
		| ({(doc.ticket_doctype, doc.ticket)} if doc.ticket else set())
	)
	return {"posts": posts, "tickets": [{"doctype": dt, "name": name} for dt, name in tickets]}


# --- replies back to the network ---------------------------------------------------------------------


@frappe.whitelist(methods=["POST"])
def reply_on_network(ticket_doctype: str, ticket: str, text: str, private: bool | int | str = False) -> dict:
	"""The explicit "Reply on <network>" action of a ticket (the reply box path is the Communication hook)."""
	require_agent()
	frappe.get_doc(ticket_doctype, ticket).check_permission("write")
	if not (text or "").strip():
		frappe.throw(_("Write the reply first."))
	mode = PRIVATE if frappe.utils.cint(private) else PUBLIC
	# The answer is the agent's outgoing message on the timeline (and the first response), as from the reply box.
	communication = adapter_for(ticket_doctype).add_answer(ticket, text.strip(), frappe.session.user)
	reply = outbound.queue_reply(ticket_doctype, ticket, text.strip(), mode, communication=communication)
	return {"reply": reply, "status": "Queued", "communication": communication}


@frappe.whitelist(methods=["POST"])
def retry_reply(reply: str) -> dict:
	"""An agent checked the network and asks to send a failed reply again."""
	require_agent()
	doc = frappe.get_doc("Social Reply", reply)
	doc.check_permission("read")  # agents cannot edit replies; retrying one is this method's job
	frappe.get_doc(doc.ticket_doctype, doc.ticket).check_permission("write")
	if doc.status != "Failed":
		frappe.throw(_("Only failed replies can be retried."))
	# The agent looked at the network: the reply is not there, so this is a fresh start.
	doc.db_set({"status": "Queued", "next_attempt_at": None, "attempts": 0, "first_attempt_at": None,
		"delivery_in_doubt": 0})
	outbound.enqueue_send(doc.name)
	return {"reply": doc.name, "status": "Queued"}


@frappe.whitelist()
def ticket_social_panel(ticket_doctype: str, ticket: str) -> dict:
	"""What the ticket form shows: the posts of this ticket and the replies sent back."""
	require_agent()
	frappe.get_doc(ticket_doctype, ticket).check_permission("read")
	posts = frappe.get_all(
		"Social Post",
		filters={"ticket_doctype": ticket_doctype, "ticket": str(ticket)},
		fields=["name", "network", "channel", "author_name", "author_handle", "text", "url", "posted_at", "kind"],
		order_by="posted_at asc",
	)
	replies = frappe.get_all(
		"Social Reply",
		filters={"ticket_doctype": ticket_doctype, "ticket": str(ticket)},
		fields=["name", "status", "reply_mode", "text", "url", "last_error", "sent_at", "creation", "network_status"],
		order_by="creation asc",
	)
	return {"posts": posts, "replies": replies}


@frappe.whitelist()
def channel_activity(channel: str, days: int = 14) -> dict:
	"""Posts per day on a channel (all, and those that became tickets), for the chart on the channel form."""
	frappe.get_doc("Social Channel", channel).check_permission("read")
	days = max(1, min(int(days), 90))
	since = frappe.utils.add_days(frappe.utils.nowdate(), -(days - 1))
	post = frappe.qb.DocType("Social Post")
	day = frappe.query_builder.functions.Date(post.creation)
	rows = (
		frappe.qb.from_(post)
		.select(day.as_("day"), frappe.query_builder.functions.Count("*").as_("posts"), post.status)
		.where((post.channel == channel) & (post.creation >= since))
		.groupby(day, post.status)
		.run(as_dict=True)
	)
	labels = [frappe.utils.add_days(since, offset) for offset in range(days)]
	index = {str(label): i for i, label in enumerate(labels)}
	received, ticketed = [0] * days, [0] * days
	for row in rows:
		i = index.get(str(row.day))
		if i is None:
			continue
		received[i] += row.posts
		if row.status in TICKETED:
			ticketed[i] += row.posts
	return {"labels": [str(label) for label in labels], "received": received, "ticketed": ticketed}


@frappe.whitelist(methods=["GET"])
def reply_context(ticket_doctype: str, ticket: str) -> dict:
	"""What a reply editor needs before the agent types: the network's length limits and the allowed modes.

	The limits are the connector class's own (no connector is built, so no secret is read); ``measure`` names
	the counter in :mod:`social_itsm_app.connectors.split`. A direct message is only ever answered privately.
	"""
	from social_itsm_app.channels.config import network_key
	from social_itsm_app.connectors import connector_class

	require_agent()
	doc = frappe.get_doc(ticket_doctype, ticket)
	doc.check_permission("read")
	if not doc.meta.has_field("social_post") or not doc.get("social_post"):
		frappe.throw(_("{0} {1} did not come from a social post.").format(_(ticket_doctype), ticket))
	post = outbound.latest_customer_post(ticket_doctype, ticket)
	key = network_key(post.network)
	try:
		cls = connector_class(key) if key else None
	except ConnectorError:
		cls = None
	if cls is None or key == "feed":  # pushed webhooks and feeds cannot be answered on the network
		frappe.throw(_("Posts from {0} cannot be answered on the network.").format(_(post.network or "?")))
	private_only = post.kind == "direct"
	if private_only:
		default_mode = PRIVATE
	elif cls.private_limit is None:
		default_mode = PUBLIC
	else:
		default_mode = PRIVATE if doc.get("social_reply_mode") == PRIVATE else PUBLIC
	return {
		"network": post.network,
		"public_limit": int(cls.public_limit),
		"private_limit": None if cls.private_limit is None else int(cls.private_limit),
		"measure": cls.measure,
		"default_mode": default_mode,
		"private_only": private_only,
		"channel": post.channel,
	}
