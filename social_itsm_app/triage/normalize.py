"""Text normalisation shared by rule matching, scoring and spam checks."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"[#@]?[^\W_][\w'’\-]*|[:;=8][\-o']?[()\[\]dpo/\\|*]|<3|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
URL = re.compile(r"https?://\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
	"""Case- and accent-insensitive form used for matching ("Café DOWN" -> "cafe down")."""
	decomposed = unicodedata.normalize("NFKD", text.casefold())
	return _SPACE.sub(" ", "".join(ch for ch in decomposed if not unicodedata.combining(ch))).strip()


def fold_text(text: str) -> str:
	"""Like fold() for whole posts (not cached: post texts rarely repeat)."""
	if text.isascii():
		return _SPACE.sub(" ", text.lower()).strip()
	return fold.__wrapped__(text)


def hashtags(text: str) -> frozenset[str]:
	return frozenset(fold(tag) for tag in HASHTAG.findall(text))


def handle_key(value: str) -> str:
	"""Authors are compared by handle or id, without @ and case."""
	return fold(value.strip().lstrip("@"))


def lines(value: str | list | tuple | None) -> tuple[str, ...]:
	"""Admin-entered lists: one per line or comma separated, blanks dropped."""
	if not value:
		return ()
	items = value if isinstance(value, list | tuple) else re.split(r"[\n,]", value)
	return tuple(item.strip() for item in items if item and item.strip())
