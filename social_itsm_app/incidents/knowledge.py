"""A resolved incident's answer kept for the next time: a knowledge article draft in the host's knowledge base.

Helpdesk has HD Article (status Draft, in an HD Article Category); without Helpdesk, Frappe's own Help Article
(unpublished, in a Help Category). Both land in a category named "Incidents", made when missing. The draft is
never published by the app: an agent reviews it first.
"""

from __future__ import annotations

import html

import frappe
from frappe import _
from frappe.utils import cint, format_datetime

CATEGORY = "Incidents"


def draft_article(incident, resolution_html: str) -> tuple[str, str]:
	"""Create the draft for ``incident`` (a Social Incident doc); returns (article doctype, name)."""
	title = _("{0} ({1})").format(incident.title, incident.name)[:140]
	content = article_content(incident, resolution_html)
	if "helpdesk" in frappe.get_installed_apps() and frappe.db.exists("DocType", "HD Article"):
		article = frappe.get_doc({
			"doctype": "HD Article", "title": title, "content": content, "status": "Draft",
			"category": hd_category(),
		})
	else:
		article = frappe.get_doc({
			"doctype": "Help Article", "title": title, "content": content, "published": 0,
			"category": help_category(), "author": frappe.session.user,
		})
	article.insert(ignore_permissions=True)
	return article.doctype, str(article.name)


def article_content(incident, resolution_html: str) -> str:
	"""What happened (escaped: the title and channels come from the chatter) and what fixed it (already HTML)."""
	esc = html.escape
	happened = _("{0} posts by {1} people reported it between {2} and {3}.").format(
		cint(incident.posts_count), cint(incident.authors_count),
		format_datetime(incident.first_post_at or incident.detected_at),
		format_datetime(incident.last_post_at or incident.detected_at),
	)
	parts = [
		f"<h3>{esc(_('What happened'))}</h3>",
		f"<p>{esc(incident.title or '')}</p>",
		f"<p>{esc(happened)}</p>",
	]
	if incident.service:
		parts.append(f"<p>{esc(_('Service'))}: {esc(incident.service)}</p>")
	parts += [f"<h3>{esc(_('What fixed it'))}</h3>", resolution_html]
	return "".join(parts)


def hd_category() -> str:
	name = frappe.db.get_value("HD Article Category", {"category_name": CATEGORY})
	if name:
		return name
	category = frappe.get_doc({"doctype": "HD Article Category", "category_name": CATEGORY,
		"description": _("Outages heard on social media and how they were fixed.")})
	category.insert(ignore_permissions=True)
	return category.name


def help_category() -> str:
	if frappe.db.exists("Help Category", CATEGORY):
		return CATEGORY
	category = frappe.get_doc({"doctype": "Help Category", "category_name": CATEGORY,
		"category_description": _("Outages heard on social media and how they were fixed.")})
	category.insert(ignore_permissions=True)
	return category.name
