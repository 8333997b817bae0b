"""Text normalisation shared by rule matching, scoring and spam checks."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"[#@]?[^\W_][\w'’\-]*|[:;=8][\-o']?[()\[\]dpo/\\|*]|<3|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
URL = re.compile(r"https?://\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


# Combining marks (accents) left after NFKD decomposition; removing them folds "é" to "e".
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold_text(text: str) -> str:
	"""Case- and accent-insensitive form used for matching ("Café DOWN" -> "cafe down").

	Whitespace is left as it is: rule patterns match any run of whitespace between words.
	"""
	if text.isascii():
		return text.lower()
	return _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
	"""fold_text() with whitespace collapsed, for short, repeating strings (keywords, handles), cached."""
	return _SPACE.sub(" ", fold_text(text)).strip()


def hashtags(text: str, folded: str | None = None) -> frozenset[str]:
	"""Hashtags without '#', folded; pass ``folded`` (fold_text of text) when you have it."""
	if "#" not in text:
		return frozenset()
	if folded is not None:
		return frozenset(HASHTAG.findall(folded))
	return frozenset(fold(tag) for tag in HASHTAG.findall(text))


def handle_key(value: str) -> str:
	"""Authors are compared by handle or id, without @ and case."""
	value = value.strip().lstrip("@")
	return value.lower() if value.isascii() else fold(value)


def lines(value: str | list | tuple | None) -> tuple[str, ...]:
	"""Admin-entered lists: one per line or comma separated, blanks dropped."""
	if not value:
		return ()
	items = value if isinstance(value, list | tuple) else re.split(r"[\n,]", value)
	return tuple(item.strip() for item in items if item and item.strip())
