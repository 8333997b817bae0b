"""Personal data: erase one person's social data on request, keeping their tickets as anonymised traces.

For one Social Identity (one person on one network):

- posts that are on no ticket are deleted;
- posts on a ticket stay as a trace (the ticket's history keeps its shape): text and title "[erased]", author
  name/handle/id, link, raw payload and reply reference cleared, the identity unlinked. The network's ids of the
  post and its thread stay, so the post is never imported again and the thread's later posts still find the ticket;
- the messages received from the person on those tickets say "[erased at the person's request]", without sender
  name; a ticket opened from one of the person's posts loses its subject and description (a copy of the post);
- the synthetic address (``<network>.<author id>@social-itsm.invalid`` names the person's account) is replaced
  on the kept tickets, messages and Contact by a random ``erased-…`` address that is globally unsubscribed;
- the identity goes, and so do its Contact (when the app made it, it holds nothing but the synthetic address and
  nothing else refers to it; a Contact that tickets still name is anonymised and renamed instead, a Contact an
  agent enriched or linked elsewhere only loses the synthetic address) and the address's Email Unsubscribe row.

The agents' own answers (Social Reply, sent messages) are kept, with the person's names and handles in them
replaced by "[erased]" (names shorter than three characters stay: they would hit ordinary words). One Info
comment on Social ITSM Settings records who erased which identity and how many records, never what they held.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict

import frappe
from frappe import _
from frappe.model.rename_doc import rename_doc
from frappe.utils import create_batch

from social_itsm_app.hosts import PROFILES
from social_itsm_app.people.identities import SYNTHETIC_DOMAIN, synthetic_email

ERASED = "[erased]"
ERASED_MESSAGE = "[erased at the person's request]"
BATCH = 500
# Above this many posts the erase runs as a background job that commits per batch.
INLINE_LIMIT = 500
SETTINGS = "Social ITSM Settings"
MIN_NAME = 3


@frappe.whitelist(methods=["POST"])
def erase_identity(identity: str) -> dict:
	"""Erase one person's social data (see the module's docstring). System Managers only."""
	require_system_manager()
	person = identity_row(identity)
	count = len(identity_posts(person))
	if count > INLINE_LIMIT:
		frappe.enqueue(
			"social_itsm_app.privacy.erase_identity_job",
			queue="long",
			timeout=3000,
			job_id=f"social_itsm_erase::{identity}",
			deduplicate=True,
			enqueue_after_commit=True,
			identity=identity,
			erased_by=frappe.session.user,
		)
		return {"queued": True, "posts": count}
	return {"queued": False, **erase(identity, frappe.session.user)}


def require_system_manager() -> None:
	# Not frappe.only_for: it lets everyone through while tests run, so a test could not prove the refusal.
	if "System Manager" not in frappe.get_roles():
		frappe.throw(_("Only System Managers can erase a person's social data."), frappe.PermissionError)


def erase_identity_job(identity: str, erased_by: str) -> dict | None:
	"""Background variant for long histories: commits after every batch, so a huge erase holds no long lock."""
	if not frappe.db.exists("Social Identity", identity):
		return None  # erased already (a second click queued before the first job ran)
	try:
		return erase(identity, erased_by, commit_per_batch=True)
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"Social ITSM: could not erase the data of Social Identity {identity}")
		raise


def identity_row(identity: str, for_update: bool = False):
	person = frappe.db.get_value(
		"Social Identity", identity, ["name", "network", "author_id", "contact", "email", "handle", "display_name"],
		as_dict=True,
		for_update=for_update,
	)
	if not person:
		frappe.throw(_("Social Identity {0} does not exist.").format(identity), frappe.DoesNotExistError)
	return person


def erase(identity: str, erased_by: str, commit_per_batch: bool = False) -> dict:
	"""Do the erase; commits once at the end (and after each batch when ``commit_per_batch``)."""
	person = identity_row(identity, for_update=True)
	address = person.email or synthetic_email(person.network, person.author_id)
	anonymous = f"erased-{frappe.generate_hash(length=12)}@{SYNTHETIC_DOMAIN}"
	posts = identity_posts(person)
	loose = [p.name for p in posts if not p.ticket]
	ticketed = [p.name for p in posts if p.ticket]
	tickets: dict[str, set[str]] = defaultdict(set)
	for post in posts:
		if post.ticket and post.ticket_doctype:
			tickets[post.ticket_doctype].add(post.ticket)

	summary = {
		"posts_deleted": delete_posts(loose, commit_per_batch),
		"posts_anonymised": anonymise_posts(ticketed, commit_per_batch),
		"messages_anonymised": anonymise_messages(tickets, address, anonymous),
		"tickets": sum(len(names) for names in tickets.values()),
		"tickets_anonymised": anonymise_tickets(tickets, ticketed, address, anonymous),
		"answers_redacted": redact_names(tickets, ticketed, person_names(person, posts)),
	}
	# Permanently: frappe's Deleted Document would keep a copy of the handle and name.
	frappe.delete_doc("Social Identity", identity, ignore_permissions=True, force=True, delete_permanently=True)
	summary["contact"] = dispose_contact(person.contact, address, anonymous)
	keep_new = bool(summary["tickets"]) or summary["contact"] == "anonymised"
	summary["unsubscribes_deleted"] = swap_unsubscribe(address, anonymous, keep_new)
	audit(identity, person.network, erased_by, summary)
	frappe.db.commit()
	return summary


def identity_posts(person) -> list:
	"""The identity's posts: linked to it, or (stored without the link) by the same author on its network."""
	fields = ["name", "ticket_doctype", "ticket", "author_name", "author_handle"]
	posts = frappe.get_all("Social Post", filters={"social_identity": person.name}, fields=fields)
	if person.author_id:
		posts += frappe.get_all("Social Post", fields=fields, filters={
			"network": person.network, "author_id": person.author_id, "social_identity": ("is", "not set"),
		})
	return posts


