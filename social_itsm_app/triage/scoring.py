"""Sentiment and urgency of a post, fast enough for bursts of tens of thousands of posts.

Sentiment uses VADER's lexicon (tuned for social text, shipped inside the ``vaderSentiment`` package: no
download at run time) with VADER's main heuristics: negation, boosters, ALL CAPS, "but", exclamation marks,
emoji. General lexicons miss IT-outage language ("down", "outage", "not working" score neutral), so a small
domain lexicon is layered on top. Urgency (0..1) weighs outage vocabulary, negated-ness, caps, exclamation
and negative sentiment.
"""

from __future__ import annotations

import importlib.resources
import math
import re
from functools import cache

from social_itsm_app.triage.normalize import URL

# Domain valences on VADER's -4..+4 scale: IT-service words a general lexicon does not know.
# Social Post.mood and Social Post.urgency_level, in the order the doctype lists them.
MOODS = ("Negative", "Neutral", "Positive")
URGENCY_LEVELS = ("Low", "Medium", "High")
DOMAIN_LEXICON = {
	"down": -1.6, "outage": -2.6, "outages": -2.6, "offline": -1.6, "unreachable": -2.0, "unavailable": -1.8,
	"crashed": -2.2, "crashes": -2.0, "crashing": -2.2, "bug": -1.3, "bugs": -1.3, "buggy": -1.8, "slow": -1.2,
	"laggy": -1.5, "timeout": -1.6, "timeouts": -1.6, "unusable": -2.8, "glitch": -1.2, "degraded": -1.6,
	"500": -1.2, "502": -1.8, "503": -1.8, "504": -1.8, "refund": -0.6, "hacked": -2.8, "breach": -2.6,
	"working": 1.0, "works": 1.0, "fixed": 1.6, "resolved": 1.6, "restored": 1.4, "back": 0.3,
	"login": 0.0, "log": 0.0,
}
NEGATIONS = frozenset(
	"not no never none nobody nothing neither nor cannot cant can't isn't isnt aren't arent wasn't wasnt "
	"weren't don't dont doesn't doesnt didn't didnt won't wont wouldn't shouldn't couldn't without ain't "
	"nicht kein keine pas jamais".split()
)
BOOSTERS = {
	"very": 0.293, "really": 0.293, "so": 0.293, "extremely": 0.293, "totally": 0.293, "completely": 0.293,
	"absolutely": 0.293, "super": 0.293, "incredibly": 0.293, "fucking": 0.293, "freaking": 0.293,
	"barely": -0.293, "slightly": -0.293, "somewhat": -0.293, "kinda": -0.293, "little": -0.293,
}
_TOKEN = re.compile(r"[a-z0-9][a-z0-9']*|[:;=8][\-o']?[()\[\]dp/\\|*]|<3|[^\w\s]")
_SHOUTING = re.compile(r"[A-Z]{4}")
_ASCII_LETTERS = re.compile(r"[^A-Za-z]+")
_NOT_UPPER = re.compile(r"[^A-Z]+")

# Urgency vocabulary (weights 0..1). Single words are looked up per token during the sentiment pass;
# phrases are found by substring first (cheap) and confirmed on word boundaries.
URGENT_WORDS = {
	"outage": 0.6, "down": 0.45, "error": 0.35, "errors": 0.35, "crash": 0.45, "crashed": 0.5, "crashing": 0.5,
	"broken": 0.45, "urgent": 0.6, "asap": 0.5, "emergency": 0.7, "security": 0.4, "breach": 0.8, "hacked": 0.8,
	"phishing": 0.6, "500": 0.4, "502": 0.5, "503": 0.5, "504": 0.5, "timeout": 0.4, "offline": 0.45,
	"unreachable": 0.5, "everyone": 0.15, "again": 0.15, "still": 0.15,
}
URGENT_PHRASES = {
	"is down": 0.3, "went down": 0.3, "not working": 0.55, "doesn't work": 0.5, "does not work": 0.5,
	"stopped working": 0.6, "can't log in": 0.55, "cannot log in": 0.55, "can't login": 0.55, "cant login": 0.55,
	"unable to": 0.4, "can't access": 0.5, "cannot access": 0.5, "data loss": 0.8, "lost my data": 0.8,
	"timed out": 0.4, "all users": 0.4, "on fire": 0.6, "caught fire": 0.7,
}
_URGENCY_NEGATORS = frozenset("not no isn't isnt wasn't wasnt never without".split())


def _phrases_by_first_word() -> dict[str, list[tuple[tuple[str, ...], float]]]:
	"""Phrases indexed by their first token, so the token pass finds them without scanning the text again."""
	index: dict[str, list[tuple[tuple[str, ...], float]]] = {}
	for phrase, weight in URGENT_PHRASES.items():
		first, *rest = _TOKEN.findall(phrase)
		index.setdefault(first, []).append((tuple(rest), weight))
	return index


_PHRASES = _phrases_by_first_word()


