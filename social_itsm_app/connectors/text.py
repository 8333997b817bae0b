"""Turning hostile network content into plain, readable, safe text.

Every network hands us attacker-controlled text: HTML (Mastodon ``content``, Discourse ``cooked``, feeds),
entity-escaped text (X), or plain text that may itself contain markup. We keep *text only*: tags are
removed, ``<script>``/``<style>`` bodies dropped, entities decoded, links kept readable as
``label (url)``, control characters and lone surrogates removed. The Frappe layer still escapes it when
rendering.

Work is bounded: well-formed markup takes a linear fast path; the full parser only sees markup that is
short and tame enough (BeautifulSoup's html.parser is quadratic on unterminated tags and on many sibling
tags); anything else goes through the same linear walk as the fast path, in a forgiving mode.
"""

from __future__ import annotations

import html
import re
import unicodedata

from bs4 import BeautifulSoup, Tag

from social_itsm_app.connectors.split import without_part_number

_DROP_TAGS = ("script", "style", "template", "noscript", "iframe", "object", "embed", "head", "svg", "math")
_BLOCK_TAGS = frozenset(
	"p div section article header footer li ul ol blockquote pre h1 h2 h3 h4 h5 h6 table tr aside figure".split()
)
_TAG_HINT = re.compile(r"</?[a-zA-Z!]|&[#a-zA-Z0-9]+;")
_TAG = re.compile(r"</?[a-zA-Z!]")
_HTML_TOKEN = re.compile(r"(<[^<>]*>)")
_SIMPLE_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b([^<>]*?)/?>\Z")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
# Lone surrogates too: MariaDB's utf8mb4 rejects them, and json.loads makes them from "\\ud83d" escapes.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
MAX_TEXT = 100_000
# The full parser only sees markup this short, with at most MAX_PARSED_TAGS "<" (our tree edits are
# quadratic in sibling tags) and few constructs that run to the end of the input: html.parser rescans to
# the end from each of them (9.5 s for "<a " * 5000). Other markup takes the forgiving linear walk.
MAX_MARKUP = 50_000
MAX_PARSED_TAGS = 500
MAX_UNTERMINATED = 2
MAX_RESCAN = 250_000  # "<" count x length, when a quote after the last ">" may hide it in an attribute
_OPENER = re.compile(r"<[a-zA-Z/!?]")  # what html.parser reads as the start of a tag, not as text
_FRAGMENT = re.compile(r"</?[a-zA-Z!][^<>]*>?")  # a tag, or what is left of one, up to the next < or >
_BRACKETS = re.compile(r"[</]+")


def html_to_text(markup: str | None, _depth: int = 0) -> str:
	"""HTML to readable plain text: paragraphs kept, links as ``label (url)`` when the label hides the url.

	Escaped markup (``&lt;script&gt;``) decodes to tags; those are stripped too, so no tag ever survives.
	The simple markup networks emit (paragraphs, line breaks, links, inline emphasis) takes a fast path;
	other tame markup goes through BeautifulSoup, hostile or huge markup through a forgiving linear walk.
	"""
	if not markup:
		return ""
	markup = markup[: MAX_TEXT * 2]
	fast = _walk_html(markup, lenient=False)
	if fast is not None:
		return fast  # the strict walk leaves no tag (or gives None)
	return strip_leftover_markup(_parsed_html_to_text(markup, _depth))


def _parsed_html_to_text(markup: str, depth: int = 0) -> str:
	"""BeautifulSoup's text when the parse is cheap, else the forgiving linear walk's."""
	if _hostile(markup):
		return _walk_html(markup, lenient=True, depth=depth) or ""
	return _soup_html_to_text(markup, depth)


def _hostile(markup: str) -> bool:
	"""Markup on which html.parser and our tree edits would be slow (linear; errs on the walk's side).

	A tag, ``<!`` or ``<?`` ends at the first ">" outside a quoted attribute value, so only those after the
	last ">" run to the end, unless a quote after it closes a value that hides it. Comments end at "-->",
	marked sections (``<![CDATA[``) at "]]>".
	"""
	tags = markup.count("<")
	if len(markup) > MAX_MARKUP or tags > MAX_PARSED_TAGS:
		return True
	after_last = markup.rfind(">") + 1
	if len(_OPENER.findall(markup, after_last)) > MAX_UNTERMINATED:
		return True
	tail = markup[after_last:]
	if ("'" in tail or '"' in tail) and tags * len(markup) > MAX_RESCAN:
		return True
	unclosed_comments = markup.count("<!--", markup.rfind("-->") + 1)
	return unclosed_comments > MAX_UNTERMINATED or markup.count("<![") > MAX_UNTERMINATED


