"""WhatsApp in the agent's hands: send a failed reply again as an approved message template.

WhatsApp delivers free text only within 24 hours of the customer's last message; after that a reply fails with
the connector's explanation, and the agent picks a template approved in WhatsApp Manager (its name, language and
body parameters) to reach the customer, whose answer reopens the window.
"""

from __future__ import annotations

import frappe
from frappe import _

from social_itsm_app.permissions import require_agent
from social_itsm_app.replies import outbound

MAX_PARAMETERS = 20


@frappe.whitelist(methods=["POST"])
def send_as_template(reply: str, template: str, language: str, parameters: str | None = None) -> dict:
	"""Queue a failed WhatsApp reply again as the template ``template`` in ``language`` (parameters one per line)."""
	require_agent()
	doc = frappe.get_doc("Social Reply", reply)
	doc.check_permission("read")  # agents cannot edit replies; sending one again is this method's job
	if doc.ticket_doctype and doc.ticket:
		frappe.get_doc(doc.ticket_doctype, doc.ticket).check_permission("write")
	if frappe.db.get_value("Social Channel", doc.channel, "network") != "WhatsApp":
		frappe.throw(_("Message templates exist on WhatsApp only."))
	if doc.status != "Failed":
		frappe.throw(_("Only a failed reply can be sent again as a template."))
	lines = [line.strip() for line in (parameters or "").splitlines() if line.strip()]
	if not template.strip() or not language.strip() or len(lines) > MAX_PARAMETERS:
		frappe.throw(_("Give the template's name, its language code and at most {0} parameters.").format(MAX_PARAMETERS))
	# A fresh start, as a retry: the free-text attempt reached nobody (refused, or reported failed by WhatsApp), so
	# its message ids go too; the send job sends the template once, when the reply has no part yet.
	frappe.db.delete("Social Reply Part", {"parent": doc.name, "parenttype": "Social Reply"})
	doc.db_set({
		"whatsapp_template": template.strip()[:140], "template_language": language.strip()[:20],
		"template_parameters": "\n".join(lines), "status": "Queued", "next_attempt_at": None, "attempts": 0,
		"first_attempt_at": None, "delivery_in_doubt": 0, "last_error": None,
	})
	outbound.enqueue_send(doc.name)
	return {"reply": doc.name, "status": "Queued"}
