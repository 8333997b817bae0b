"""Listening rules: which posts matter, compiled once and matched in priority order.

A rule matches when every condition it sets holds: its channels, keywords/hashtags (any or all of them),
none of its exclude words, its regular expression, its languages, and its author lists. The first matching
rule (lowest ``priority`` number) decides the action.

An administrator's regular expression runs with the ``regex`` module's time limit, on the first
REGEX_TEXT_LIMIT characters of a post: one that times out does not match (the post falls through to the
next rule, never auto-converts) and is counted in ``RuleSet.timeouts`` so the admin can be told.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import regex

from social_itsm_app.triage.normalize import fold, handle_key, lines

try:
	from re import _parser as _sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10
	import sre_parse as _sre_parse

QUEUE, CONVERT, IGNORE, SPAM = "Queue for Agent", "Auto-convert to Ticket", "Ignore", "Mark as Spam"
ACTIONS = (QUEUE, CONVERT, IGNORE, SPAM)
MATCH_ANY, MATCH_ALL = "Any", "All"
MATCH_TYPES = (MATCH_ANY, MATCH_ALL)

REGEX_TIMEOUT = 0.05  # seconds per post and rule ("(a|a)*$" froze a worker for 11 s without one)
REGEX_TEXT_LIMIT = 10_000  # characters of a post a rule's regex sees
# validate_regex runs the pattern on these (and on the same shape for each letter or digit in it).
REGEX_PROBES = tuple(c * 30 + "!" for c in "a0 -.")
_PROBE_CHARS_MAX = 10
# A pattern with at most this many ways through it and no free repetition (invoice|billing|refund) does a
# bounded amount of work per character: it runs without the timer, which costs about 2 us per search.
_FEW_PATHS = 64


@dataclass(frozen=True)
class Rule:
	name: str
	action: str = QUEUE
	priority: int = 10
	channels: frozenset[str] = frozenset()
	match_all: bool = False
	keywords: tuple[str, ...] = ()
	hashtags: tuple[str, ...] = ()
	exclude_words: tuple[str, ...] = ()
	regex: str | None = None
	languages: frozenset[str] = frozenset()
	authors_allow: frozenset[str] = frozenset()
	authors_block: frozenset[str] = frozenset()
	# What the ticket gets when this rule converts (opaque to triage).
	ticket_fields: Mapping[str, Any] = field(default_factory=dict)

	@classmethod
	def from_record(cls, record: Mapping[str, Any]) -> Rule:
		"""Build from a Social Listening Rule as a dict (channels as a list of names or of {channel: ...})."""
		channels = [c.get("channel") if isinstance(c, Mapping) else c for c in record.get("channels") or []]
		action = record.get("action") or QUEUE
		if action not in ACTIONS:
			raise ValueError(f"unknown rule action {action!r}")
		return cls(
			name=record["name"] if "name" in record else record["rule_name"],
			action=action,
			priority=int(record.get("priority") or 0),
			channels=frozenset(c for c in channels if c),
			match_all=(record.get("match_type") == MATCH_ALL),
			keywords=tuple(fold(k) for k in lines(record.get("keywords"))),
			hashtags=tuple(fold(h.lstrip("#")) for h in lines(record.get("hashtags"))),
			exclude_words=tuple(fold(w) for w in lines(record.get("exclude_words"))),
			regex=(record.get("regex") or "").strip() or None,
			languages=frozenset(fold(code)[:2] for code in lines(record.get("languages"))),
			authors_allow=frozenset(handle_key(a) for a in lines(record.get("authors_allow"))),
			authors_block=frozenset(handle_key(a) for a in lines(record.get("authors_block"))),
			ticket_fields={
				key: record.get(key) for key in ("ticket_priority", "ticket_type", "team", "auto_reply_template") if record.get(key)
			},
		)


class PostView(NamedTuple):
	"""What rules look at, computed once per post (a NamedTuple: cheap to build for every post)."""

	channel: str
	folded: str  # fold()ed text
	tags: frozenset[str]
	authors: frozenset[str]  # handle and id keys
	language: str | None


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern | None:
	parts = [r"\s+".join(re.escape(word) for word in phrase.split()) for phrase in phrases if phrase]
	if not parts:
		return None
	return re.compile(r"(?<!\w)(?:" + "|".join(sorted(parts, key=len, reverse=True)) + r")(?!\w)")


def compile_regex(pattern: str) -> regex.Pattern:
	"""A rule's pattern compiled case-insensitively; ValueError with the reason when it is not valid."""
	try:
		return regex.compile(pattern, regex.IGNORECASE)
	except (regex.error, TypeError, OverflowError, RecursionError) as exc:
		raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def validate_regex(pattern: str) -> regex.Pattern:
	"""Check an administrator's pattern before it is saved; ValueError with a message for them if unfit.

	It must compile (case-insensitively, with the ``regex`` module rules run with), must not repeat a
	repetition that can match on its own (``(a+)+``, ``(\\w+\\s?)*``: catastrophic backtracking in any
	backtracking engine), and must answer within REGEX_TIMEOUT on REGEX_PROBES and on ``c * 30 + "!"`` for
	up to 10 letters or digits ``c`` of the pattern. A pattern that is slow only on longer text still
	passes: at run time the time limit stops it. Returns the compiled pattern.
	"""
	compiled = compile_regex(pattern)
	if _nested_repeat(pattern):
		raise ValueError(
			f"regular expression {pattern!r} repeats a repetition (like (a+)+): it can take minutes on a "
			"short post; write the inner part once (a+) or make each repetition consume a separator"
		)
	own_chars = list(dict.fromkeys(c for c in pattern.lower() if c.isalnum()))[:_PROBE_CHARS_MAX]
	for probe in REGEX_PROBES + tuple(c * 30 + "!" for c in own_chars):
		try:
			compiled.search(probe, timeout=REGEX_TIMEOUT)
		except TimeoutError:
			raise ValueError(
				f"regular expression {pattern!r} takes longer than {REGEX_TIMEOUT * 1000:.0f} ms on {probe!r}: "
				"it backtracks catastrophically"
			) from None
	return compiled