def _soup_html_to_text(markup: str, _depth: int = 0) -> str:
	soup = BeautifulSoup(markup[: MAX_TEXT * 2], "html.parser")
	for tag in soup(_DROP_TAGS):
		tag.decompose()
	for invisible in soup.select("span.invisible"):
		# Mastodon hides the scheme and tail of long links in such spans; keep them so the link stays whole.
		invisible.unwrap()
	for br in soup.find_all("br"):
		br.replace_with("\n")
	for link in soup.find_all("a"):
		link.replace_with(_link_text(link))
	for block in soup.find_all(_BLOCK_TAGS):
		block.insert_before("\n")
		block.insert_after("\n")
	text = tidy(soup.get_text())
	if _depth < 3 and _TAG.search(text):
		return _parsed_html_to_text(text, _depth + 1)
	return text


def clean_text(text: str | None) -> str:
	"""Plain text from a network (may hold entities or smuggled markup) to safe plain text."""
	if not text:
		return ""
	text = text[:MAX_TEXT]
	if _TAG_HINT.search(text):
		unescaped = html.unescape(text)
		if _TAG.search(unescaped):
			return html_to_text(unescaped)
		text = unescaped
	text = tidy(text)
	# Dropping a control character can join "<" and a letter: strip what tidying left.
	return strip_leftover_markup(text) if "<" in text else text


def strip_leftover_markup(text: str) -> str:
	"""Text with no ``<tag``-like token left (the last step of cleaning; linear, a no-op on clean text).

	Tag-like tokens go first; any "<" that still starts a tag (removing ``<a>`` from ``<<a>b`` makes one)
	loses its "<"s, in a single pass over maximal runs of "<" and "/".
	"""
	if not _TAG.search(text):
		return text
	text = _FRAGMENT.sub("", text)
	if _TAG.search(text):
		text = _BRACKETS.sub(lambda run: _defuse(run, text), text)
	return text.strip()


def _defuse(run: re.Match, text: str) -> str:
	"""A run of "<" and "/" that would start a tag keeps only its "/"s (the run is maximal: nothing joins)."""
	following = text[run.end() : run.end() + 1]
	if following.isascii() and (following.isalpha() or following == "!"):
		return run.group().replace("<", "")
	return run.group()


def tidy(text: str) -> str:
	text = unicodedata.normalize("NFC", text)
	text = text.replace("\r\n", "\n").replace("\r", "\n")
	text = _CONTROL.sub("", text)
	text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
	text = _BLANK_LINES.sub("\n\n", text)
	return text.strip()[:MAX_TEXT]


def _simple_html_to_text(markup: str, depth: int = 0) -> str | None:
	"""The same text as the BeautifulSoup path for well-formed markup, about 20x faster; None otherwise.

	Every piece between tags must be plain text and every tag well formed; script-like elements are
	dropped with their content, unknown tags are stripped. Anything surprising returns None, and the
	caller falls back to the full parser.
	"""
	return _walk_html(markup, lenient=False, depth=depth)


def _walk_html(markup: str, lenient: bool, depth: int = 0) -> str | None:
	"""One linear pass over text and tags. Strict (``lenient=False``): None at the first surprise.

	Lenient, it never gives up: tag fragments in text are stripped, malformed tags dropped, a link nested
	in a link ends the first one, stray closing tags are ignored, an unclosed ``<script>`` drops the rest.
	"""
	tokens = _HTML_TOKEN.split(markup)  # text, tag, text, tag, ..., text
	first = tokens[0]
	if not _plain(first):
		if not lenient:
			return None
		first = _FRAGMENT.sub("", first)
	out: list[str] = [_unescape(first)]
	label: list[str] | None = None  # text of the <a> being read
	href = ""
	dropping: str | None = None  # inside <script> & co.: skip everything up to the closing tag
	for token, after in zip(tokens[1::2], tokens[2::2], strict=True):  # split with one group: odd length
		tag = _TAG_PARTS.get(token, _UNSEEN)
		if tag is _UNSEEN:
			tag = _tag_parts(token)
		if tag is None or not _plain(after):
			if not lenient:
				return None
			tag, after = _forgive(token, tag, after)
		closing, name, attributes = tag
		if dropping is not None:
			if closing and name == dropping:
				dropping = None
		elif name in _DROP_TAGS:
			if closing:
				if not lenient:
					return None
			elif not token.endswith("/>"):
				dropping = name
		elif name == "br":
			(out if label is None else label).append("\n")
		elif name in _BLOCK_TAGS:
			if label is None:
				out.append("\n")
			elif not lenient:
				return None  # the parser keeps a block inside a link in the link's label
		elif name == "a":
			if (label is not None) != closing and not lenient:
				return None  # nested or unbalanced links
			if label is not None:  # its </a>, or (lenient) a link inside it, which ends it
				out.append(link_text("".join(label), href))
				label = None
			if not closing:
				found = _HREF.search(attributes)
				href = html.unescape((found.group(1) or found.group(2) or "") if found else "").strip()
				label = []
		# other inline or unknown tags: their text stays, the tag goes
		if after and dropping is None:
			(out if label is None else label).append(_unescape(after))
	if label is not None or dropping is not None:
		if not lenient:
			return None
		if label is not None:
			out.append(link_text("".join(label), href))
	text = tidy("".join(out))
	if _TAG.search(text):
		# Entities spelled markup (&lt;script&gt;): that markup is stripped too, so no tag ever survives.
		if depth < 3:
			return _walk_html(text, lenient, depth + 1)
		return text if lenient else None
	return text


