"""The triage decision for one post: spam checks, rules, scores."""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

from social_itsm_app import statuses
from social_itsm_app.connectors.base import SocialPost
from social_itsm_app.triage import outages
from social_itsm_app.triage.normalize import URL, fold_text, handle_key, hashtags
from social_itsm_app.triage.rules import IGNORE, QUEUE, SPAM, PostView, RuleSet
from social_itsm_app.triage.scoring import scores

SCAM = re.compile(
	r"\b(free followers|giveaway|airdrop|crypto signals?|dm me for|whats ?app me|investment opportunity|"
	r"double your (money|bitcoin)|onlyfans|link in (my )?bio|promo code|earn \$?\d+ (a|per) (day|week))\b"
)
_MENTION = re.compile(r"@\w[\w.@-]*")
# A short complaint without a link, said by many people at once, is what an outage sounds like ("is outlook down
# for anyone else?"), not a copy-paste flood: the repeated-text check leaves it to the outage detector, which
# counts distinct authors. A copied text that also carries a link, or a longer one, still counts as a flood.
CROWD_REPORT_LENGTH = 140
STATUS_FOR_ACTION = {SPAM: statuses.SPAM, IGNORE: statuses.IGNORED}


@dataclass(slots=True)
class Verdict:
	action: str
	rule: str | None
	sentiment: float
	urgency: float
	spam_reason: str | None = None
	ticket_fields: Mapping[str, Any] = field(default_factory=dict)

	@property
	def status(self) -> str:
		"""Social Post status to store (auto-converted posts are stored New and converted right after)."""
		return STATUS_FOR_ACTION.get(self.action, statuses.NEW)


class SpamGuard:
	"""Remembers the last ``window`` post fingerprints to catch copy-paste floods (bounded memory).

	Fingerprints are kept as 8-byte digests, so the memory can be saved between fetch jobs (``dump`` and
	``load``) and a flood spread over many polls is still caught.
	"""

	DIGEST_SIZE = 8

	def __init__(self, window: int = 5000, repeats: int = 3):
		self.window = window
		self.repeats = repeats
		self._recent: deque[bytes] = deque()
		self._count: Counter[bytes] = Counter()

	def seen_often(self, fingerprint: str) -> bool:
		digest = blake2b(fingerprint.encode(), digest_size=self.DIGEST_SIZE).digest()
		self._remember(digest)
		return self._count[digest] >= self.repeats

	def _remember(self, digest: bytes) -> None:
		self._recent.append(digest)
		self._count[digest] += 1
		if len(self._recent) > self.window:
			old = self._recent.popleft()
			self._count[old] -= 1
			if not self._count[old]:
				del self._count[old]

	def dump(self) -> bytes:
		return b"".join(self._recent)

	@classmethod
	def load(cls, data: bytes | None, window: int = 5000, repeats: int = 3) -> SpamGuard:
		"""A guard that remembers what ``dump`` saved (anything malformed is ignored: it is only a heuristic)."""
		guard = cls(window, repeats)
		size = cls.DIGEST_SIZE
		if isinstance(data, bytes) and len(data) % size == 0:
			for start in range(max(0, len(data) - window * size), len(data), size):
				guard._remember(data[start:start + size])
		return guard


def spam_reason(post: SocialPost, folded: str, guard: SpamGuard | None, tags: frozenset[str] = frozenset()) -> str | None:
	text = post.text
	urls = URL.findall(text) if "://" in text else ()
	if len(urls) >= 3 or (urls and sum(map(len, urls)) > 0.6 * len(text) and len(text) > 40):
		return "link farm"
	if len(tags) >= 8 or (not tags and text.count("#") >= 8 and len(hashtags(text)) >= 8):
		return "hashtag stuffing"
	if SCAM.search(folded):
		return "scam phrase"
	if guard is not None:
		fingerprint = _MENTION.sub("", folded) if "@" in folded else folded
		if "://" in fingerprint:
			fingerprint = URL.sub("", fingerprint)
		fingerprint = fingerprint.strip()
		if len(fingerprint) >= 20 and guard.seen_often(fingerprint) and not crowd_report(text, urls):
			return "repeated text"
	return None


def crowd_report(text: str, urls) -> bool:
	"""A short, link-free outage report (a strong outage phrase, not negated or taken back)."""
	if urls or len(text) > CROWD_REPORT_LENGTH:
		return False
	return any(found.strength == outages.STRONG for found in outages.find(outages.tokens(text)))


def triage(
	post: SocialPost,
	channel: str,
	rules: RuleSet,
	guard: SpamGuard | None = None,
	default_action: str = QUEUE,
) -> Verdict:
	"""Decide what happens to ``post``. Rules that ignore or flag spam win over the spam heuristics;
	otherwise spam heuristics run before rules, so a spammer cannot trigger an auto-convert rule."""
	text = post.text
	folded = fold_text(text)
	tags = hashtags(text, folded)
	authors = frozenset((handle_key(post.author_handle or ""), handle_key(post.author_id or ""))) - {""}
	view = PostView(channel, folded, tags, authors, post.language)
	mood, urgent = scores(text, post.language, lowered=folded)
	rule = rules.first_match(view, post.text)
	if rule is not None and rule.action in (IGNORE, SPAM):
		return Verdict(rule.action, rule.name, mood, urgent, None, rule.ticket_fields)
	reason = spam_reason(post, folded, guard, tags)
	if reason:
		return Verdict(SPAM, None, mood, urgent, reason)
	if rule is not None:
		return Verdict(rule.action, rule.name, mood, urgent, None, rule.ticket_fields)
	return Verdict(default_action, None, mood, urgent)
