"""Measuring text the way each network does, and splitting long replies into a numbered chain.

Networks count differently: X weighs characters (most scripts 1, CJK and emoji 2, every URL 23),
Bluesky and Mastodon count grapheme clusters (an emoji with skin tone is one), Telegram counts UTF-16
code units. A reply over the limit is split on sentence, then word, then grapheme boundaries and each
part gets a ``(i/n)`` suffix; the caller posts each part as a reply to the previous one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import regex

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_GRAPHEME = regex.compile(r"\X")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")
_TOKEN = re.compile(r"\S+\s*|\s+")
_PART_NUMBER = re.compile(r"\s*\((\d+)/(\d+)\)\s*$")
_SENTENCE_END = re.compile(r"[.!?…。！？]['\")\]]*\s*$|\n\s*$")
URL_WEIGHT = 23
# twitter-text v3: code points in these ranges weigh 1, everything else 2.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def graphemes(text: str) -> int:
	return len(_GRAPHEME.findall(text))


def graphemes_url23(text: str) -> int:
	"""Mastodon: graphemes, with each URL counted as 23 whatever its length."""
	return sum(graphemes(part) for part in _URL.split(text)) + URL_WEIGHT * len(_URL.findall(text))


def utf16_units(text: str) -> int:
	return len(text.encode("utf-16-le")) // 2


def code_points(text: str) -> int:
	return len(text)


def x_weighted(text: str) -> int:
	"""X's weighted length (twitter-text v3, scale 100 folded into units of 1 and 2)."""
	text = unicodedata.normalize("NFC", text)
	total = URL_WEIGHT * len(_URL.findall(text))
	for part in _URL.split(text):
		for cluster in _GRAPHEME.findall(part):
			if _PICTOGRAPHIC.search(cluster):
				total += 2
			else:
				total += sum(1 if _light(ord(ch)) else 2 for ch in cluster)
	return total


def _light(code: int) -> bool:
	return any(low <= code <= high for low, high in _X_LIGHT_RANGES)


MEASURES: dict[str, Callable[[str], int]] = {
	"graphemes": graphemes,
	"graphemes_url23": graphemes_url23,
	"utf16": utf16_units,
	"chars": code_points,
	"x": x_weighted,
}


def split_reply(text: str, limit: int, measure: str | Callable[[str], int] = "graphemes") -> list[str]:
	"""Split ``text`` into parts that each measure at most ``limit``, numbered ``(i/n)`` when more than one."""
	count = MEASURES[measure] if isinstance(measure, str) else measure
	text = text.strip()
	if limit <= 0:
		raise ValueError("limit must be positive")
	if count(text) <= limit:
		return [text] if text else []
	digits = 1
	while True:
		suffix_room = count(f" ({'9' * digits}/{'9' * digits})")
		chunks = _pack(text, limit - suffix_room, count)
		if len(str(len(chunks))) <= digits:
			break
		digits += 1
	total = len(chunks)
	return [f"{chunk} ({index}/{total})" for index, chunk in enumerate(chunks, 1)]


def without_part_number(text: str) -> str:
	"""A part's text without the ``(i/n)`` that :func:`split_reply` added (to make a title of it)."""
	return _PART_NUMBER.sub("", text)


def _pack(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
	if budget < 8:
		raise ValueError("reply limit too small to split into numbered parts")
	chunks: list[str] = []
	current, size = "", 0  # size: measure of ``current`` including its trailing space
	for token in _tokens(text, budget, count):
		# Tokens meet at whitespace, where no grapheme or URL spans the seam, so measures add up.
		core = count(token.rstrip())
		if size + core <= budget:
			current += token
			size += count(token)
			continue
		head, tail = _break_at_sentence(current)
		if head:
			chunks.append(head)
		current = (tail + token).lstrip()
		size = count(current)
	if current.strip():
		chunks.append(current.strip())
	return chunks


def _tokens(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
	"""Words with their trailing space; a word longer than the budget is cut into grapheme runs."""
	tokens = []
	for token in _TOKEN.findall(text):
		if count(token.rstrip()) <= budget:
			tokens.append(token)
			continue
		piece = ""
		for cluster in _GRAPHEME.findall(token):
			if count(piece + cluster) > budget:
				tokens.append(piece)
				piece = ""
			piece += cluster
		tokens.append(piece)
	return tokens


def _break_at_sentence(chunk: str) -> tuple[str, str]:
	"""Prefer ending a part at a sentence end in its second half; else at the last word."""
	words = _TOKEN.findall(chunk)
	for cut in range(len(words) - 1, len(words) // 2, -1):
		head = "".join(words[:cut])
		if _SENTENCE_END.search(head):
			return head.strip(), "".join(words[cut:])
	return chunk.strip(), ""
