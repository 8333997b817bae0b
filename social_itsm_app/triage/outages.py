"""Outage language: does a post say something is down, and what about? Pure Python, no frappe.

A post reports an outage when it holds an outage phrase ("down", "not working", "503", "can't log in") that is

* not negated by one of the two words before it, with scoring's NEGATIONS ("not down", "no outage", "isn't down");
* not a figure of speech, judged by the word before or after it ("thumbs down", "calm down", "down to earth");
* not taken back anywhere in the post ("back up now", "works for me", "fixed"): a post that says it is over is no
  report, even if it also says it was down.

Phrases are STRONG (say an outage on their own) or WEAK ("anyone else", "is it just me", "errors", "trouble",
"500"): weak ones count only beside a known service, since alone they are everyday chatter. Slowness is not an
outage here ("not down, just slow" reports nothing).

Text is seen as tokens (fold()ed words plus clause marks , . ; ! ? and "but"); phrases are found through an
index by first token, so a post with no outage word costs one tokenising regex and one set test.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from social_itsm_app.triage.normalize import URL, fold_text
from social_itsm_app.triage.scoring import NEGATIONS

# Words, with inner apostrophes and hyphens ("can't", "wi-fi"), or a run of clause punctuation.
TOKEN = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*|[.,;!?]")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*|[.,;!?]")
# Clause boundaries: punctuation, or a word that turns the sentence ("VPN is fine but mail is down").
BREAKS = frozenset((".", ",", ";", "!", "?", "but", "although", "though", "however"))

STRONG, WEAK, CANCEL = 2, 1, 0

_ACCESS_FAILS = ("can't", "cannot", "can not", "couldn't", "unable to", "not able to", "won't", "wont")
_ACCESS_VERBS = ("log in", "login", "log on", "logon", "sign in", "signin", "connect", "access", "reach", "load",
	"open", "join", "authenticate", "sync")
STRONG_PHRASES = (
	"down", "outage", "outages", "offline", "unreachable", "unavailable", "not working", "isn't working",
	"aren't working", "stopped working", "doesn't work", "does not work", "don't work", "not loading",
	"won't load", "not responding", "not connecting", "keeps disconnecting", "keeps crashing", "crashed",
	"timeout", "timeouts", "timed out", "timing out", "time out", "502", "503", "504", "bad gateway",
	"service unavailable", "internal server error", "error 500", "500 error", "http 500", "dns error",
	"connection refused", "connection reset",
	# a few other languages (accents are folded away)
	"funktioniert nicht", "geht nicht", "storung", "ausfall", "en panne", "panne", "ne marche pas",
	"ne fonctionne pas", "no funciona", "caido", "non funziona",
	*(f"{fail} {verb}" for fail in _ACCESS_FAILS for verb in _ACCESS_VERBS),
)
WEAK_PHRASES = (
	"anyone else", "is it just me", "just me", "error", "errors", "issue", "issues",
	"problem", "problems", "trouble", "500", "glitch", "glitching", "failing", "broken", "crash", "crashing",
)
# Said once it is over, or to say it never was: the post is no outage report.
# Bare "fixed" is not here: "when will it be fixed?" is a complaint. A negated one ("not back up") takes nothing back.
CANCEL_PHRASES = (
	"back up", "back online", "is back", "are back", "working again", "works again", "up again", "is fixed",
	"been fixed", "fixed now", "now fixed", "is resolved", "been resolved", "is restored", "been restored",
	"restored now", "works for me", "working for me", "works fine", "working fine", "fine for me", "fine here",
	"up for me", "no issues", "no problems",
)
# Figures of speech, by the word just before / after an outage phrase.
BENIGN_BEFORE = {
	"down": frozenset(
		"thumbs calm sit sat slow upside let put write wrote written step stepped back turn turned count cut narrow "
		"narrowed track tracked hunt hunted wind winding settle broke break breaking broken lie lay lying knocked "
		"cool burn burned burnt tone toned water watered jot bring brought bend hands head hold held pin pinned "
		"boil boiled look looking looked kneel face trickle trickled shot voted vote".split()
	),
	"offline": frozenset("work working play playing available save saved read reading listen listening".split()),
	"crashed": frozenset("market markets stock stocks party car plane".split()),
	"broken": frozenset("heart".split()),
}
BENIGN_AFTER = {
	"down": frozenset(
		"to the syndrome payment payments under south memory bad with stairs hill street road river low side".split()
	),
	"offline": frozenset("mode maps copy copies version first".split()),
	"broken": frozenset("heart record english promise promises".split()),
	"crash": frozenset("course diet test".split()),
}

# Words that never name what is down. Generic nouns (site, app, server) are here on purpose: spread over many
# unrelated accounts they would cluster noise; a real service's own name is what clusters its reports.
STOPWORDS = frozenset(
	"a about above after again against all also am an and any anyone anybody anything are around as at be because "
	"been before being below between both by can could did do does doing done during each else even ever every "
	"everyone everybody everything few for from further get gets getting got had has have having he her here hers "
	"him his how i i'm i've id if im in into is it it's its itself just know let's like lol me mine more most my "
	"myself now of off on once only or other our ours out over own please same she should so some someone "
	"something still such than that that's the their theirs them then there there's these they this those "
	"through to today tonight too under until up us very via was we we're were what what's when where which while "
	"who whom why will with would yet you you're your yours yourself ya yo hey hi hello guys folks y'all omg wtf "
	"ugh smh pls plz thx thanks again currently right morning afternoon evening night day days week hour hours "
	"minute minutes min mins since ago yesterday tomorrow time times totally completely really seems seem looks "
	"look apparently literally always already still keep keeps kind sort site website app apps application service "
	"services server servers system systems page pages thing things stuff account accounts work working works "
	"access login log sign connect internet online network status help anyone's someone's everyone's else's "
	"entire whole new old same issue issues problem problems error errors trouble one two three ok okay yes "
	"oh well damn lmao haha rn asap urgent throw throws throwing threw give gives giving gave show shows showing "
	"showed return returns returning returned say says saying said go goes going went gone come comes coming came "
	"try trying tried make makes making made see seeing saw seen use using used want wants need needs tell telling "
	"told think thinking thought happen happening happened phone phones iphone mobile laptop laptops computer pc "
	"mac desktop tablet ipad device devices near inside outside across behind beside within without onto upon "
	"toward towards along among home house".split()
)


class Found(NamedTuple):
	"""An outage phrase found at tokens[start:end] (canonical spelling, STRONG or WEAK)."""

	start: int
	end: int
	phrase: str
	strength: int


def _variants(phrase: str) -> set[str]:
	"""Spellings people type: "can't" also as "cant", "log in" also as "log-in"."""
	spelled = {phrase, phrase.replace("'", "")}
	for verb in ("log in", "sign in", "log on"):
		if verb in phrase:
			spelled |= {s.replace(verb, verb.replace(" ", "-")) for s in spelled}
	return spelled


def _index() -> dict[str, tuple[tuple[tuple[str, ...], str, int], ...]]:
	"""Phrases by first token, longest first: {first: ((rest tokens, canonical, strength), ...)}."""
	entries: dict[str, list[tuple[tuple[str, ...], str, int]]] = {}
	for strength, phrases in ((STRONG, STRONG_PHRASES), (WEAK, WEAK_PHRASES), (CANCEL, CANCEL_PHRASES)):
		for phrase in phrases:
			for spelled in _variants(phrase):
				first, *rest = TOKEN.findall(spelled)
				entries.setdefault(first, []).append((tuple(rest), phrase, strength))
	return {first: tuple(sorted(found, key=lambda e: -len(e[0]))) for first, found in entries.items()}


PHRASES = _index()
FIRST_WORDS = frozenset(PHRASES)
# The longest word of each outage phrase: a post with none of them has no outage phrase (most posts; "is", "not"
# and "can't" start phrases but are everywhere).
GATE = frozenset(
	max(TOKEN.findall(spelled), key=len)
	for phrases in (STRONG_PHRASES, WEAK_PHRASES) for phrase in phrases for spelled in _variants(phrase)
)
# Words of outage phrases never name a topic ("working", "log", "else").
_PHRASE_WORDS = FIRST_WORDS | frozenset(word for entries in PHRASES.values() for rest, _, _ in entries for word in rest)


def tokens(text: str) -> list[str]:
	"""The tokens of a post: folded words and clause marks, URLs left out."""
	if text.isascii():  # most posts: lower() is the whole fold, and the ASCII pattern is faster
		folded = text.lower()
		if "://" in folded:
			folded = URL.sub(" ", folded)
		return _ASCII_TOKEN.findall(folded)
	folded = fold_text(text)
	if "’" in folded:
		folded = folded.replace("’", "'")
	if "://" in folded:
		folded = URL.sub(" ", folded)
	return TOKEN.findall(folded)


def same_clause(words: list[str], low: int, high: int) -> bool:
	"""No clause boundary among words[low:high]."""
	return BREAKS.isdisjoint(words[low:high])


def find(words: list[str]) -> list[Found]:
	"""Unnegated, literal outage phrases in ``words`` (from tokens()); [] when the post takes them back.

	Negation as scoring.py reads it: one of the two words before the phrase, within its clause, is in NEGATIONS.
	Figures of speech: the word just before or after is in BENIGN_BEFORE / BENIGN_AFTER for that phrase.
	"""
	if GATE.isdisjoint(words):
		return []
	found: list[Found] = []
	after = 0  # a phrase's words are not read again as the start of another
	n = len(words)
	for i in [i for i, word in enumerate(words) if word in FIRST_WORDS]:
		if i < after:
			continue
		for rest, phrase, strength in PHRASES[words[i]]:
			end = i + 1 + len(rest)
			if rest and tuple(words[i + 1 : end]) != rest:
				continue
			after = end
			previous = words[i - 1] if i else ""
			if previous in NEGATIONS or (i > 1 and previous not in BREAKS and words[i - 2] in NEGATIONS):
				break
			if strength == CANCEL:
				return []
			before = BENIGN_BEFORE.get(phrase)
			if before is not None and previous in before:
				break
			following = BENIGN_AFTER.get(phrase)
			if following is not None and end < n and words[end] in following:
				break
			found.append(Found(i, end, phrase, strength))
			break
	return found


def salient(
	words: list[str], found: Found, reach_before: int = 5, reach_after: int = 3, most: int = 2,
	ignore: frozenset[str] = frozenset(),
) -> list[str]:
	"""Up to ``most`` words naming what is down, nearest first: before the phrase ("teams is down"), then
	after it ("can't log in to zoomly"), within its clause; stopwords, numbers, outage words and ``ignore`` left
	out."""
	terms: list[str] = []
	for indexes in (range(found.start - 1, max(-1, found.start - 1 - reach_before), -1),
			range(found.end, min(len(words), found.end + reach_after))):
		for j in indexes:
			word = words[j]
			if word in BREAKS:
				break
			term = term_key(word)
			if term and term not in terms and term not in ignore:
				terms.append(term)
				if len(terms) == most:
					return terms
	return terms


def term_key(word: str) -> str | None:
	"""A word as an unknown topic's key ("Teams'" and "teams's" -> "teams"), None when it names nothing."""
	if word.endswith("'s"):
		word = word[:-2]
	word = word.strip("'-")
	if len(word) < 2 or word.isdigit() or word in STOPWORDS or word in _PHRASE_WORDS or word in NEGATIONS:
		return None
	return word
