"""WhatsApp message templates on a Social Reply: outside the 24-hour customer-service window WhatsApp delivers only
an approved template, which the agent chooses (api/whatsapp.send_as_template) and the send job sends."""

from __future__ import annotations

from social_itsm_app.connectors.whatsapp import Template


def template_of(doc) -> Template | None:
	"""The template a reply is to go out as (name, language, one body parameter per line), or None for free text."""
	name = (doc.get("whatsapp_template") or "").strip()
	if not name:
		return None
	lines = (doc.get("template_parameters") or "").splitlines()
	return Template(name, (doc.get("template_language") or "").strip(), tuple(line.strip() for line in lines if line.strip()))