def _nested_repeat(pattern: str) -> bool:
	"""True when an unbounded repetition holds a repetition that can match its whole body alone.

	Read with the standard library's parser; syntax only the ``regex`` module knows skips this check.
	"""
	try:
		return _has_nested_repeat(list(_sre_parse.parse(pattern, re.IGNORECASE)))
	except (re.error, RecursionError, OverflowError, ValueError):
		return False


_REPEATS = (_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT, getattr(_sre_parse, "POSSESSIVE_REPEAT", None))


def _has_nested_repeat(items: list) -> bool:
	for op, value in items:
		if op in _REPEATS:
			body = list(value[2])
			if value[1] == _sre_parse.MAXREPEAT and _repeat_alone_in(body):
				return True
			if _has_nested_repeat(body):
				return True
		elif op is _sre_parse.SUBPATTERN and _has_nested_repeat(list(value[-1])):
			return True
		elif op is _sre_parse.BRANCH and any(_has_nested_repeat(list(b)) for b in value[1]):
			return True
	return False


def _repeat_alone_in(body: list) -> bool:
	"""Whether a repetition in ``body`` (or in a group or branch of it) can match ``body`` by itself."""
	for index, (op, value) in enumerate(body):
		if op in _REPEATS and value[1] > 1 and _alone(body, index):
			return True
		if op is _sre_parse.SUBPATTERN and _alone(body, index) and _repeat_alone_in(list(value[-1])):
			return True
		if op is _sre_parse.BRANCH and _alone(body, index) and any(_repeat_alone_in(list(b)) for b in value[1]):
			return True
	return False


def _needs_timer(pattern: str) -> bool:
	"""False only for a pattern whose work per character is small and bounded (see _FEW_PATHS)."""
	try:
		return _paths(list(_sre_parse.parse(pattern, re.IGNORECASE))) > _FEW_PATHS
	except (re.error, RecursionError, OverflowError, ValueError):
		return True