@cache
def lexicon() -> dict[str, float]:
	"""VADER's word and emoticon valences, plus emoji valued by the words of their description.

	Keys are lower-cased (texts are matched lower-cased); an emoticon whose case matters (":D" vs ":d")
	keeps the valence of its first spelling.
	"""
	package = importlib.resources.files("vaderSentiment")
	words: dict[str, float] = {}
	for line in (package / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
		parts = line.split("\t")
		if len(parts) >= 2:
			words.setdefault(parts[0].lower(), float(parts[1]))
	for line in (package / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
		emoji, _, description = line.partition("\t")
		values = [words[w] for w in description.lower().split() if w in words]
		if emoji and values:
			words[emoji] = sum(values) / len(values)
	words.update(DOMAIN_LEXICON)
	return words


@cache
def emoji_lexicon() -> dict[str, float]:
	"""Emoji and emoticons only: they mean the same in every language."""
	return {token: value for token, value in lexicon().items() if not token[:1].isalpha()}


@cache
def _interesting_tokens(english: bool) -> frozenset[str]:
	"""Tokens either score cares about (a valence, an urgency weight, the start of a phrase, or "but")."""
	return frozenset(lexicon() if english else emoji_lexicon()) | frozenset(URGENT_WORDS) | frozenset(_PHRASES) | {"but"}


def sentiment(text: str, language: str | None = None) -> float:
	"""VADER-style compound score in -1..+1; 0 for languages the English lexicon would misread ("die")."""
	return scores(text, language)[0]


def urgency(text: str, sentiment_score: float | None = None, language: str | None = None) -> float:
	"""0 (chatter) .. 1 (outage, security, data loss, shouting)."""
	mood, urgent = scores(text, language)
	if sentiment_score is not None and sentiment_score != mood:
		urgent = scores(text, language, sentiment_override=sentiment_score)[1]
	return urgent


def scores(
	text: str, language: str | None = None, sentiment_override: float | None = None, lowered: str | None = None
) -> tuple[float, float]:
	"""(sentiment, urgency) in one pass over the tokens: this runs for every post of a burst.

	``lowered`` may be passed when the caller already lower-cased (or case-folded) the text.
	"""
	if not text:
		return 0.0, 0.0
	if lowered is None:
		lowered = text.lower()
	if "’" in lowered:
		lowered = lowered.replace("’", "'")
	english = not language or language[:2].lower() == "en"
	words = lexicon() if english else emoji_lexicon()
	interesting = _interesting_tokens(english)
	tokens = _TOKEN.findall(URL.sub(" ", lowered) if "://" in lowered else lowered)
	# ALL-CAPS words stand out only when the rest of the text is not shouting too.
	all_caps = text == text.upper()
	shouted = False
	get = words.get
	urgent_get = URGENT_WORDS.get
	calm = 1.0
	valences: list[float] = []
	but_at = -1
	# Most tokens mean nothing to either score: find the few that do in one comprehension.
	for i in [i for i, token in enumerate(tokens) if token in interesting]:
		token = tokens[i]
		negated = (i and tokens[i - 1] in _URGENCY_NEGATORS) or (i > 1 and tokens[i - 2] in _URGENCY_NEGATORS)
		weight = urgent_get(token)
		if weight is not None and not negated:
			calm *= 1 - weight
		for rest, phrase_weight in _PHRASES.get(token, ()):
			if not negated and tuple(tokens[i + 1 : i + 1 + len(rest)]) == rest:
				calm *= 1 - phrase_weight
		valence = get(token)
		if valence is None:
			if token == "but":
				but_at = len(valences)
			continue
		# ALL-CAPS words stand out only when the rest of the text is not shouting too.
		if not all_caps and len(token) > 1 and token.upper() in text and not token.isdigit():
			shouted = True
			valence += 0.733 if valence > 0 else -0.733
		for back in (1, 2, 3):
			if i < back:
				break
			previous = tokens[i - back]
			boost = BOOSTERS.get(previous)
			if boost:
				boost *= 1 if back == 1 else 0.95 if back == 2 else 0.9
				valence += boost if valence > 0 else -boost
			if previous in NEGATIONS or previous.endswith("n't"):
				valence *= -0.74
				break
		valences.append(valence)
	mood = _compound(text, valences, but_at)
	if shouted or all_caps or _SHOUTING.search(text):
		letters = len(_ASCII_LETTERS.sub("", text))
		if letters >= 12 and len(_NOT_UPPER.sub("", text)) > 0.6 * letters:
			calm *= 0.75
	calm *= 1 - min(text.count("!"), 5) * 0.04
	score = mood if sentiment_override is None else sentiment_override
	if score < -0.3:
		calm *= 1 + score * 0.3  # score is negative: up to 30% more urgent
	return mood, round(min(1.0, max(0.0, 1 - calm)), 4)


def _compound(text: str, valences: list[float], but_at: int) -> float:
	"""VADER's normalisation of summed valences, with "but" weighting and ! / ? emphasis."""
	if not valences:
		return 0.0
	if but_at >= 0:
		valences = [v * 0.5 for v in valences[:but_at]] + [v * 1.5 for v in valences[but_at:]]
	total = sum(valences)
	questions = text.count("?")
	emphasis = min(text.count("!"), 4) * 0.292 + (0.18 * min(questions, 3) if questions > 1 else 0)
	if total > 0:
		total += emphasis
	elif total < 0:
		total -= emphasis
	return round(total / math.sqrt(total * total + 15), 4)


def mood_label(score: float) -> str:
	"""Buckets for filtering: VADER's own thresholds (±0.05)."""
	negative, neutral, positive = MOODS
	return negative if score <= -0.05 else positive if score >= 0.05 else neutral


def urgency_label(score: float) -> str:
	low, medium, high = URGENCY_LEVELS
	return high if score >= 0.7 else medium if score >= 0.4 else low