def person_names(person, posts: list) -> set[str]:
	"""The names the person went by (they may have changed between posts); very short ones would match words."""
	names = {person.handle, person.display_name}
	for post in posts:
		names.update((post.author_name, post.author_handle))
	return {name.strip() for name in names if name and len(name.strip()) >= MIN_NAME}


def name_pattern(names: set[str]) -> re.Pattern | None:
	variants = names | {html.escape(name) for name in names}  # sent messages hold escaped HTML
	if not variants:
		return None
	alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
	return re.compile(rf"(?<![\w@])@?(?:{alternatives})(?![\w])")


def redact_names(tickets: dict[str, set[str]], posts: list[str], names: set[str]) -> int:
	"""The agents' answers stay, but not the person's name in them (an acknowledgement greets them by name):
	their Social Replies and the messages sent on their tickets. Returns the number of records changed."""
	pattern = name_pattern(names)
	if not pattern:
		return 0
	changed = 0
	for batch in create_batch(posts, BATCH):
		for reply in frappe.get_all("Social Reply", filters={"social_post": ("in", batch)}, fields=["name", "text"]):
			changed += redact_field("Social Reply", reply.name, "text", reply.text, pattern)
	for doctype, ticket_names in tickets.items():
		for batch in create_batch(sorted(ticket_names), BATCH):
			sent = frappe.get_all("Communication", fields=["name", "content"], filters={
				"reference_doctype": doctype, "reference_name": ("in", batch), "sent_or_received": "Sent"})
			for message in sent:
				changed += redact_field("Communication", message.name, "content", message.content, pattern)
	return changed


def redact_field(doctype: str, name: str, field: str, value: str | None, pattern: re.Pattern) -> int:
	redacted = pattern.sub(ERASED, value or "")
	if redacted == (value or ""):
		return 0
	frappe.db.set_value(doctype, name, field, redacted, update_modified=False)
	return 1


def delete_posts(names: list[str], commit_per_batch: bool = False) -> int:
	for batch in create_batch(names, BATCH):
		frappe.db.delete("Social Post", {"name": ("in", batch)})
		if commit_per_batch:
			frappe.db.commit()
	return len(names)