_JUNK = (False, "", "")  # a malformed tag: dropped, like an unknown one


def _forgive(token: str, tag: tuple[bool, str, str] | None, after: str) -> tuple[tuple[bool, str, str], str]:
	"""The lenient walk's reading of a malformed tag and of the text after it.

	``<!-- -->``, ``<?xml?>``, ``<a"x>`` go; ``<3 you>`` is text; fragments like ``<a href='x`` are stripped from text.
	"""
	if not _plain(after):
		after = _FRAGMENT.sub("", after)
	if tag is None:
		tag = _JUNK
		if not _OPENER.match(token):
			after = token + after
	return tag, after


def _plain(text: str) -> bool:
	return "<" not in text and ">" not in text


def _unescape(text: str) -> str:
	return html.unescape(text) if "&" in text else text


_UNSEEN = object()
# Networks repeat the same few tags (<p>, </span>, <span class="invisible">) in every post: parse each once.
_TAG_PARTS: dict[str, tuple[bool, str, str] | None] = {}
_TAG_PARTS_MAX = 4096


def _tag_parts(token: str) -> tuple[bool, str, str] | None:
	"""(closing, lower-case name, attributes) of a well-formed tag, else None; remembered per token."""
	found = _SIMPLE_TAG.match(token)
	parts = (bool(found.group(1)), found.group(2).lower(), found.group(3)) if found else None
	if len(_TAG_PARTS) >= _TAG_PARTS_MAX:
		_TAG_PARTS.clear()  # bounded: hostile input cannot grow it without limit
	_TAG_PARTS[token] = parts
	return parts


def _link_text(link: Tag) -> str:
	return link_text(link.get_text(), str(link.get("href") or "").strip())


def link_text(label: str, href: str) -> str:
	"""A link as readers see it: ``label (url)``, or just the url/label when one already shows the other.

	Only http(s) targets are kept: ``javascript:`` and ``data:`` links lose their target, keep their words.
	"""
	if not href.lower().startswith(("http://", "https://")):
		return label  # javascript:, data:, relative links: keep the words, drop the target
	shown = label.strip()
	if not shown or shown.startswith(("@", "#")) or _same_link(shown, href):
		return shown or href
	return f"{shown} ({href})"


def _same_link(label: str, href: str) -> bool:
	def bare(url: str) -> str:
		return re.sub(r"^https?://(www\.)?", "", url).rstrip("/").rstrip("…")

	label_bare, href_bare = bare(label), bare(href)
	return bool(label_bare) and href_bare.startswith(label_bare)


def post_title(text: str, limit: int) -> str:
	"""A title for a new topic or post (Discourse, Reddit): the text's first line without a chain's ``(i/n)``."""
	return first_line(without_part_number((text or "").strip().split("\n", 1)[0]), limit)


def first_line(text: str, limit: int = 140) -> str:
	"""A short title: the first sentence or line, cut on a word boundary."""
	line = (text or "").strip().split("\n", 1)[0]
	match = re.match(r"(.+?[.!?])(\s|$)", line)
	if match and len(match.group(1)) >= 20:
		line = match.group(1)
	if len(line) <= limit:
		return line
	cut = line[: limit - 1].rsplit(" ", 1)[0]
	return (cut if len(cut) > limit // 2 else line[: limit - 1]) + "…"
