"""What a ticket shows of a post, and what a reply sends back (pure: no frappe import).

Post text is hostile input: it is escaped here before it becomes HTML, and every link it gets is
``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

import html
import string
from collections.abc import Mapping
from typing import Any

from bs4 import BeautifulSoup

from social_itsm_app.connectors.text import first_line, html_to_text

NETWORK_NAMES = {
	"X": "X", "Mastodon": "Mastodon", "Bluesky": "Bluesky", "Reddit": "Reddit", "Facebook Page": "Facebook",
	"Telegram": "Telegram", "Discourse": "Discourse", "Feed": "a feed", "Webhook": "a webhook",
	"WhatsApp": "WhatsApp", "Instagram": "Instagram",
}
SUBJECT_LIMIT = 140


def ticket_subject(text: str, author: str, network: str) -> str:
	"""The first sentence of the post, trimmed on a word boundary; a stand-in when the post has no words."""
	subject = first_line(text or "", SUBJECT_LIMIT)
	if subject:
		return subject
	return f"Post by {author or 'someone'} on {NETWORK_NAMES.get(network, network)}"[:SUBJECT_LIMIT]


def post_html(post: Mapping[str, Any]) -> str:
	"""The post as safe HTML for a ticket's timeline: escaped text, then who wrote it where, with a link."""
	body = text_html(post.get("text") or "")
	author = html.escape(post.get("author_name") or post.get("author_handle") or "")
	handle = html.escape(post.get("author_handle") or "")
	network = html.escape(NETWORK_NAMES.get(post.get("network") or "", post.get("network") or ""))
	origin = f"{author} (@{handle})" if handle and handle != author else author
	url = post.get("url") or ""
	link = ""
	if url.startswith(("https://", "http://")):
		link = f' · <a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer nofollow">view original</a>'
	return f'{body}<p class="social-itsm-origin"><small>{origin} on {network}{link}</small></p>'


def text_html(text: str) -> str:
	"""Plain text (a post, an agent's answer) as timeline HTML: escaped, paragraphs and line breaks kept."""
	paragraphs = [p for p in (text or "").split("\n\n") if p.strip()]
	return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs) or "<p></p>"


def delivery_html(network: str, private: bool, urls: list[str]) -> str:
	"""Where an answer went: "Sent on Mastodon as a public reply: view it (part 1, part 2)"."""
	where = NETWORK_NAMES.get(network, network)
	kind = "a private message" if private else "a public reply"
	links = [u for u in urls if u.startswith(("https://", "http://"))]

	def anchor(url: str, label: str) -> str:
		return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{label}</a>'

	if len(links) == 1:
		shown = " · " + anchor(links[0], f"view on {html.escape(where)}")
	elif links:
		shown = " · " + ", ".join(anchor(url, f"part {i}") for i, url in enumerate(links, 1))
	else:
		shown = ""
	return f"Sent on {html.escape(where)} as {kind}{shown}"


class _Defaulting(dict):
	def __missing__(self, key: str) -> str:
		return "{" + key + "}"


def render_template(template: str, values: Mapping[str, Any]) -> str:
	"""Fill ``{field}`` placeholders; unknown ones stay as typed, format specs and attribute access are refused."""
	safe = _Defaulting({k: "" if v is None else str(v) for k, v in values.items()})
	pieces = []
	for literal, field, _spec, _conversion in string.Formatter().parse(template or ""):
		pieces.append(literal)
		if field is not None:
			pieces.append(safe[field] if field.isidentifier() else "{" + field + "}")
	return "".join(pieces).strip()


def reply_text_from_html(content: str) -> str:
	"""An agent's HTML reply as plain text for a network: no quoted history, no email signature."""
	soup = BeautifulSoup(content or "", "html.parser")
	for node in soup.select("blockquote, .reply-to-content, .signature, .gmail_quote, .social-itsm-origin"):
		node.decompose()
	return html_to_text(str(soup))