def _paths(items: list) -> float:
	"""How many ways a sequence can be matched from one position; infinite with an unbounded repetition."""
	total = 1.0
	for op, value in items:
		if op is _sre_parse.SUBPATTERN:
			total *= _paths(list(value[-1]))
		elif op is _sre_parse.BRANCH:
			total *= sum(_paths(list(branch)) for branch in value[1])
		elif op in _REPEATS:
			low, high, body = value
			if high == _sre_parse.MAXREPEAT:
				return float("inf")
			each = _paths(list(body))
			# x{2,4}: 2, 3 or 4 times; over _FEW_PATHS choices of a count is too many anyway
			total *= each**low if low == high else sum(each**k for k in range(low, min(high, low + _FEW_PATHS) + 1))
		elif op not in _SINGLE_STEP:
			return float("inf")  # lookarounds, back references, conditionals: keep the timer
		if total > _FEW_PATHS:
			return float("inf")
	return total


_SINGLE_STEP = (_sre_parse.LITERAL, _sre_parse.NOT_LITERAL, _sre_parse.IN, _sre_parse.ANY, _sre_parse.AT)


def _alone(items: list, index: int) -> bool:
	"""Every item of the sequence but ``items[index]`` may match nothing."""
	others = items[:index] + items[index + 1 :]
	return not others or _sre_parse.SubPattern(_sre_parse.State(), others).getwidth()[0] == 0


class CompiledRule:
	__slots__ = ("rule", "_any", "_each", "_tags", "_exclude", "_regex", "_timeout", "timeouts")

	def __init__(self, rule: Rule):
		self.rule = rule
		self._any = _phrase_pattern(rule.keywords)
		self._each = [_phrase_pattern([k]) for k in rule.keywords] if rule.match_all else []
		self._tags = frozenset(rule.hashtags)
		self._exclude = _phrase_pattern(rule.exclude_words)
		try:
			self._regex = compile_regex(rule.regex) if rule.regex else None
		except ValueError as exc:
			raise ValueError(f"rule {rule.name!r}: {exc}") from None
		self._timeout = REGEX_TIMEOUT if rule.regex and _needs_timer(rule.regex) else None
		self.timeouts = 0  # posts on which the regex ran out of time (it did not match them)

	def matches(self, post: PostView, original_text: str) -> bool:
		rule = self.rule
		if rule.channels and post.channel not in rule.channels:
			return False
		if rule.authors_block and post.authors & rule.authors_block:
			return False
		if rule.authors_allow and not post.authors & rule.authors_allow:
			return False
		if rule.languages and (post.language or "")[:2] not in rule.languages:
			return False
		if self._exclude and self._exclude.search(post.folded):
			return False
		if not self._terms_match(post):
			return False
		return not self._regex or self._regex_match(original_text)

	def _regex_match(self, text: str) -> bool:
		try:
			return self._regex.search(text[:REGEX_TEXT_LIMIT], timeout=self._timeout) is not None
		except TimeoutError:
			self.timeouts += 1  # not a match: the post falls through, and the admin is told
			return False

	def _terms_match(self, post: PostView) -> bool:
		if not self._any and not self._tags:
			return True
		if self.rule.match_all:
			return all(p.search(post.folded) for p in self._each) and self._tags <= post.tags
		return bool((self._any and self._any.search(post.folded)) or (self._tags & post.tags))


class RuleSet:
	"""Enabled rules in the order they run: lowest priority number first, then by name for stability."""

	def __init__(self, rules: Iterable[Rule]):
		ordered = sorted(rules, key=lambda r: (r.priority, r.name))
		self.compiled = [CompiledRule(rule) for rule in ordered]

	@classmethod
	def from_records(cls, records: Iterable[Mapping[str, Any]]) -> RuleSet:
		return cls(Rule.from_record(record) for record in records if record.get("enabled", 1))

	@property
	def timeouts(self) -> dict[str, int]:
		"""Rule name -> posts on which its regex ran out of time since this RuleSet was built."""
		return {c.rule.name: c.timeouts for c in self.compiled if c.timeouts}

	def first_match(self, post: PostView, original_text: str) -> Rule | None:
		for compiled in self.compiled:
			if compiled.matches(post, original_text):
				return compiled.rule
		return None

	def __len__(self) -> int:
		return len(self.compiled)