def anonymise_posts(names: list[str], commit_per_batch: bool = False) -> int:
	"""One UPDATE per batch: the row stays on its ticket, nothing in it says who wrote what."""
	values = {
		"text": ERASED, "title": ERASED, "author_name": None, "author_handle": None, "author_id": None,
		"social_identity": None, "url": None, "raw": None, "reply_ref": None,
	}
	for batch in create_batch(names, BATCH):
		frappe.db.set_value("Social Post", {"name": ("in", batch)}, values, update_modified=False)
		if commit_per_batch:
			frappe.db.commit()
	return len(names)


def anonymise_messages(tickets: dict[str, set[str]], address: str, anonymous: str) -> int:
	"""The person's received messages on the tickets: content replaced, sender name and address gone. Messages
	the agents sent to them keep their content; only the recipient address changes."""
	count = 0
	for doctype, names in tickets.items():
		for batch in create_batch(sorted(names), BATCH):
			received = {"reference_doctype": doctype, "reference_name": ("in", batch), "sender": address,
				"sent_or_received": "Received"}
			count += frappe.db.count("Communication", received)
			frappe.db.set_value("Communication", received, {
				"content": ERASED_MESSAGE, "sender_full_name": None, "sender": anonymous, "subject": ERASED,
			}, update_modified=False)
			frappe.db.sql(
				"""update `tabCommunication` set `recipients` = replace(`recipients`, %(old)s, %(new)s)
				where `reference_doctype` = %(doctype)s and `reference_name` in %(names)s and `recipients` like %(like)s""",
				{"old": address, "new": anonymous, "doctype": doctype, "names": tuple(batch), "like": f"%{address}%"},
			)
	return count


def anonymise_tickets(tickets: dict[str, set[str]], posts: list[str], address: str, anonymous: str) -> int:
	"""Tickets stay; one opened from the person's post loses the post's words (subject, description)."""
	opened = set(posts)
	count = 0
	for doctype, names in tickets.items():
		meta = frappe.get_meta(doctype)
		for batch in create_batch(sorted(names), BATCH):
			frappe.db.set_value(doctype, {"name": ("in", batch), "raised_by": address}, "raised_by", anonymous,
				update_modified=False)
			if not meta.has_field("social_post"):
				continue
			own = [t for t, post in frappe.get_all(doctype, filters={"name": ("in", batch)},
				fields=["name", "social_post"], as_list=True) if post in opened]
			if own:
				frappe.db.set_value(doctype, {"name": ("in", own)}, {"subject": ERASED, "description": ERASED_MESSAGE},
					update_modified=False)
				count += len(own)
	return count


def dispose_contact(contact: str | None, address: str, anonymous: str) -> str:
	"""Delete the identity's Contact when the app made it and nothing refers to it. Returns what happened:
	"none", "deleted", "anonymised" (tickets still name it) or "kept" (it holds more than our address)."""
	if not contact or not frappe.db.exists("Contact", contact):
		return "none"
	if not made_by_app(contact):
		drop_address(contact, address)
		return "kept"
	if named_by_tickets(contact):
		anonymise_contact(contact, address, anonymous)
		return "anonymised"
	savepoint = "social_itsm_erase_contact"
	frappe.db.savepoint(savepoint)
	try:
		delete_contact(contact)
		return "deleted"
	except frappe.LinkExistsError:
		frappe.db.rollback(save_point=savepoint)
		frappe.clear_last_message()
		anonymise_contact(contact, address, anonymous)
		return "anonymised"


def delete_contact(contact: str) -> None:
	"""Delete without a copy: frappe's Deleted Document would keep the whole record, and its "Deleted" feed line
	names the Contact, whose name is the person's full name."""
	frappe.delete_doc("Contact", contact, ignore_permissions=True, delete_permanently=True)
	frappe.db.delete("Comment", {"comment_type": "Deleted", "reference_doctype": "Contact",
		"subject": f"{_('Contact')} {contact}"})


