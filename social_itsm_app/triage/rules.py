"""Listening rules: which posts matter, compiled once and matched in priority order.

A rule matches when every condition it sets holds: its channels, keywords/hashtags (any or all of them),
none of its exclude words, its regular expression, its languages, and its author lists. The first matching
rule (lowest ``priority`` number) decides the action.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from social_itsm_app.triage.normalize import fold, handle_key, lines

QUEUE, CONVERT, IGNORE, SPAM = "Queue for Agent", "Auto-convert to Ticket", "Ignore", "Mark as Spam"
ACTIONS = (QUEUE, CONVERT, IGNORE, SPAM)


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
			match_all=(record.get("match_type") == "All"),
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


class CompiledRule:
	__slots__ = ("rule", "_any", "_each", "_tags", "_exclude", "_regex")

	def __init__(self, rule: Rule):
		self.rule = rule
		self._any = _phrase_pattern(rule.keywords)
		self._each = [_phrase_pattern([k]) for k in rule.keywords] if rule.match_all else []
		self._tags = frozenset(rule.hashtags)
		self._exclude = _phrase_pattern(rule.exclude_words)
		self._regex = re.compile(rule.regex, re.IGNORECASE) if rule.regex else None

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
		return not self._regex or bool(self._regex.search(original_text))

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

	def first_match(self, post: PostView, original_text: str) -> Rule | None:
		for compiled in self.compiled:
			if compiled.matches(post, original_text):
				return compiled.rule
		return None

	def __len__(self) -> int:
		return len(self.compiled)