def named_by_tickets(contact: str) -> bool:
	"""Asked directly: ERPNext clears an Issue's contact when the Contact is deleted (Contact.on_trash), so frappe's
	link check alone would keep it on Helpdesk and drop it from the tickets on ERPNext."""
	for doctype in PROFILES:
		if frappe.db.table_exists(doctype) and frappe.get_meta(doctype).has_field("contact"):
			if frappe.db.exists(doctype, {"contact": contact}):
				return True
	return False


def made_by_app(contact: str, count_identities: bool = True) -> bool:
	"""Only our synthetic address, no phone, no user, no links to customers (and, unless told otherwise, no other
	identity using it)."""
	emails = frappe.get_all("Contact Email", filters={"parenttype": "Contact", "parent": contact}, pluck="email_id")
	if any(not (email or "").endswith("@" + SYNTHETIC_DOMAIN) for email in emails):
		return False
	if frappe.db.exists("Contact Phone", {"parenttype": "Contact", "parent": contact}):
		return False
	if frappe.db.exists("Dynamic Link", {"parenttype": "Contact", "parent": contact}):
		return False
	if frappe.db.get_value("Contact", contact, "user"):
		return False
	return not (count_identities and frappe.db.exists("Social Identity", {"contact": contact}))


def drop_address(contact: str, address: str) -> None:
	"""A Contact that is more than ours keeps everything else; only the synthetic address leaves it."""
	doc = frappe.get_doc("Contact", contact)
	rows = [row for row in doc.email_ids if row.email_id != address]
	if len(rows) == len(doc.email_ids):
		return
	doc.email_ids = rows
	doc.flags.ignore_permissions = True
	doc.save()


def anonymise_contact(contact: str, address: str, anonymous: str) -> None:
	"""Tickets name this Contact: keep it for them, renamed, without the person's name or address."""
	frappe.db.set_value("Contact Email", {"parenttype": "Contact", "parent": contact, "email_id": address},
		"email_id", anonymous, update_modified=False)
	frappe.db.set_value("Contact", contact, {
		"first_name": ERASED, "middle_name": None, "last_name": None, "full_name": ERASED,
		"email_id": anonymous, "image": None,
	}, update_modified=False)
	# The Contact's name is its full name ("Jane Doe (Mastodon @jane)"); renaming updates every link to it.
	new_name = rename_doc("Contact", contact, anonymous.split("@")[0], force=True, ignore_permissions=True,
		show_alert=False, rebuild_search=False)
	# rename_doc writes "renamed from <old name>" on the Contact; its versions hold the old values too.
	frappe.db.delete("Comment", {"reference_doctype": "Contact", "reference_name": new_name})
	frappe.db.delete("Version", {"ref_doctype": "Contact", "docname": new_name})


def swap_unsubscribe(address: str, anonymous: str, keep_new: bool) -> int:
	"""Delete the synthetic address's Email Unsubscribe; keep the host from mailing the anonymous one."""
	names = frappe.get_all("Email Unsubscribe", filters={"email": address}, pluck="name")
	if names:
		frappe.db.delete("Email Unsubscribe", {"name": ("in", names)})
	if keep_new:
		frappe.get_doc({"doctype": "Email Unsubscribe", "email": anonymous, "global_unsubscribe": 1}).insert(
			ignore_permissions=True)
	return len(names)


def audit(identity: str, network: str, erased_by: str, summary: dict) -> None:
	"""One line, who and how many, none of the erased data (the identity's name is a random hash)."""
	frappe.get_doc({
		"doctype": "Comment",
		"comment_type": "Info",
		"reference_doctype": SETTINGS,
		"reference_name": SETTINGS,
		"comment_email": erased_by,
		"content": _(
			"{0} erased the social data of Social Identity {1} ({2}): {3} posts deleted; {4} posts and {5} received "
			"messages anonymised on {6} tickets kept, {7} of them opened from the person's post; contact: {8}; "
			"{9} unsubscribe rows deleted; the person's name redacted in {10} answers."
		).format(
			erased_by, identity, network, summary["posts_deleted"], summary["posts_anonymised"],
			summary["messages_anonymised"], summary["tickets"], summary["tickets_anonymised"], summary["contact"],
			summary["unsubscribes_deleted"], summary["answers_redacted"],
		),
	}).insert(ignore_permissions=True)
